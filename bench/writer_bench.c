/* The loop thread's cost of saving a state file: written on the loop (temporary file, write,
 * rename: what the engine did) vs handed to the writer thread (src/util/writer.c), side by
 * side in one run; the writer's own throughput; and the lateness of 1 s group ticks when
 * every tick saves. Built and run by bench/writer.py; see bench/README.md. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/writer.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "writer_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A state-file-like text of exactly size bytes. Caller frees. */
static char *state_text(int group, int round, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        die("malloc");
    int n = snprintf(s, size + 1, "{\"group\":\"g%05d\",\"round\":%d,\"recs\":[", group, round);
    while ((size_t)n + 8 < size)
        n += snprintf(s + n, size + 1 - (size_t)n, "%d,", (n * 7 + round) % 1000);
    while ((size_t)n < size - 3)
        s[n++] = ' ';
    memcpy(s + n, "0]}", 3);
    s[size - 1] = '\n';
    return s;
}

static void file_path(char *buf, size_t len, const char *dir, int i)
{
    snprintf(buf, len, "%s/g%05d.json", dir, i);
}

/* The synchronous save the engine did on the loop (core/state.c before the writer). */
static void save_sync(const char *path, const char *data, size_t len, int durable, const char *dir)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || (durable && fsync(fd) < 0) ||
        close(fd) < 0 || rename(tmp, path) < 0)
        die(path);
    if (durable) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0 || close(dfd) < 0)
            die(dir);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct stats {
    double mean_us, p50_us, p99_us, max_us, total_ms;
};

static struct stats summarize(int64_t *ns, int n)
{
    int64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += ns[i];
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    return (struct stats){sum / 1e3 / n, ns[n / 2] / 1e3, ns[(n * 99) / 100] / 1e3, ns[n - 1] / 1e3,
                          sum / 1e6};
}

/* Context switches of the calling thread: voluntary (it waited: a lock, a disk) and not
 * (preempted: the machine is busy). */
static void switches(long *vol, long *invol)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    *vol = ru.ru_nvcsw;
    *invol = ru.ru_nivcsw;
}

static long put_vol, put_invol; /* during the timed puts, summed */

static int completions;

static void on_done(int ok, const char *error, void *arg)
{
    (void)arg;
    if (!ok) {
        fprintf(stderr, "writer_bench: write failed: %s\n", error);
        exit(1);
    }
    completions++;
}

/* One pass through the writer: per-put times into put_ns; returns the delivery time (all
 * completions at once, on the loop) in ns, and the thread's time to write them in *write_ns. */
static int64_t pass_writer(struct as_loop *loop, struct as_writer *w, const char *dir, int n,
                           size_t size, int durable, int round, int64_t *put_ns, int64_t *write_ns)
{
    char path[4200];
    completions = 0;
    int64_t start = now_ns();
    for (int i = 0; i < n; i++) {
        char *text = state_text(i, round, size); /* made in both modes: not timed */
        file_path(path, sizeof(path), dir, i);
        long v0, i0, v1, i1;
        switches(&v0, &i0);
        int64_t t0 = now_ns();
        if (as_writer_put(w, path, text, size, durable, on_done, NULL) == 0)
            die("as_writer_put");
        put_ns[i] = now_ns() - t0;
        switches(&v1, &i1);
        put_vol += v1 - v0;
        put_invol += i1 - i0;
    }
    while (as_writer_pending(w) > 0)
        usleep(200);
    *write_ns = now_ns() - start;
    int64_t t0 = now_ns();
    as_loop_once(loop, 0); /* the eventfd is ready: every completion is delivered here */
    int64_t deliver = now_ns() - t0;
    if (completions != n) {
        fprintf(stderr, "writer_bench: %d of %d completions delivered\n", completions, n);
        exit(1);
    }
    return deliver;
}

static int64_t durable_done_ns;

static void on_durable(int ok, const char *error, void *arg)
{
    on_done(ok, error, arg);
    durable_done_ns = now_ns();
}

/* n non-durable writes queued, then one durable: the time from its put to its callback on the
 * loop (it goes ahead of the queued ones: it waits for the write in progress only). */
static int64_t durable_behind(struct as_loop *loop, struct as_writer *w, const char *dir, int n,
                              size_t size, int round)
{
    char path[4200];
    for (int i = 0; i < n; i++) {
        file_path(path, sizeof(path), dir, i);
        if (as_writer_put(w, path, state_text(i, round, size), size, 0, NULL, NULL) == 0)
            die("as_writer_put");
    }
    snprintf(path, sizeof(path), "%s/intent.json", dir);
    durable_done_ns = 0;
    int64_t t0 = now_ns();
    if (as_writer_put(w, path, state_text(n, round, size), size, 1, on_durable, NULL) == 0)
        die("as_writer_put");
    while (durable_done_ns == 0)
        as_loop_once(loop, 100);
    int64_t latency = durable_done_ns - t0;
    as_writer_flush(w);
    return latency;
}

