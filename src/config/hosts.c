#include "config/hosts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/suggest.h"

static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why != NULL && len > 0)
        vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- hosts and ports ---- */

static int check_ipv6(const char *s, size_t n, char *canon, char *why, size_t why_len)
{
    char buf[64];
    struct in6_addr a;
    if (n >= sizeof(buf))
        return fail(why, why_len, "an IPv6 address is at most 45 characters");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, &a) != 1)
        return fail(why, why_len, "not an IPv6 address (no zone, no prefix length)");
    if (inet_ntop(AF_INET6, &a, canon, AS_HOST_MAX) == NULL)
        return fail(why, why_len, "not an IPv6 address");
    return 0;
}

static int label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

static int check_name(const char *s, size_t n, char *canon, char *why, size_t why_len)
{
    if (n > 253)
        return fail(why, why_len, "a host name is at most 253 characters");
    size_t start = 0, digits_only = 1;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (!label_ok(s + start, i - start))
            return fail(why, why_len,
                        "not a host name or IP address: each dot-separated part must be 1 to 63 "
                        "letters, digits or '-', not starting or ending with '-'");
        digits_only = strspn(s + start, "0123456789") >= i - start;
        start = i + 1;
    }
    if (digits_only)
        return fail(why, why_len,
                    "not a host name (its last part is a number) nor an IPv4 address");
    for (size_t i = 0; i < n; i++)
        canon[i] = (char)tolower((unsigned char)s[i]);
    canon[n] = '\0';
    return 0;
}

int as_host_check(const char *host, char *canon, char *why, size_t why_len)
{
    size_t n = strlen(host);
    struct in_addr v4;
    if (n == 0)
        return fail(why, why_len, "the host is empty");
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']')
            return fail(why, why_len, "a bracketed host must be an IPv6 address: [ADDRESS]");
        return check_ipv6(host + 1, n - 2, canon, why, why_len);
    }
    if (strchr(host, ':') != NULL)
        return check_ipv6(host, n, canon, why, why_len);
    if (n < 16 && inet_pton(AF_INET, host, &v4) == 1) {
        memcpy(canon, host, n + 1);
        return 0;
    }
    return check_name(host, n, canon, why, why_len);
}

int as_port_check(const char *s, int *port, char *why, size_t why_len)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n || s[0] == '0')
        return fail(why, why_len, "a port is a number from 1 to 65535 (digits only)");
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > 65535)
        return fail(why, why_len, "a port is a number from 1 to 65535");
    *port = (int)v;
    return 0;
}

void as_host_server_name(const char *host, int port, char *out, size_t len)
{
    size_t i = 0;
    for (; host[i] != '\0' && i + 1 < len; i++)
        out[i] = host[i] == ':' ? '_' : host[i];
    snprintf(out + i, len - i, "_%d", port);
}

void as_host_address(const char *host, int port, char *out, size_t len)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, len, "[%s]:%d", host, port);
    else
        snprintf(out, len, "%s:%d", host, port);
}

static int set_host_port(struct as_host_entry *e, const char *host, const char *port, char *why,
                         size_t why_len)
{
    char canon[AS_HOST_MAX], w[160];
    int p = 0;
    if (as_host_check(host, canon, w, sizeof(w)) < 0)
        return fail(why, why_len, "host: %s", w);
    if (as_port_check(port, &p, w, sizeof(w)) < 0)
        return fail(why, why_len, "port: %s", w);
    snprintf(e->host, sizeof(e->host), "%s", canon);
    e->port = p;
    as_host_server_name(e->host, e->port, e->name, sizeof(e->name));
    return 0;
}

int as_host_parse_pair(const char *text, struct as_host_entry *e, char *why, size_t why_len)
{
    char host[AS_HOST_MAX + 2];
    const char *colon = strrchr(text, ':');
    if (colon == NULL)
        return fail(why, why_len, "expected HOST:PORT");
    size_t n = (size_t)(colon - text);
    if (text[0] != '[' && memchr(text, ':', n) != NULL)
        return fail(why, why_len, "expected HOST:PORT (an IPv6 address in brackets: [ADDR]:PORT)");
    if (text[0] == '[' && (n < 2 || text[n - 1] != ']'))
        return fail(why, why_len, "expected [IPV6]:PORT");
    if (n >= sizeof(host))
        return fail(why, why_len, "the host is too long");
    memcpy(host, text, n);
    host[n] = '\0';
    return set_host_port(e, host, colon + 1, why, why_len);
}

