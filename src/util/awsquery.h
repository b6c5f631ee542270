/* AWS Query API answers (Amazon EC2 Auto Scaling, and the other services of the "query" protocol):
 * the error document and which errors a retry can fix. Backend-neutral.
 *
 *   <ErrorResponse xmlns="...">
 *     <Error><Type>Sender</Type><Code>ValidationError</Code><Message>...</Message></Error>
 *     <RequestId>...</RequestId>
 *   </ErrorResponse>
 *
 * (EC2's own form, <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/>
 * </Response>, is read as well.) */
#ifndef AS_AWSQUERY_H
#define AS_AWSQUERY_H

#include <stddef.h>

#include "util/err.h"

/* An error answer; strings NUL-terminated, cut at a character boundary when longer. */
struct as_aws_error {
    char type[16]; /* "Sender", "Receiver" or "" */
    char code[64];
    char message[256];
    char request_id[64];
};

/* Reads an error document (strict XML, util/xml.h). Returns 0 when body is one with a Code,
 * else -1 with err. */
int as_aws_error_parse(const char *body, size_t len, struct as_aws_error *e, struct as_err *err);

/* Whether a call that failed with this HTTP status and error code (NULL: none was read) may
 * succeed when retried: 5xx, 408 and 429, and the codes of throttling, of a scaling activity in
 * progress, of contention and of an internal failure, whatever their status. Every other 4xx
 * (ValidationError, AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch, ...) is
 * permanent. */
int as_aws_error_transient(long status, const char *code);

/* Copies the text (len bytes) into dst of size n, cut at a UTF-8 character boundary. */
void as_aws_copy(char *dst, size_t n, const char *text, size_t len);

#endif