static void pass_sync(const char *dir, int n, size_t size, int durable, int round, int64_t *ns)
{
    char path[4200];
    for (int i = 0; i < n; i++) {
        char *text = state_text(i, round, size);
        file_path(path, sizeof(path), dir, i);
        int64_t t0 = now_ns();
        save_sync(path, text, size, durable, dir);
        ns[i] = now_ns() - t0;
        free(text);
    }
}

static void print_row(const char *name, struct stats s, double per_save_us)
{
    printf("%-28s %9.1f %9.1f %9.1f %10.1f %10.1f %12.2f\n", name, s.mean_us, s.p50_us, s.p99_us,
           s.max_us, s.total_ms, per_save_us);
}

/* cost DIR N SIZE NDURABLE ROUNDS */
static int cost(char **argv)
{
    const char *dir = argv[0];
    int n = atoi(argv[1]), nd = atoi(argv[3]), rounds = atoi(argv[4]);
    size_t size = (size_t)atol(argv[2]);
    int total = n * rounds, total_d = nd * rounds;
    int64_t *sync_ns = calloc((size_t)total, sizeof(int64_t));
    int64_t *put_ns = calloc((size_t)total, sizeof(int64_t));
    int64_t *dsync_ns = calloc((size_t)total_d, sizeof(int64_t));
    int64_t *dput_ns = calloc((size_t)total_d, sizeof(int64_t));
    struct as_loop *loop = as_loop_new();
    struct as_writer *w = loop ? as_writer_new(loop) : NULL;
    if (!sync_ns || !put_ns || !dsync_ns || !dput_ns || !w)
        die("setup");
    int64_t deliver = 0, written = 0, ddeliver = 0, dwritten = 0, wns;
    pass_sync(dir, n, size, 0, -1, sync_ns); /* the files exist from here on */
    for (int r = 0; r < rounds; r++) {       /* alternating: both modes see the same disk */
        pass_sync(dir, n, size, 0, r, sync_ns + r * n);
        deliver += pass_writer(loop, w, dir, n, size, 0, r, put_ns + r * n, &wns);
        written += wns;
        pass_sync(dir, nd, size, 1, r, dsync_ns + r * nd);
        ddeliver += pass_writer(loop, w, dir, nd, size, 1, r, dput_ns + r * nd, &wns);
        dwritten += wns;
    }
    int64_t behind[64];
    int nbehind = rounds < 64 ? rounds : 64;
    for (int r = 0; r < nbehind; r++)
        behind[r] = durable_behind(loop, w, dir, n, size, r);
    struct stats b = summarize(behind, nbehind);
    struct stats s = summarize(sync_ns, total), p = summarize(put_ns, total);
    struct stats ds = summarize(dsync_ns, total_d), dp = summarize(dput_ns, total_d);
    double deliver_us = deliver / 1e3 / total, ddeliver_us = ddeliver / 1e3 / total_d;
    printf("%d files of %zu bytes x %d rounds (durable: %d files x %d rounds), in %s\n", n, size,
           rounds, nd, rounds, dir);
    printf("loop-thread time per save, us:\n");
    printf("%-28s %9s %9s %9s %10s %10s %12s\n", "", "mean", "p50", "p99", "max", "total ms",
           "loop us/save");
    print_row("sync temp+rename", s, s.mean_us);
    print_row("writer put", p, p.mean_us + deliver_us);
    printf("%-28s %9.2f %52s\n", "  + delivery per completion", deliver_us, "");
    print_row("sync durable (2x fsync)", ds, ds.mean_us);
    print_row("writer put durable", dp, dp.mean_us + ddeliver_us);
    printf("%-28s %9.2f %52s\n", "  + delivery per completion", ddeliver_us, "");
    printf("ratio sync/writer (loop time per save): %.0fx mean, %.0fx max; durable: %.0fx "
           "mean, %.0fx max\n",
           s.mean_us / (p.mean_us + deliver_us), s.max_us / p.max_us,
           ds.mean_us / (dp.mean_us + ddeliver_us), ds.max_us / dp.max_us);
    printf("writer thread throughput: %.0f writes/s (%.1f us each); durable: %.0f writes/s "
           "(%.2f ms each)\n",
           total / (written / 1e9), written / 1e3 / total, total_d / (dwritten / 1e9),
           dwritten / 1e6 / total_d);
    printf("the loop thread during its %d puts: waited %ld times (voluntary context switches: "
           "the lock, I/O), was preempted %ld times\n",
           total + total_d, put_vol, put_invol);
    printf("a durable write put behind %d queued non-durable ones: done (callback on the loop) "
           "after %.1f ms median, %.1f ms max (%d runs)\n",
           n, b.p50_us / 1e3, b.max_us / 1e3, nbehind);
    as_writer_free(w);
    as_loop_free(loop);
    free(sync_ns);
    free(put_ns);
    free(dsync_ns);
    free(dput_ns);
    return 0;
}

