/* The configuration loader on arbitrary bytes: errors, never crashes or leaks. The document
 * parser also gets the raw bytes with their length (NUL bytes included), and the loader the
 * text up to the first NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct as_err err;
    as_err_clear(&err);
    as_doc_free(as_doc_parse("fuzz.yaml", text, size, &err));
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("fuzz.yaml", text, &err);
    as_config_unref(cfg);
    as_log_secrets_clear(); /* references register their values */
    free(text);
    return 0;
}
