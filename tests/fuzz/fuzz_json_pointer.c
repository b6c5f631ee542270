/* JSON pointers, number and count extraction (numbers only, and with decimal strings): the
 * first line is the pointer, the rest the JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *ptr = malloc(plen + 1);
    if (ptr == NULL)
        return 0;
    memcpy(ptr, data, plen);
    ptr[plen] = '\0';
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - plen - 1 : 0;
    struct as_err err;
    double v;
    as_json_parse_number(body, blen, ptr, &v, &err);
    json_t *doc = as_json_load(body, blen, &err);
    if (doc != NULL) {
        int n;
        as_json_number_at(doc, ptr, AS_JSON_NUMERIC_STRINGS, &v, &err);
        as_json_count_at(doc, ptr, AS_JSON_NUMERIC_STRINGS, &n, &err);
        as_json_count_at(doc, ptr, 0, &n, &err);
        json_decref(doc);
    }
    free(ptr);
    return 0;
}