/* ---- lag: N groups ticking every interval, each tick saves ---- */

struct group {
    int index;
    int64_t due, last, max_gap;
    int missed;
};

static struct lag {
    const char *dir;
    struct as_writer *w; /* NULL: save synchronously */
    size_t size;
    int64_t interval, end, max_late;
    int64_t *late; /* every tick's lateness, ms */
    size_t nlate, caplate;
} lag;

static int64_t tick(struct as_loop *loop, void *arg)
{
    struct group *g = arg;
    int64_t now = as_loop_now(loop), late = now - g->due;
    if (lag.nlate < lag.caplate)
        lag.late[lag.nlate++] = late;
    if (g->last > 0 && now - g->last > g->max_gap)
        g->max_gap = now - g->last;
    if (late >= lag.interval)
        g->missed++;
    g->last = now;
    char path[4200];
    file_path(path, sizeof(path), lag.dir, g->index);
    char *text = state_text(g->index, (int)(now & 0xffff), lag.size);
    if (lag.w == NULL) {
        save_sync(path, text, lag.size, 0, lag.dir);
        free(text);
    } else if (as_writer_put(lag.w, path, text, lag.size, 0, NULL, NULL) == 0) {
        die("as_writer_put");
    }
    while (g->due <= now) /* a late group skips the ticks it missed, as the engine does */
        g->due += lag.interval;
    if (now >= lag.end)
        return AS_TIMER_STOP;
    return g->due - now;
}

/* lag DIR MODE(sync|writer) N SECONDS INTERVAL_MS SIZE */
static int lag_run(char **argv)
{
    int n = atoi(argv[2]), seconds = atoi(argv[3]);
    int use_writer = strcmp(argv[1], "writer") == 0;
    lag.dir = argv[0];
    lag.interval = atoi(argv[4]);
    lag.size = (size_t)atol(argv[5]);
    lag.caplate = (size_t)n * (size_t)(seconds * 1000 / lag.interval + 2);
    lag.late = calloc(lag.caplate, sizeof(int64_t));
    struct group *groups = calloc((size_t)n, sizeof(*groups));
    struct as_loop *loop = as_loop_new();
    if (!lag.late || !groups || !loop)
        die("setup");
    lag.w = use_writer ? as_writer_new(loop) : NULL;
    if (use_writer && lag.w == NULL)
        die("as_writer_new");
    as_loop_once(loop, 0);
    int64_t start = as_loop_now(loop);
    lag.end = start + seconds * 1000;
    for (int i = 0; i < n; i++) { /* spread evenly over one interval */
        groups[i] = (struct group){.index = i, .due = start + lag.interval * i / n};
        if (as_loop_add_timer(loop, groups[i].due - start, tick, &groups[i]) == NULL)
            die("as_loop_add_timer");
    }
    while (as_loop_now(loop) < lag.end + lag.interval)
        as_loop_once(loop, 100);
    as_writer_free(lag.w);
    int missed_groups = 0;
    int64_t max_gap = 0;
    for (int i = 0; i < n; i++) {
        missed_groups += groups[i].missed > 0;
        if (groups[i].max_gap > max_gap)
            max_gap = groups[i].max_gap;
    }
    qsort(lag.late, lag.nlate, sizeof(int64_t), cmp_i64);
    printf("%-7s %7d %8zu %9lld %9lld %9lld %14d %10lld\n", argv[1], n, lag.nlate,
           (long long)lag.late[lag.nlate / 2], (long long)lag.late[lag.nlate * 99 / 100],
           (long long)lag.late[lag.nlate - 1], missed_groups, (long long)max_gap);
    as_loop_free(loop);
    free(groups);
    free(lag.late);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "cost") == 0)
        return cost(argv + 2);
    if (argc == 8 && strcmp(argv[1], "lag") == 0)
        return lag_run(argv + 2);
    fprintf(stderr, "usage: writer_bench cost DIR N SIZE NDURABLE ROUNDS\n"
                    "       writer_bench lag DIR sync|writer N SECONDS INTERVAL_MS SIZE\n");
    return 2;
}
