/* AWS Query API error answers (see awsquery.h). */
#include <string.h>

#include "util/awsquery.h"
#include "util/xml.h"

void as_aws_copy(char *dst, size_t n, const char *text, size_t len)
{
    if (n == 0)
        return;
    if (len >= n) {
        len = n - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--; /* text[len] would start the cut character: drop it whole */
    }
    memcpy(dst, text, len);
    dst[len] = '\0';
}

struct error_doc {
    struct as_aws_error *e;
    int root_ok, has_code;
};

static int on_error_event(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                          size_t len, void *arg, struct as_err *err)
{
    struct error_doc *d = arg;
    if (ev == AS_XML_OPEN && path->depth == 1) {
        d->root_ok =
            strcmp(path->name[0], "ErrorResponse") == 0 || strcmp(path->name[0], "Response") == 0;
        if (!d->root_ok)
            return as_err_set(err, "not an AWS error document (root <%.64s>)", path->name[0]);
    }
    if (ev != AS_XML_CLOSE || text == NULL)
        return 0;
    struct as_aws_error *e = d->e;
    if (as_xml_path_is(path, "ErrorResponse/Error/Code") ||
        as_xml_path_is(path, "Response/Errors/Error/Code")) {
        as_aws_copy(e->code, sizeof(e->code), text, len);
        d->has_code = len > 0;
    } else if (as_xml_path_is(path, "ErrorResponse/Error/Message") ||
               as_xml_path_is(path, "Response/Errors/Error/Message")) {
        as_aws_copy(e->message, sizeof(e->message), text, len);
    } else if (as_xml_path_is(path, "ErrorResponse/Error/Type")) {
        as_aws_copy(e->type, sizeof(e->type), text, len);
    } else if (as_xml_path_is(path, "ErrorResponse/RequestId") ||
               as_xml_path_is(path, "Response/RequestID")) {
        as_aws_copy(e->request_id, sizeof(e->request_id), text, len);
    }
    return 0;
}

int as_aws_error_parse(const char *body, size_t len, struct as_aws_error *e, struct as_err *err)
{
    struct error_doc d = {.e = e};
    memset(e, 0, sizeof(*e));
    if (as_xml_parse(body, len, on_error_event, &d, err) < 0)
        return -1;
    if (!d.has_code)
        return as_err_set(err, "an AWS error document without a Code");
    return 0;
}

int as_aws_error_transient(long status, const char *code)
{
    static const char *const retryable[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ScalingActivityInProgress",
        "ResourceContention",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "IDPCommunicationError",
    };
    if (status >= 500 || status == 408 || status == 429)
        return 1;
    for (size_t i = 0; code && i < sizeof(retryable) / sizeof(retryable[0]); i++)
        if (strcmp(code, retryable[i]) == 0)
            return 1;
    return 0;
}
