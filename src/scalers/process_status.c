/* The process pool's status lines and its scale-down order: see process_status.h. */
#include "scalers/process_status.h"

#include <stdlib.h>
#include <string.h>

const char *as_wstate_name(enum as_wstate s)
{
    return s == AS_WSTATE_BUSY ? "BUSY" : s == AS_WSTATE_FREE ? "FREE" : "unknown";
}

int as_status_parse(const char *line, size_t len, struct as_status_line *out)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    *out = (struct as_status_line){.state = AS_WSTATE_UNKNOWN};
    if (len == 4 && memcmp(line, "FREE", 4) == 0) {
        out->state = AS_WSTATE_FREE;
        return 0;
    }
    if (len < 4 || memcmp(line, "BUSY", 4) != 0 || (len > 4 && line[4] != ' '))
        return -1;
    /* BUSY whatever follows: taking a busy worker for a free one is the mistake that loses
     * work, so a task id that does not fit is cut and its odd bytes replaced, never refused. */
    size_t n = len > 5 ? len - 5 : 0;
    if (n > AS_STATUS_TASK_MAX - 1)
        n = AS_STATUS_TASK_MAX - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[5 + i];
        out->task[i] = c < 0x20 || c > 0x7e ? '?' : (char)c;
    }
    out->task[n] = '\0';
    out->state = AS_WSTATE_BUSY;
    return 0;
}

/* An overlong line is judged by its first bytes: a BUSY one is BUSY, anything else garbage. */
static void end_line(struct as_status_reader *r, as_status_fn fn, void *arg)
{
    struct as_status_line parsed;
    if (as_status_parse(r->buf, r->len, &parsed) == 0)
        fn(&parsed, r->buf, r->len, arg);
    else
        fn(NULL, r->buf, r->len, arg);
    r->len = 0;
    r->overlong = 0;
}

void as_status_feed(struct as_status_reader *r, const char *data, size_t n, as_status_fn fn,
                    void *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            end_line(r, fn, arg);
        } else if (r->len < AS_STATUS_LINE_MAX + 1) {
            r->buf[r->len++] = data[i]; /* one byte over the limit: room for a '\r' */
        } else {
            r->overlong = 1; /* the first bytes are kept for the log */
        }
    }
}

/* 0: no process, 1: not BUSY, 2: BUSY. */
static int rank(const struct as_release_cand *c)
{
    return !c->running ? 0 : c->state == AS_WSTATE_BUSY ? 2 : 1;
}

static int by_release_order(const void *pa, const void *pb)
{
    const struct as_release_cand *a = pa, *b = pb;
    int ra = rank(a), rb = rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 1 && a->idle_ms != b->idle_ms)
        return a->idle_ms > b->idle_ms ? -1 : 1; /* the longest idle first */
    if (ra == 2 && a->busy_ms != b->busy_ms)
        return a->busy_ms < b->busy_ms ? -1 : 1; /* the least work lost first */
    return a->slot > b->slot ? -1 : a->slot < b->slot;
}

void as_release_order(struct as_release_cand *c, size_t n)
{
    if (n > 1)
        qsort(c, n, sizeof(*c), by_release_order);
}
