/* as_json_scan_numbers against the jansson path it stands for: whenever the scan answers,
 * jansson must accept the document and find the same numbers, bit for bit. Input: two lines
 * with a pointer each, then the JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

/* The next line of [*p, end) as a new string; *p moves past it. */
static char *line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, *p, n);
        s[n] = '\0';
    }
    *p += nl ? n + 1 : n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *a = line(&p, end), *b = line(&p, end);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return 0;
    }
    const char *ptrs[2] = {a, b};
    const char *text = (const char *)p;
    size_t len = (size_t)(end - p);
    for (size_t n = 1; n <= 2; n++) {
        double got[2];
        if (!as_json_scan_numbers(text, len, ptrs, n, got))
            continue;
        struct as_err err;
        json_t *doc = as_json_load(text, len, &err);
        if (doc == NULL)
            abort(); /* the scan read a document jansson refuses */
        for (size_t i = 0; i < n; i++) {
            double want;
            if (as_json_number_at(doc, ptrs[i], AS_JSON_NUMBERS_ONLY, &want, &err) < 0 ||
                memcmp(&want, &got[i], sizeof(want)) != 0)
                abort(); /* another number, or none, where the scan found one */
        }
        json_decref(doc);
    }
    free(a);
    free(b);
    return 0;
}
