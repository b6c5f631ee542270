/* The status API's request parsers (src/api/route.c) and the other texts it reads: the first
 * line is "METHOD PATH", the next lines "key=value" query parameters up to an empty line, the
 * rest the body of an override; the whole input is also read as /proc/self/stat, /proc/stat
 * and an http.listen address. Each answers or refuses with a reason, never a crash, a leak or
 * a value out of its range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/procself.h"
#include "api/route.h"
#include "config/server_cfg.h"

static void check_route(const char *line)
{
    char method[16] = "";
    const char *sp = strchr(line, ' ');
    size_t n = sp ? (size_t)(sp - line) : 0;
    if (sp == NULL || n >= sizeof(method))
        return;
    memcpy(method, line, n);
    method[n] = '\0';
    struct as_route r;
    int code = as_route_parse(method, sp + 1, &r);
    if (code != 200 && code != 400 && code != 404 && code != 405)
        abort();
    if (code == 200 && r.kind == AS_R_NONE)
        abort();
    if (r.group[0] != '\0' && !as_route_name_ok(r.group, strlen(r.group)))
        abort();
    char allow[40];
    as_route_allow(r.methods, allow, sizeof(allow));
}

static void check_param(struct as_query *q, const char *line)
{
    char key[256];
    const char *eq = strchr(line, '=');
    size_t n = eq ? (size_t)(eq - line) : strlen(line);
    if (n >= sizeof(key))
        return;
    memcpy(key, line, n);
    key[n] = '\0';
    struct as_err err;
    as_err_clear(&err);
    unsigned before = q->given;
    if (as_query_set(q, AS_Q_LIMIT | AS_Q_SINCE | AS_Q_METRIC, key, eq ? eq + 1 : NULL, &err) < 0) {
        if (err.msg[0] == '\0')
            abort();
        return;
    }
    if (q->given == before || (q->given & AS_Q_LIMIT && (q->limit < 1 || q->limit > 100000)) ||
        q->since < 0 || (q->given & AS_Q_METRIC && !as_route_name_ok(q->metric, strlen(q->metric))))
        abort();
}

static void check_others(const uint8_t *data, size_t size, const char *text)
{
    unsigned long long a, b, c, d, bt;
    long long rss;
    as_procself_parse_stat((const char *)data, size, &a, &b, &c, &d, &rss);
    as_procself_parse_btime((const char *)data, size, &bt);
    struct sockaddr_storage addr;
    socklen_t len;
    int loopback;
    struct as_err err;
    as_err_clear(&err);
    if (strlen(text) < 200 && as_listen_parse(text, &addr, &len, &loopback, &err) < 0 &&
        err.msg[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_others(data, size, text);
    char *line = text, *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    check_route(line);
    struct as_query q = {0};
    while (nl != NULL) {
        line = nl + 1;
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line == '\0')
            break;
        check_param(&q, line);
    }
    if (nl != NULL) {
        const char *body = nl + 1;
        size_t blen = size - (size_t)(body - text);
        int replicas = -7;
        struct as_err err;
        as_err_clear(&err);
        int rc = as_override_parse(body, blen, &replicas, &err);
        if ((rc == 0 && (replicas < -1 || replicas > 1000000)) || (rc < 0 && err.msg[0] == '\0'))
            abort();
    }
    free(text);
    return 0;
}
