/* Source `cpu`: this host's CPU utilization, 0..1 across all cores, from the aggregate line of
 * /proc/stat between the previous measurement's sample and this one's; or, with `stat`, the
 * 1, 5 or 15 minute load average from /proc/loadavg (optionally divided by the online CPUs).
 *
 * The first measurement has no previous sample (nor one after the counters went backwards or
 * stood still): it takes a sample, waits a short window (250 ms, at most half the timeout) on
 * the loop, and takes a second. Each sample is one open, one read of at most 511 bytes (the
 * first line; /proc/stat's per-CPU and interrupt lines are never read) and one close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/plugin.h"
#include "sources/cpu.h"
#include "util/log.h"
#include "util/loop.h"

#define CPU_WINDOW_MS 250
#define CPU_STAT_PATH "/proc/stat"
#define CPU_LOADAVG_PATH "/proc/loadavg"

enum { STAT_UTILIZATION, STAT_LOAD1, STAT_LOAD5, STAT_LOAD15 };

static const char *const stats[] = {"utilization", "load1", "load5", "load15", NULL};

struct cpu_src {
    int stat, per_cpu;
    /* runtime */
    struct as_ctx ctx;
    long ncpu;
    struct as_cpu_sample prev;
    int have_prev;
    struct as_timer *window, *deferred;
    as_measure_cb done;
    void *arg;
    struct as_fault_log fault;
};

static const struct as_opt opts[] = {
    {"stat", AS_OPT_ENUM, offsetof(struct cpu_src, stat), "utilization", AS_NO_BOUNDS, 0, stats,
     "utilization: busy share of all cores (0..1) since the previous measurement, from "
     "/proc/stat; load1, load5, load15: the load average from /proc/loadavg."},
    {"per_cpu", AS_OPT_BOOL, offsetof(struct cpu_src, per_cpu), "false", AS_NO_BOUNDS, 0, NULL,
     "With a load average: divide it by the number of online CPUs (1.0 = every core busy)."},
    AS_OPT_END,
};

/* ---- parsers (cpu.h) ---- */

static int fail_why(char *why, size_t len, const char *msg)
{
    snprintf(why, len, "%s", msg);
    return -1;
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* One run of decimal digits into *v; NULL when there is none or it overflows. */
static const char *parse_ull(const char *p, const char *end, unsigned long long *v)
{
    const char *start = p;
    unsigned long long n = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (~0ull - d) / 10)
            return NULL;
        n = n * 10 + d;
    }
    *v = n;
    return p > start ? p : NULL;
}

int as_cpu_parse_stat(const char *text, size_t len, struct as_cpu_sample *out, char *why,
                      size_t whylen)
{
    const char *p = text, *end = text + len;
    const char *nl = memchr(text, '\n', len);
    if (nl != NULL)
        end = nl;
    if (end - p < 4 || memcmp(p, "cpu", 3) != 0 || (p[3] != ' ' && p[3] != '\t'))
        return fail_why(why, whylen, "the first line of /proc/stat is not the \"cpu\" line");
    p += 3;
    unsigned long long f[8] = {0}; /* user nice system idle iowait irq softirq steal */
    size_t n = 0;
    for (;;) {
        p = skip_blanks(p, end);
        if (p == end)
            break;
        unsigned long long v;
        p = parse_ull(p, end, &v);
        if (p == NULL || (p < end && *p != ' ' && *p != '\t'))
            return fail_why(why, whylen,
                            "/proc/stat: the cpu line holds a field that is not a "
                            "whole number");
        if (n < AS_ARRAY_LEN(f))
            f[n] = v;
        n++; /* guest and guest_nice are counted in user and nice already */
    }
    if (n < 4)
        return fail_why(why, whylen, "/proc/stat: the cpu line has fewer than 4 fields");
    unsigned long long total = 0;
    for (size_t i = 0; i < AS_ARRAY_LEN(f); i++) {
        if (total > ~0ull - f[i])
            return fail_why(why, whylen, "/proc/stat: the cpu line's fields overflow");
        total += f[i];
    }
    out->total = total;
    out->idle = f[3] + f[4]; /* both are part of total: no overflow */
    return 0;
}

int as_cpu_utilization(const struct as_cpu_sample *prev, const struct as_cpu_sample *cur,
                       double *out, char *why, size_t whylen)
{
    if (cur->total < prev->total)
        return fail_why(why, whylen, "the /proc/stat counters went backwards");
    if (cur->total == prev->total)
        return fail_why(why, whylen, "no clock tick passed between the two /proc/stat samples");
    unsigned long long dt = cur->total - prev->total;
    /* iowait may go backwards on a tickless kernel: then no idle time passed */
    unsigned long long didle = cur->idle > prev->idle ? cur->idle - prev->idle : 0;
    double v = didle >= dt ? 0.0 : (double)(dt - didle) / (double)dt;
    *out = v > 1.0 ? 1.0 : v;
    return 0;
}

int as_cpu_parse_loadavg(const char *text, size_t len, int which, double *out, char *why,
                         size_t whylen)
{
    const char *p = text, *end = text + len;
    if (which < 0 || which > 2)
        return fail_why(why, whylen, "no such load average");
    for (int i = 0;; i++) {
        p = skip_blanks(p, end);
        const char *start = p;
        while (p < end && ((*p >= '0' && *p <= '9') || *p == '.'))
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (p < end && *p != ' ' && *p != '\t' && *p != '\n'))
            return fail_why(why, whylen, "/proc/loadavg does not start with three numbers");
        char buf[32];
        size_t dots = 0;
        for (size_t k = 0; k < n; k++)
            dots += start[k] == '.';
        if (n >= sizeof(buf) || start[0] == '.' || start[n - 1] == '.' || dots > 1)
            return fail_why(why, whylen, "/proc/loadavg: a load average is not a decimal number");
        if (i < which)
            continue;
        memcpy(buf, start, n);
        buf[n] = '\0';
        *out = strtod(buf, NULL);
        return 0;
    }
}

