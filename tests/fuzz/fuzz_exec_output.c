/* The exec source's output parser (sources/exec.h): the first line is the pointer ("-" for none,
 * the plain-number form), the rest the command's output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *ptr = malloc(plen + 1);
    if (ptr == NULL)
        return 0;
    memcpy(ptr, data, plen);
    ptr[plen] = '\0';
    const char *out = nl ? (const char *)nl + 1 : "";
    size_t olen = nl ? size - plen - 1 : 0;
    char why[256];
    double v;
    if (as_source_exec_parse(out, olen, strcmp(ptr, "-") == 0 ? NULL : ptr, &v, why, sizeof(why)) ==
            0 &&
        !(v >= 0))
        abort(); /* an accepted value is a number >= 0 */
    as_source_exec_parse(out, olen, NULL, &v, why, sizeof(why));
    free(ptr);
    return 0;
}
