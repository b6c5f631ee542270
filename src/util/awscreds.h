/* AWS credentials for the SigV4 signer, found the way the AWS CLI and SDKs find static keys:
 *
 *   1. keys given in the configuration (access key id and secret access key, maybe a session
 *      token, by ${env:...} or ${file:...} reference);
 *   2. else, when the configuration names a profile: that profile of the shared credentials file;
 *   3. else the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   4. else the shared credentials file, profile AWS_PROFILE or "default".
 *
 * The shared credentials file is the configuration's file, else AWS_SHARED_CREDENTIALS_FILE, else
 * $HOME/.aws/credentials: an INI file of [profile] sections with aws_access_key_id,
 * aws_secret_access_key and aws_session_token. Only static keys are read: a profile that gets its
 * keys otherwise (role_arn, credential_process, sso_*, web_identity_token_file) is reported as
 * such, and so are EC2 instance and container credentials (not fetched). */
#ifndef AS_AWSCREDS_H
#define AS_AWSCREDS_H

#include <stddef.h>

#include "util/err.h"

/* Credentials. Strings are owned: as_awscreds_free releases (and wipes) them. */
struct as_awscreds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL: none */
    char source[160];    /* where they came from, for the log: "environment", "profile 'x' of
                            /home/u/.aws/credentials", "configuration" */
};

/* Where to look (every field may be NULL). */
struct as_awscreds_opts {
    const char *access_key_id, *secret_access_key, *session_token; /* from the configuration */
    const char *profile;                                           /* from the configuration */
    const char *file; /* the shared credentials file from the configuration */
};

/* The shared credentials file's size limit. */
#define AS_AWSCREDS_FILE_MAX (64 * 1024)

/* Finds credentials as above into *out (zeroed first). The file is read afresh on every call (a
 * tool that refreshes it is followed), only if it is a regular file of at most
 * AS_AWSCREDS_FILE_MAX bytes. Returns 0, or -1 with err saying what is missing where (never a
 * secret); out holds nothing then. */
int as_awscreds_resolve(const struct as_awscreds_opts *o, struct as_awscreds *out,
                        struct as_err *err);

/* Reads profile's keys from the text of a shared credentials file (len bytes; `file` names it in
 * errors). Returns 0, or -1 with err: a malformed line (with its number), the profile missing,
 * or without static keys. */
int as_awscreds_parse(const char *text, size_t len, const char *profile, const char *file,
                      struct as_awscreds *out, struct as_err *err);

/* Wipes and frees what *c holds; leaves it zeroed. NULL is a no-op. */
void as_awscreds_free(struct as_awscreds *c);

#endif
