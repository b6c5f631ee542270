#include "util/util.h"

#include <ctype.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int as_duration_parse(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t total = 0;
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p) {
        size_t span = strspn(p, "0123456789.");
        char num[32];
        if (span == 0 || span >= sizeof(num) || !isdigit((unsigned char)*p))
            return -1;
        memcpy(num, p, span);
        num[span] = '\0';
        char *end;
        double v = strtod(num, &end);
        if (*end != '\0' || !isfinite(v))
            return -1;
        p += span;
        int64_t mult = 1000; /* bare number: seconds, only as the whole string */
        if (*p == '\0') {
            if (total != 0 || p == s)
                return -1;
        } else {
            size_t i;
            for (i = 0; i < AS_ARRAY_LEN(units); i++) {
                size_t n = strlen(units[i].unit);
                if (strncmp(p, units[i].unit, n) == 0 && !isalpha((unsigned char)p[n]))
                    break;
            }
            if (i == AS_ARRAY_LEN(units))
                return -1;
            mult = units[i].ms;
            p += strlen(units[i].unit);
        }
        double ms = v * (double)mult;
        if (ms > 9.0e15 || ms != floor(ms))
            return -1;
        total += (int64_t)ms;
    }
    *out_ms = total;
    return 0;
}

const char *as_duration_fmt(int64_t ms, char *buf, size_t len)
{
    if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, len, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
    return buf;
}

const char *as_duration_words(int64_t ms, char *buf, size_t len)
{
    ms = ms < 0 ? 0 : ms;
    int64_t h = ms / 3600000, m = ms % 3600000 / 60000, rest = ms % 60000;
    size_t o = 0;
    buf[0] = '\0';
    if (ms < 1000) {
        snprintf(buf, len, "%lld ms", (long long)ms);
        return buf;
    }
    if (h > 0)
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%lld h", (long long)h);
    if (m > 0 && o < len)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld min", o ? " " : "", (long long)m);
    if (rest > 0 && o < len)
        snprintf(buf + o, len - o, "%s%g s", o ? " " : "", (double)rest / 1000.0);
    return buf;
}

int as_parse_long(const char *s, long *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int as_parse_double(const char *s, double *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t as_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t as_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

uint64_t as_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

char *as_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int as_sb_append(struct as_sb *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 64;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *nb = realloc(sb->buf, cap);
        if (nb == NULL)
            return -1;
        sb->buf = nb;
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return 0;
}

int as_sb_puts(struct as_sb *sb, const char *s)
{
    return as_sb_append(sb, s, strlen(s));
}

int as_sb_printf(struct as_sb *sb, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return as_sb_append(sb, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = as_sb_append(sb, big, (size_t)n);
    free(big);
    return rc;
}

void as_sb_free(struct as_sb *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

char *as_template(const char *tmpl, const char *const *keys, const char *const *values, size_t n)
{
    struct as_sb sb = {0};
    const char *p = tmpl;
    int rc = 0;
    while (rc == 0 && *p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (close == NULL) {
            rc = as_sb_puts(&sb, p);
            break;
        }
        rc = as_sb_append(&sb, p, (size_t)(open - p));
        size_t klen = (size_t)(close - open - 2);
        size_t i;
        for (i = 0; i < n; i++)
            if (strlen(keys[i]) == klen && strncmp(open + 2, keys[i], klen) == 0)
                break;
        if (rc == 0)
            rc = i < n ? as_sb_puts(&sb, values[i])
                       : as_sb_append(&sb, open, (size_t)(close + 2 - open));
        p = close + 2;
    }
    if (rc == 0 && sb.buf == NULL)
        rc = as_sb_append(&sb, "", 0);
    if (rc != 0) {
        as_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

const char *as_printable(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '.' : (char)c;
    }
    buf[o] = '\0';
    return buf;
}

void as_thread_background(int inc)
{
    /* On Linux the nice value is per thread: PRIO_PROCESS with a thread id sets that thread's. */
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        setpriority(PRIO_PROCESS, tid, prio + inc > 19 ? 19 : prio + inc);
}

void as_strv_free(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

int as_env_name_ok(const char *s, size_t n)
{
    if (n == 0 || isdigit((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return 0;
    return strncmp(s, "AUTOSCALER_", 11) != 0;
}

int as_has_control(const char *s)
{
    for (; s != NULL && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

const char *as_age_fmt(int64_t ms, char *buf, size_t len)
{
    long long s = ms > 0 ? ms / 1000 : 0;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

void as_map_large_blocks(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

void as_release_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
