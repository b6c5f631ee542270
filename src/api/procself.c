#include "api/procself.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Whole-file read of a /proc file into buf (NUL-terminated). Returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd < 0)
        return -1;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* The next space-separated field of [*p, end) as an unsigned number. */
static int field(const char **p, const char *end, unsigned long long *out, int neg_ok)
{
    const char *s = *p;
    unsigned long long v = 0;
    int neg = 0, digits = 0;
    while (s < end && *s == ' ')
        s++;
    if (neg_ok && s < end && *s == '-') {
        neg = 1;
        s++;
    }
    for (; s < end && *s >= '0' && *s <= '9'; s++, digits++) {
        if (v > (~0ull - 9) / 10)
            return -1;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    if (digits == 0 || (s < end && *s != ' ' && *s != '\n'))
        return -1;
    *p = s;
    *out = neg ? 0 : v;
    return 0;
}

/* A field that is not a number (the state letter): skipped. */
static int skip(const char **p, const char *end)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s == end)
        return -1;
    while (s < end && *s != ' ')
        s++;
    *p = s;
    return 0;
}

int as_procself_parse_stat(const char *text, size_t len, unsigned long long *utime,
                           unsigned long long *stime, unsigned long long *start,
                           unsigned long long *vsize, long long *rss)
{
    const char *end = text + len, *p = NULL;
    for (const char *s = text; s < end; s++) /* the command may hold ')' and spaces */
        if (*s == ')')
            p = s + 1;
    if (p == NULL || skip(&p, end) < 0) /* field 3: the state */
        return -1;
    unsigned long long f[22], r;
    for (int i = 4; i <= 23; i++) /* fields 4..23; 24 is rss */
        if (field(&p, end, &f[i - 4], 1) < 0)
            return -1;
    if (field(&p, end, &r, 1) < 0)
        return -1;
    *utime = f[14 - 4];
    *stime = f[15 - 4];
    *start = f[22 - 4];
    *vsize = f[23 - 4];
    *rss = (long long)r;
    return 0;
}

int as_procself_parse_btime(const char *text, size_t len, unsigned long long *btime)
{
    const char *end = text + len;
    for (const char *s = text; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *eol = nl ? nl : end;
        if (eol - s > 6 && memcmp(s, "btime ", 6) == 0) {
            const char *p = s + 5;
            return field(&p, eol, btime, 0);
        }
        s = nl ? nl + 1 : end;
    }
    return -1;
}

/* /proc/stat's btime, read once (its `intr` line alone can be longer than any fixed buffer). */
static int boot_time(unsigned long long *btime)
{
    static unsigned long long cached;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (cached > 0) {
        *btime = cached;
        return 0;
    }
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -1;
    while ((n = getline(&line, &cap, f)) > 0)
        if (as_procself_parse_btime(line, (size_t)n, &cached) == 0)
            break;
    free(line);
    fclose(f);
    *btime = cached;
    return cached > 0 ? 0 : -1;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

int as_procself_read(struct as_procself *p)
{
    char buf[8192];
    unsigned long long utime, stime, start, vsize, btime;
    long long rss;
    struct rlimit rl;
    ssize_t n = slurp("/proc/self/stat", buf, sizeof(buf));
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (n < 0 || tick <= 0 || page <= 0 ||
        as_procself_parse_stat(buf, (size_t)n, &utime, &stime, &start, &vsize, &rss) < 0)
        return -1;
    if (boot_time(&btime) < 0)
        return -1;
    p->cpu_seconds = (double)(utime + stime) / (double)tick;
    p->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    p->vsize_bytes = vsize;
    p->start_seconds = (double)btime + (double)start / (double)tick;
    p->open_fds = count_fds();
    p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : -1;
    return 0;
}