int as_host_entry_init(struct as_host_entry *e, const char *host, const char *port, int weight,
                       int origin, char *why, size_t why_len)
{
    memset(e, 0, sizeof(*e));
    if (weight < 0 || weight > AS_HOST_WEIGHT_MAX)
        return fail(why, why_len, "weight: a number from 0 to %d", AS_HOST_WEIGHT_MAX);
    e->weight = weight;
    e->origin = origin;
    e->state = AS_HOST_ACTIVE;
    e->added_ms = as_wall_ms();
    return set_host_port(e, host, port, why, why_len);
}

/* ---- entry and provision files ---- */

static const char *const origins[] = {"manual", "provisioned", NULL};
static const char *const states[] = {"active", "draining", "deprovisioning", NULL};

static int pick(const char *v, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

static int parse_num(const char *v, int64_t max, int64_t *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 16 || strspn(v, "0123456789") != n || (v[0] == '0' && n > 1))
        return -1;
    long long x = strtoll(v, NULL, 10);
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

#define MS_MAX INT64_C(100000000000000) /* Unix ms, year 5138 */

int as_prov_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= AS_PROV_ID_MAX || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

void as_prov_id_new(char *out)
{
    unsigned char r[4] = {0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        int64_t t = as_mono_ms(); /* the id stays unique with the time beside it */
        memcpy(r, &t, sizeof(r));
    }
    snprintf(out, AS_PROV_ID_MAX, "p%lld-%02x%02x%02x%02x", (long long)as_wall_ms(), r[0], r[1],
             r[2], r[3]);
}

/* A key of a file kind: its index in keys and a bit in *seen. Returns the index or -1. */
static int key_of(const char *k, const char *const *keys, unsigned *seen, char *why, size_t why_len)
{
    int i = pick(k, keys);
    size_t n = 0;
    while (keys[n] != NULL)
        n++;
    const char *near = i < 0 ? as_suggest(k, keys, n) : NULL;
    if (i < 0)
        return fail(why, why_len, "unknown key '%.40s'%s%s%s", k, near ? " (did you mean '" : "",
                    near ? near : "", near ? "'?)" : "");
    if (*seen & (1u << i))
        return fail(why, why_len, "'%s' is given twice", k);
    *seen |= 1u << i;
    return i;
}

enum { K_HOST, K_PORT, K_WEIGHT, K_ORIGIN, K_ADDED, K_STATE, K_SINCE, K_ID };

/* One key=value of an entry. Returns 0 or -1 with why. */
static int entry_kv(struct as_host_entry *e, const char *k, const char *v, char *host, char *port,
                    unsigned *seen, char *why, size_t why_len)
{
    static const char *const keys[] = {"host",  "port",  "weight", "origin", "added",
                                       "state", "since", "id",     NULL};
    int i = key_of(k, keys, seen, why, why_len);
    int64_t x = 0;
    switch (i) {
    case -1:
        return -1;
    case K_HOST:
    case K_PORT:
        if (strlen(v) >= AS_HOST_MAX)
            return fail(why, why_len, "'%s' is too long", k);
        strcpy(i == K_HOST ? host : port, v);
        return 0;
    case K_WEIGHT:
        if (parse_num(v, AS_HOST_WEIGHT_MAX, &x) < 0)
            return fail(why, why_len, "weight: a number from 0 to %d", AS_HOST_WEIGHT_MAX);
        e->weight = (int)x;
        return 0;
    case K_ORIGIN:
        e->origin = pick(v, origins);
        return e->origin < 0 ? fail(why, why_len, "origin: manual or provisioned") : 0;
    case K_STATE:
        e->state = pick(v, states);
        return e->state < 0 ? fail(why, why_len, "state: active, draining or deprovisioning") : 0;
    case K_ID:
        if (!as_prov_id_ok(v))
            return fail(why, why_len, "id: 1 to %d of a-z 0-9 -", AS_PROV_ID_MAX - 1);
        strcpy(e->id, v);
        return 0;
    default:
        if (parse_num(v, MS_MAX, &x) < 0)
            return fail(why, why_len, "%s: Unix milliseconds", k);
        *(i == K_ADDED ? &e->added_ms : &e->since_ms) = x;
        return 0;
    }
}

typedef int (*kv_fn)(const char *k, const char *v, void *arg, char *why, size_t why_len);

/* Calls fn for each key=value line of text. Returns 0, or -1 with why and *line. */
static int each_kv(const char *text, size_t len, kv_fn fn, void *arg, int *line, char *why,
                   size_t why_len)
{
    char buf[AS_HOST_FILE_MAX + 1];
    *line = 0;
    if (len > AS_HOST_FILE_MAX)
        return fail(why, why_len, "larger than %d bytes", AS_HOST_FILE_MAX);
    if (memchr(text, '\0', len) != NULL)
        return fail(why, why_len, "a NUL byte: not a text file");
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *p = buf;
    for (int ln = 1; *p != '\0'; ln++) {
        char *end = strchr(p, '\n');
        if (end != NULL)
            *end = '\0';
        *line = ln;
        if (p[0] != '\0' && p[0] != '#') {
            char *eq = strchr(p, '=');
            if (eq == NULL)
                return fail(why, why_len, "expected key=value");
            *eq = '\0';
            if (fn(p, eq + 1, arg, why, why_len) < 0)
                return -1;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    *line = 0;
    return 0;
}

struct entry_parse {
    struct as_host_entry *e;
    char host[AS_HOST_MAX], port[AS_HOST_MAX];
    unsigned seen;
};

static int entry_line(const char *k, const char *v, void *arg, char *why, size_t why_len)
{
    struct entry_parse *ep = arg;
    return entry_kv(ep->e, k, v, ep->host, ep->port, &ep->seen, why, why_len);
}

int as_host_entry_parse(const char *text, size_t len, struct as_host_entry *e, int *line, char *why,
                        size_t why_len)
{
    struct entry_parse ep = {.e = e};
    memset(e, 0, sizeof(*e));
    e->weight = 1;
    if (each_kv(text, len, entry_line, &ep, line, why, why_len) < 0)
        return -1;
    if ((ep.seen & 3u) != 3u)
        return fail(why, why_len, "'host' and 'port' are required");
    if (e->state != AS_HOST_ACTIVE && !(ep.seen & (1u << K_SINCE)))
        return fail(why, why_len, "a %s entry needs 'since'", states[e->state]);
    return set_host_port(e, ep.host, ep.port, why, why_len);
}

int as_host_entry_format(const struct as_host_entry *e, struct as_sb *sb)
{
    if (as_sb_printf(sb,
                     "# one server of the HAProxy pool (docs/selfhosted.md)\nhost=%s\n"
                     "port=%d\nweight=%d\norigin=%s\nadded=%lld\n",
                     e->host, e->port, e->weight, origins[e->origin], (long long)e->added_ms) < 0)
        return -1;
    if (e->id[0] != '\0' && as_sb_printf(sb, "id=%s\n", e->id) < 0)
        return -1;
    if (e->state == AS_HOST_ACTIVE)
        return 0;
    return as_sb_printf(sb, "state=%s\nsince=%lld\n", states[e->state], (long long)e->since_ms);
}

struct prov_parse {
    struct as_host_prov *p;
    unsigned seen;
};

static int prov_line(const char *k, const char *v, void *arg, char *why, size_t why_len)
{
    static const char *const keys[] = {"id", "started", NULL};
    struct prov_parse *pp = arg;
    int64_t x;
    switch (key_of(k, keys, &pp->seen, why, why_len)) {
    case -1:
        return -1;
    case 0:
        if (!as_prov_id_ok(v))
            return fail(why, why_len, "id: 1 to %d of a-z 0-9 -", AS_PROV_ID_MAX - 1);
        strcpy(pp->p->id, v);
        return 0;
    default:
        if (parse_num(v, MS_MAX, &x) < 0)
            return fail(why, why_len, "started: Unix milliseconds");
        pp->p->started_ms = x;
        return 0;
    }
}

int as_host_prov_parse(const char *text, size_t len, struct as_host_prov *p, int *line, char *why,
                       size_t why_len)
{
    struct prov_parse pp = {.p = p};
    memset(p, 0, sizeof(*p));
    if (each_kv(text, len, prov_line, &pp, line, why, why_len) < 0)
        return -1;
    return (pp.seen & 1u) ? 0 : fail(why, why_len, "'id' is required");
}

int as_host_prov_format(const struct as_host_prov *p, struct as_sb *sb)
{
    return as_sb_printf(sb,
                        "# a provision in flight: its server's entry replaces this file "
                        "(docs/scalers/haproxy.md)\nid=%s\nstarted=%lld\n",
                        p->id, (long long)p->started_ms);
}

/* ---- the directory ---- */

static int path_of(const char *dir, const char *name, const char *ext, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s%s", dir, name, ext);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int as_host_entry_path(const char *dir, const char *name, char *buf, size_t len)
{
    return path_of(dir, name, ".host", buf, len);
}

int as_host_prov_path(const char *dir, const char *id, char *buf, size_t len)
{
    return path_of(dir, id, ".provision", buf, len);
}

static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    size_t got = 0;
    ssize_t r = 1;
    while (got < cap && r > 0) {
        r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) {
            r = 1;
            continue;
        }
        got += r > 0 ? (size_t)r : 0;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    *len = got;
    return r < 0 ? -1 : 0;
}

/* Reads DIR/FILE into text (AS_HOST_FILE_MAX + 1 bytes). Returns 0 or -1 with err. */
static int read_entry_file(const char *dir, const char *file, char *text, size_t *len, char *path,
                           size_t path_len, struct as_err *err)
{
    if (snprintf(path, path_len, "%s/%s", dir, file) >= (int)path_len)
        return as_err_set(err, "%s/%s: path too long", dir, file);
    if (read_small(path, text, AS_HOST_FILE_MAX + 1, len) < 0)
        return as_err_set(err, "cannot read %s: %s", path,
                          errno == EINVAL ? "not a regular file" : strerror(errno));
    return 0;
}

static int load_entry(const char *dir, const char *file, struct as_host_entry *e,
                      struct as_err *err)
{
    char path[4096], text[AS_HOST_FILE_MAX + 1], why[200];
    size_t len;
    int line;
    if (read_entry_file(dir, file, text, &len, path, sizeof(path), err) < 0)
        return -1;
    if (as_host_entry_parse(text, len, e, &line, why, sizeof(why)) < 0)
        return line > 0 ? as_err_at(err, path, line, 1, "%s", why)
                        : as_err_set(err, "%s: %s", path, why);
    size_t n = strlen(e->name);
    if (strncmp(file, e->name, n) != 0 || strcmp(file + n, ".host") != 0)
        return as_err_set(err, "%s: the entry for %s:%d must be named %s.host", path, e->host,
                          e->port, e->name);
    return 0;
}

static int load_prov(const char *dir, const char *file, struct as_host_prov *p, struct as_err *err)
{
    char path[4096], text[AS_HOST_FILE_MAX + 1], why[200];
    size_t len;
    int line;
    if (read_entry_file(dir, file, text, &len, path, sizeof(path), err) < 0)
        return -1;
    if (as_host_prov_parse(text, len, p, &line, why, sizeof(why)) < 0)
        return line > 0 ? as_err_at(err, path, line, 1, "%s", why)
                        : as_err_set(err, "%s: %s", path, why);
    size_t n = strlen(p->id);
    if (strncmp(file, p->id, n) != 0 || strcmp(file + n, ".provision") != 0)
        return as_err_set(err, "%s: the provision %s must be named %s.provision", path, p->id,
                          p->id);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct as_host_entry *)a)->name, ((const struct as_host_entry *)b)->name);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct as_host_prov *)a)->id, ((const struct as_host_prov *)b)->id);
}

