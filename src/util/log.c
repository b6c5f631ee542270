#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum as_log_level as_log_min = AS_INFO;

static FILE *log_file;
static int to_stderr = 1;
static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

int as_log_open(const char *path)
{
    as_log_close();
    if (path == NULL || path[0] == '\0')
        return 0;
    log_file = fopen(path, "a");
    if (log_file == NULL)
        return -1;
    setvbuf(log_file, NULL, _IOLBF, 0);
    return 0;
}

void as_log_close(void)
{
    if (log_file != NULL)
        fclose(log_file);
    log_file = NULL;
}

void as_log_stderr(int on)
{
    to_stderr = on;
}

int as_log_level_parse(const char *s)
{
    static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= AS_OFF; i++)
        if (strcmp(s, lower[i]) == 0)
            return i;
    return -1;
}

/* ---- secrets ----
 * A secret is indexed by its first k bytes, k the largest of 4, 8 and 16 that it has, in one
 * hash table of prefixes (a bucket holds the secrets of one prefix, longest first), behind a
 * bitmap of the secrets' first 4 bytes. A line is scanned once: at each position, one bit test,
 * and only on a hit a probe per prefix length in use, so a line costs about the same with 10 or
 * 100000 secrets (tokens that share their first 4 bytes, "ghp_...", still differ in 8 or 16). */

static const size_t prefix_len[] = {4, 8, 16};

struct secret {
    char *s;
    size_t len;
    struct secret *next; /* same prefix, not longer */
};

struct bucket {
    uint64_t h; /* 0: empty */
    unsigned tier;
    struct secret *head;
};

static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct bucket *b;
    size_t cap, n;    /* buckets: allocated (a power of two, at least 2n), used */
    uint64_t *filter; /* 8 * cap bits, by the first 4 bytes */
    unsigned shift;   /* 64 - log2(8 * cap) */
    size_t count;     /* secrets */
    unsigned tiers;   /* bit t: some secret is indexed by prefix_len[t] bytes */
} reg;

static uint64_t prefix_hash(const char *p, unsigned tier)
{
    uint64_t a = 0, b = tier;
    if (tier == 0) {
        uint32_t v;
        memcpy(&v, p, 4);
        a = v;
    } else {
        memcpy(&a, p, 8);
        if (tier == 2)
            memcpy(&b, p + 8, 8);
    }
    uint64_t h = (a ^ (b * 0xc2b2ae3d27d4eb4fULL)) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h ? h : 1;
}

static size_t filter_bit(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return (size_t)((v * 0x9e3779b97f4a7c15ULL) >> reg.shift);
}

static void filter_set(const char *p)
{
    size_t f = filter_bit(p);
    reg.filter[f / 64] |= 1ULL << (f % 64);
}

/* The bucket of a prefix, or the empty one where it would go. */
static struct bucket *bucket_of(const char *p, unsigned tier, uint64_t h)
{
    size_t mask = reg.cap - 1, i = h & mask;
    while (reg.b[i].h != 0 && (reg.b[i].h != h || reg.b[i].tier != tier ||
                               memcmp(reg.b[i].head->s, p, prefix_len[tier]) != 0))
        i = (i + 1) & mask;
    return &reg.b[i];
}

static int rehash(size_t cap)
{
    struct bucket *old = reg.b;
    size_t old_cap = reg.cap;
    struct bucket *b = calloc(cap, sizeof(*b));
    uint64_t *filter = calloc(cap / 8, sizeof(*filter)); /* 8 * cap bits */
    if (b == NULL || filter == NULL) {
        free(b);
        free(filter);
        return -1;
    }
    free(reg.filter);
    reg.b = b;
    reg.filter = filter;
    reg.cap = cap;
    reg.shift = 64;
    for (size_t bits = cap * 8; bits > 1; bits /= 2)
        reg.shift--;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].h == 0)
            continue;
        *bucket_of(old[i].head->s, old[i].tier, old[i].h) = old[i];
        filter_set(old[i].head->s); /* all of a bucket's secrets share its first 4 bytes */
    }
    free(old);
    return 0;
}

