/* The shared credentials file reader (util/awscreds.h): the input is the file, read for the
 * profiles "default" and "ci". Invariants: keys that are read are non-empty strings, a session
 * token is absent or non-empty; a failure leaves nothing to free and has a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/awscreds.h"

static void read_profile(const char *text, size_t len, const char *profile)
{
    struct as_awscreds c;
    struct as_err err;
    err.msg[0] = '\0';
    if (as_awscreds_parse(text, len, profile, "credentials", &c, &err) == 0) {
        if (c.access_key_id == NULL || c.access_key_id[0] == '\0' || c.secret_access_key == NULL ||
            c.secret_access_key[0] == '\0' ||
            (c.session_token != NULL && c.session_token[0] == '\0') ||
            memchr(c.source, '\0', sizeof(c.source)) == NULL)
            abort();
        as_awscreds_free(&c);
    } else if (err.msg[0] == '\0' || c.access_key_id != NULL || c.secret_access_key != NULL ||
               c.session_token != NULL) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_profile((const char *)data, size, "default");
    read_profile((const char *)data, size, "ci");
    return 0;
}