/* 1: an entry, 2: a provision, 0: a file to leave alone. */
static int file_kind(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    if (n > 5 && strcmp(name + n - 5, ".host") == 0)
        return 1;
    if (n > 10 && strcmp(name + n - 10, ".provision") == 0)
        return 2;
    return 0;
}

/* Room for one more element of size sz in *v (n used, *cap allocated). Returns 0 or -1. */
static int room(void **v, size_t n, size_t *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, ncap * sz);
    if (nv == NULL)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

static int load_file(const char *dir, const char *name, struct as_hosts *out, size_t *cap,
                     size_t *pcap, struct as_err *err)
{
    int kind = file_kind(name);
    if (kind == 0)
        return 0;
    if (out->n + out->nprov == AS_HOSTS_MAX)
        return as_err_set(err, "%s: more than %d entries", dir, AS_HOSTS_MAX);
    if (kind == 1) {
        if (room((void **)&out->v, out->n, cap, sizeof(*out->v)) < 0)
            return as_err_set(err, "out of memory");
        if (load_entry(dir, name, &out->v[out->n], err) < 0)
            return -1;
        out->n++;
        return 0;
    }
    if (room((void **)&out->prov, out->nprov, pcap, sizeof(*out->prov)) < 0)
        return as_err_set(err, "out of memory");
    if (load_prov(dir, name, &out->prov[out->nprov], err) < 0)
        return -1;
    out->nprov++;
    return 0;
}

