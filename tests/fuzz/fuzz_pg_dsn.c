/* The postgresql source's connection string check (sources/postgresql.h): never a crash, and a
 * rejected string's reason never quotes the string's password. The input is the string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/postgresql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *dsn = malloc(size + 1);
    if (dsn == NULL)
        return 0;
    memcpy(dsn, data, size);
    dsn[size] = '\0';
    char why[256], line[64];
    int64_t ms;
    as_pg_check_dsn(dsn, NULL, NULL, &ms, why, sizeof(why));
    as_pg_check_dsn(dsn, "db.example.com", NULL, &ms, why, sizeof(why));
    as_pg_one_line(dsn, line, sizeof(line));
    free(dsn);
    return 0;
}