static int add_secret(const char *s, size_t len)
{
    unsigned tier = len >= 16 ? 2 : len >= 8 ? 1 : 0;
    uint64_t h = prefix_hash(s, tier);
    if ((reg.n + 1) * 2 > reg.cap && rehash(reg.cap ? reg.cap * 2 : 64) < 0)
        return -1;
    struct bucket *bk = bucket_of(s, tier, h);
    struct secret **pp = &bk->head;
    for (; *pp != NULL && (*pp)->len >= len; pp = &(*pp)->next)
        if ((*pp)->len == len && memcmp((*pp)->s, s, len) == 0)
            return 0; /* already registered */
    struct secret *sec = malloc(sizeof(*sec));
    char *copy = malloc(len + 1);
    if (sec == NULL || copy == NULL) {
        free(sec);
        free(copy);
        return -1;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    *sec = (struct secret){copy, len, *pp};
    *pp = sec;
    if (bk->h == 0) {
        bk->h = h;
        bk->tier = tier;
        reg.n++;
    }
    filter_set(s);
    reg.tiers |= 1u << tier;
    reg.count++;
    return 0;
}

int as_log_secret(const char *s, size_t len)
{
    if (len < AS_LOG_SECRET_MIN)
        return 0;
    pthread_mutex_lock(&secrets_mu);
    int rc = add_secret(s, len);
    pthread_mutex_unlock(&secrets_mu);
    return rc;
}

void as_log_secrets_clear(void)
{
    pthread_mutex_lock(&secrets_mu);
    for (size_t i = 0; i < reg.cap; i++)
        for (struct secret *s = reg.b[i].head, *next; s != NULL; s = next) {
            next = s->next;
            free(s->s);
            free(s);
        }
    free(reg.b);
    free(reg.filter);
    memset(&reg, 0, sizeof(reg));
    pthread_mutex_unlock(&secrets_mu);
}

size_t as_log_secret_count(void)
{
    pthread_mutex_lock(&secrets_mu);
    size_t n = reg.count;
    pthread_mutex_unlock(&secrets_mu);
    return n;
}

/* Length of the longest secret that starts at p (rem bytes left), or 0. The text may end
 * inside a secret (something cut it short before logging): what is left of it, from its first
 * 4, 8 or 16 bytes on (the prefix it is indexed by), counts as a match to the end. */
static size_t match_at(const char *p, size_t rem)
{
    size_t best = 0, f = rem >= 4 ? filter_bit(p) : 0;
    if (rem < 4 || !(reg.filter[f / 64] & (1ULL << (f % 64))))
        return 0;
    for (unsigned t = 0; t < 3 && prefix_len[t] <= rem; t++) {
        if (!(reg.tiers & (1u << t)))
            continue;
        uint64_t h = prefix_hash(p, t);
        for (const struct secret *s = bucket_of(p, t, h)->head; s != NULL; s = s->next) {
            if (s->len > rem && memcmp(s->s, p, rem) == 0)
                return rem; /* cut short: mask to the end */
            if (s->len <= rem && memcmp(s->s, p, s->len) == 0) {
                best = s->len > best ? s->len : best;
                break; /* the longest of this prefix */
            }
        }
    }
    return best;
}

/* In place: the bytes of s read so far are behind i, and a masked range is at least as long
 * as its "***", so writing at w (<= the range's start) never overtakes reading. */
static size_t mask_locked(char *s, size_t len)
{
    size_t w = 0, end = 0; /* end: of the masked range being read, 0 when none */
    for (size_t i = 0; i < len; i++) {
        size_t m = match_at(s + i, len - i);
        if (end != 0 && i == end && m == 0) { /* a range ends (touching ones go on) */
            memcpy(s + w, "***", 3);
            w += 3;
            end = 0;
        }
        if (m > 0 && i + m > end)
            end = i + m;
        if (end == 0)
            s[w++] = s[i];
    }
    if (end != 0) {
        memcpy(s + w, "***", 3);
        w += 3;
    }
    s[w] = '\0';
    return w;
}

size_t as_log_mask(char *s, size_t len)
{
    pthread_mutex_lock(&secrets_mu);
    size_t n = reg.count ? mask_locked(s, len) : len;
    pthread_mutex_unlock(&secrets_mu);
    s[n] = '\0';
    return n;
}

/* Formats the message into buf (room bytes) with the secrets masked. A message longer than the
 * room is formatted and masked whole first, so the cut never leaves the start of a secret. */
static void format_message(char *buf, size_t room, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int len = vsnprintf(buf, room, fmt, ap);
    char *full = NULL;
    if (len < 0) {
        buf[0] = '\0';
    } else if ((size_t)len < room) {
        as_log_mask(buf, (size_t)len);
    } else if (as_log_secret_count() > 0 && (full = malloc((size_t)len + 1)) != NULL) {
        vsnprintf(full, (size_t)len + 1, fmt, again);
        size_t n = as_log_mask(full, (size_t)len);
        n = n < room ? n : room - 1;
        memcpy(buf, full, n);
        buf[n] = '\0';
        free(full);
    } else {
        as_log_mask(buf, room - 1);
    }
    va_end(again);
}

void as_log_write(enum as_log_level level, const char *fmt, ...)
{
    int saved = errno;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                  names[level]);
    va_list ap;
    va_start(ap, fmt);
    format_message(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (to_stderr)
        fprintf(stderr, "%s\n", line);
    if (log_file != NULL)
        fprintf(log_file, "%s\n", line);
    errno = saved;
}

/* A cut at i that does not split a UTF-8 character: moved back to the character's start. */
static size_t char_start(const char *s, size_t i)
{
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

size_t as_log_shorten(char *text, size_t max)
{
    static const char gap[] = " ... ";
    size_t len = strlen(text);
    if (len <= max || max < 24)
        return len;
    const char *last = NULL;
    for (const char *p = strstr(text, "; "); p != NULL; p = strstr(p + 2, "; "))
        last = p + 2;
    size_t tail = last != NULL ? len - (size_t)(last - text) : 0;
    if (tail == 0 || tail + sizeof(gap) - 2 > max) { /* the end, from a word's start */
        size_t from = char_start(text, len - max * 2 / 5);
        const char *sp = memchr(text + from, ' ', len - from);
        if (sp != NULL && (size_t)(sp - text) < from + max / 10)
            from = (size_t)(sp - text) + 1;
        tail = len - from;
    }
    size_t head =
        max - tail >= sizeof(gap) - 1 ? char_start(text, max - tail - (sizeof(gap) - 1)) : 0;
    for (size_t i = head; i > 0; i--)
        if (text[i] == ' ') { /* between words, and without a separator left dangling */
            head = i;
            while (head > 0 && (text[head - 1] == ';' || text[head - 1] == ','))
                head--;
            break;
        }
    if (head < 4) /* no room for the start: "... " and the end */
        head = 0;
    const char *sep = head > 0 ? gap : gap + 1;
    size_t seplen = strlen(sep);
    memmove(text + head + seplen, text + len - tail, tail + 1);
    memcpy(text + head, sep, seplen);
    return head + seplen + tail;
}

const char *as_log_url(const char *url, char *buf, unsigned len)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *path = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(path - host));
    unsigned o = 0;
    int in_query = 0, masking = 0;
    for (const char *p = url; *p && *p != '#' && o + 4 < len; p++) {
        if (p == host && at != NULL)
            p = at + 1; /* drop user:password@ */
        if (*p == '?' && p >= path)
            in_query = 1;
        if (masking && *p != '&')
            continue;
        masking = 0;
        buf[o++] = *p;
        if (in_query && *p == '=') { /* mask query values: ?token=*** */
            memcpy(buf + o, "***", 3);
            o += 3;
            masking = 1;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* FNV-1a of s with every run of digits taken as one digit ("timeout after 801 ms" and "...800
 * ms" are the same fault), so a fault log keeps 8 bytes however long its line. */
static uint64_t digest_but_numbers(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= '0' && c <= '9') {
            while (s[1] >= '0' && s[1] <= '9')
                s++;
            c = '0';
        }
        h = (h ^ c) * 1099511628211ULL;
    }
    return h;
}

void as_log_fault(struct as_fault_log *f, enum as_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    uint64_t d = digest_but_numbers(line);
    int same = f->active && f->digest == d;
    f->repeats = same ? f->repeats + 1 : 0;
    f->digest = d;
    f->active = 1;
    AS_LOG(same ? AS_DEBUG : level, "%s", line);
}

void as_log_recovered(struct as_fault_log *f, const char *fmt, ...)
{
    if (!f->active)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    AS_LOG(AS_INFO, "%s (after %lu repeat%s of the fault)", line, f->repeats,
           f->repeats == 1 ? "" : "s");
    f->active = 0;
    f->repeats = 0;
}