int as_hosts_load(const char *dir, struct as_hosts *out, struct as_err *err)
{
    as_hosts_free(out);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : as_err_set(err, "cannot read %s: %s", dir, strerror(errno));
    size_t cap = 0, pcap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL)
        rc = load_file(dir, de->d_name, out, &cap, &pcap, err);
    closedir(d);
    if (rc < 0) {
        as_hosts_free(out);
        return -1;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(out->v[0]), by_name);
    if (out->nprov > 1)
        qsort(out->prov, out->nprov, sizeof(out->prov[0]), by_id);
    return 0;
}

void as_hosts_free(struct as_hosts *h)
{
    free(h->v);
    free(h->prov);
    memset(h, 0, sizeof(*h));
}

const struct as_host_entry *as_hosts_find(const struct as_hosts *h, const char *name)
{
    struct as_host_entry key;
    if (strlen(name) >= sizeof(key.name) || h->n == 0)
        return NULL;
    strcpy(key.name, name);
    return bsearch(&key, h->v, h->n, sizeof(h->v[0]), by_name);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int as_host_entry_write(const char *dir, const struct as_host_entry *e, struct as_err *err)
{
    char path[4096], tmp[4096];
    struct as_sb sb = {0};
    int rc = -1, fd = -1;
    if (as_host_entry_path(dir, e->name, path, sizeof(path)) < 0 ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.host.tmp", dir, e->name) >= (int)sizeof(tmp))
        return as_err_set(err, "%s: path too long", dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return as_err_set(err, "cannot create %s: %s", dir, strerror(errno));
    if (as_host_entry_format(e, &sb) < 0) {
        as_err_set(err, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, sb.buf, sb.len) < 0 || fsync(fd) < 0) {
        as_err_set(err, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        fd = -1;
        as_err_set(err, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (fsync_dir(dir) < 0) {
        as_err_set(err, "cannot sync %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    as_sb_free(&sb);
    return rc;
}

int as_hosts_unlink(const char *path, int durable, struct as_err *err)
{
    char dir[4096];
    if (unlink(path) < 0)
        return errno == ENOENT ? 1 : as_err_set(err, "cannot remove %s: %s", path, strerror(errno));
    const char *slash = strrchr(path, '/');
    if (durable && slash != NULL && (size_t)(slash - path) < sizeof(dir)) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        fsync_dir(dir[0] ? dir : "/");
    }
    return 0;
}

/* ---- the template ---- */

int as_host_option_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("._:/@=+,-%", s[i]) == NULL)
            return 0;
    return 1;
}

static int server_lines(const char *indent, size_t ilen, const struct as_hosts *hosts,
                        const char *const *opts, struct as_sb *out)
{
    for (size_t i = 0; hosts != NULL && i < hosts->n; i++) {
        const struct as_host_entry *e = &hosts->v[i];
        char addr[AS_HOST_MAX + 16];
        if (e->state == AS_HOST_DEPROVISIONING)
            continue;
        as_host_address(e->host, e->port, addr, sizeof(addr));
        if (as_sb_append(out, indent, ilen) < 0 ||
            as_sb_printf(out, "server %s %s weight %d", e->name, addr,
                         e->state == AS_HOST_DRAINING ? 0 : e->weight) < 0)
            return -1;
        for (size_t k = 0; opts != NULL && opts[k] != NULL; k++)
            if (as_sb_printf(out, " %s", opts[k]) < 0)
                return -1;
        if (as_sb_puts(out, "\n") < 0)
            return -1;
    }
    return 0;
}

int as_hosts_render(const char *tmpl, size_t len, const char *name, const struct as_hosts *hosts,
                    const char *const *opts, struct as_sb *out, struct as_err *err)
{
    static const char tag[] = "{{servers}}";
    const char *p = tmpl, *end = tmpl + len;
    for (int ln = 1; p < end; ln++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p), ilen = strspn(p, " \t");
        int rc;
        if (memchr(p, '\0', n) != NULL)
            return as_err_at(err, name, ln, 1, "a NUL byte: not a text file");
        size_t rest = n - (ilen < n ? ilen : n);
        size_t tail = rest;
        while (tail > 0 && (p[ilen + tail - 1] == ' ' || p[ilen + tail - 1] == '\t' ||
                            p[ilen + tail - 1] == '\r'))
            tail--;
        if (tail == sizeof(tag) - 1 && memcmp(p + ilen, tag, tail) == 0) {
            rc = server_lines(p, ilen, hosts, opts, out);
        } else {
            const char *brace = NULL;
            for (const char *q = p; q + 1 < eol && brace == NULL; q++)
                if (q[0] == '{' && q[1] == '{')
                    brace = q;
            if (brace != NULL)
                return as_err_at(err, name, ln, (int)(brace - p) + 1,
                                 "unknown placeholder: the only one is {{servers}}, alone on "
                                 "its line");
            rc = as_sb_append(out, p, n + (nl != NULL));
        }
        if (rc < 0)
            return as_err_set(err, "out of memory");
        p = nl ? nl + 1 : end;
    }
    return 0;
}
