/* The redis source's parsers: an input that starts with 'U' is a URL (the rest); anything else
 * is bytes from a server, read by the daemon's guarded reader (util/redis_loop.h) and every
 * reply interpreted as each kind of answer the source expects. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "sources/redis_proto.h"
#include "util/redis_loop.h"

static void url(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    struct as_redis_url u;
    struct as_err err;
    as_redis_url_parse(s, &u, &err);
    as_redis_url_free(&u);
    free(s);
}

static void interpret(const redisReply *r)
{
    char why[200], d[128];
    long long n;
    enum as_redis_kind k;
    struct as_redis_group_info g;
    as_redis_describe(r, d, sizeof(d));
    as_redis_reply_count(r, &n, why, sizeof(why));
    as_redis_reply_type(r, &k, why, sizeof(why));
    as_redis_reply_ok(r, why, sizeof(why));
    as_redis_xinfo_group(r, "a", &g, why, sizeof(why));
    as_redis_xinfo_group(r, "", &g, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == 'U') {
        url(data + 1, size - 1);
        return 0;
    }
    redisReader *rd = as_redis_reader_new();
    if (rd == NULL)
        return 0;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        void *reply;
        while (redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
            interpret(reply);
            freeReplyObject(reply);
        }
    }
    as_redis_reader_free(rd);
    return 0;
}