/* ---- the source ---- */

/* One read of the start of a /proc file into buf, NUL-terminated. Returns its length or -1 with
 * a reason. */
static ssize_t read_head(const char *path, char *buf, size_t size, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    else
        buf[n] = '\0';
    close(fd);
    return n;
}

static int take_sample(struct as_cpu_sample *out, char *why, size_t whylen)
{
    char buf[512];
    ssize_t n = read_head(CPU_STAT_PATH, buf, sizeof(buf), why, whylen);
    if (n < 0)
        return -1;
    return as_cpu_parse_stat(buf, (size_t)n, out, why, whylen);
}

static void log_result(struct cpu_src *s, const struct as_measurement *m)
{
    if (m->ok)
        as_log_recovered(&s->fault, "source/cpu[%s/%s]: measuring again", s->ctx.group,
                         s->ctx.name);
    else
        as_log_fault(&s->fault, AS_ERROR, "source/cpu[%s/%s]: %s", s->ctx.group, s->ctx.name,
                     m->error);
}

/* From measure(): the answer is delivered on the loop's next iteration. */
static void finish_later(struct cpu_src *s, const struct as_measurement *m)
{
    log_result(s, m);
    if (as_defer_measurement(s->ctx.loop, &s->deferred, s->done, m, s->arg) < 0)
        AS_LOG(AS_ERROR, "source/cpu[%s/%s]: out of memory", s->ctx.group, s->ctx.name);
}

static void measure_load(struct cpu_src *s, struct as_measurement *m)
{
    char buf[128];
    ssize_t n = read_head(CPU_LOADAVG_PATH, buf, sizeof(buf), m->error, sizeof(m->error));
    if (n < 0 || as_cpu_parse_loadavg(buf, (size_t)n, s->stat - STAT_LOAD1, &m->value, m->error,
                                      sizeof(m->error)) < 0)
        return;
    if (s->per_cpu)
        m->value /= (double)s->ncpu;
    m->ok = 1;
}

static int64_t on_window(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct cpu_src *s = arg;
    struct as_measurement m = {.replicas = -1};
    struct as_cpu_sample cur;
    s->window = NULL;
    if (take_sample(&cur, m.error, sizeof(m.error)) == 0 &&
        as_cpu_utilization(&s->prev, &cur, &m.value, m.error, sizeof(m.error)) == 0)
        m.ok = 1;
    if (m.ok)
        s->prev = cur;
    else
        s->have_prev = 0;
    log_result(s, &m);
    as_measure_cb done = s->done;
    s->done = NULL;
    done(&m, s->arg);
    return AS_TIMER_STOP;
}

static void measure(void *state, as_measure_cb done, void *arg)
{
    struct cpu_src *s = state;
    struct as_measurement m = {.replicas = -1};
    struct as_cpu_sample cur;
    s->done = done;
    s->arg = arg;
    if (s->stat != STAT_UTILIZATION) {
        measure_load(s, &m);
        return finish_later(s, &m);
    }
    if (take_sample(&cur, m.error, sizeof(m.error)) < 0) {
        s->have_prev = 0;
        return finish_later(s, &m);
    }
    /* A previous sample with ticks since: the utilization over the time between them. */
    if (s->have_prev && cur.total > s->prev.total) {
        as_cpu_utilization(&s->prev, &cur, &m.value, m.error, sizeof(m.error));
        m.ok = 1;
        s->prev = cur;
        return finish_later(s, &m);
    }
    s->prev = cur;
    s->have_prev = 1;
    int64_t window = s->ctx.timeout_ms / 2 < CPU_WINDOW_MS ? s->ctx.timeout_ms / 2 : CPU_WINDOW_MS;
    s->window = as_loop_add_timer(s->ctx.loop, window, on_window, s);
    if (s->window == NULL) {
        snprintf(m.error, sizeof(m.error), "out of memory");
        finish_later(s, &m);
    }
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct cpu_src *s = state;
    if (!s->per_cpu || s->stat != STAT_UTILIZATION)
        return 0;
    const char *file;
    int line, col;
    as_node_pos(map, "per_cpu", &file, &line, &col);
    return as_err_at(err, file, line, col,
                     "'per_cpu' applies to stat load1, load5 and load15 (utilization is already "
                     "0..1 across all cores)");
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    (void)err;
    struct cpu_src *s = state;
    s->ctx = *ctx;
    s->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (s->ncpu < 1)
        s->ncpu = 1;
    return 0;
}

static void cancel(void *state)
{
    struct cpu_src *s = state;
    as_loop_cancel_timer(s->ctx.loop, s->window);
    s->window = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state)
{
    struct cpu_src *s = state;
    if (s->ctx.loop != NULL)
        cancel(s);
}

const struct as_source_ops as_source_cpu = {
    .name = "cpu",
    .opts = opts,
    .state_size = sizeof(struct cpu_src),
    .summary = "This host's CPU utilization (0..1, all cores) from /proc/stat, or its load "
               "average.",
    .validate = validate,
    .start = start,
    .measure = measure,
    .cancel = cancel,
    .stop = stop,
};
