#include "util/haproxy_rt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/util.h"

struct as_hart {
    struct as_loop *loop;
    int fd;
    struct as_timer *timer;
    char *out; /* the command and its newline */
    size_t out_len, sent;
    char *in;
    size_t in_len, in_cap;
    int64_t timeout_ms;
    char error[256];
    as_hart_cb cb;
    void *arg;
};

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

/* ---- addresses ---- */

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

static int parse_addr(const char *addr, struct addr *a, char *why, size_t why_len)
{
    memset(a, 0, sizeof(*a));
    const char *path = strncmp(addr, "unix@", 5) == 0 ? addr + 5 : addr[0] == '/' ? addr : NULL;
    if (path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
        if (path[0] == '\0' || strlen(path) >= sizeof(un->sun_path))
            return fail(why, why_len, "a UNIX socket path of 1 to %zu bytes",
                        sizeof(un->sun_path) - 1);
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        a->len = sizeof(*un);
        return 0;
    }
    const char *hp = strncmp(addr, "ipv4@", 5) == 0 ? addr + 5 : addr;
    const char *colon = strrchr(hp, ':');
    char ip[16];
    long port = 0;
    struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
    size_t n = colon ? (size_t)(colon - hp) : 0;
    if (colon == NULL || n == 0 || n >= sizeof(ip) || as_parse_long(colon + 1, &port) < 0 ||
        port < 1 || port > 65535)
        return fail(why, why_len, "expected /path/to/socket, unix@PATH or IPV4:PORT");
    memcpy(ip, hp, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
        return fail(why, why_len, "expected /path/to/socket, unix@PATH or IPV4:PORT");
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    a->len = sizeof(*in);
    return 0;
}

int as_hart_addr_check(const char *addr, char *why, size_t why_len)
{
    struct addr a;
    return parse_addr(addr, &a, why, why_len);
}

/* ---- one command ---- */

static void finish(struct as_hart *h, const char *error)
{
    as_hart_cb cb = h->cb;
    void *arg = h->arg;
    if (h->fd >= 0) {
        as_loop_watch_fd(h->loop, h->fd, 0, NULL, NULL);
        close(h->fd);
        h->fd = -1;
    }
    as_loop_cancel_timer(h->loop, h->timer);
    h->timer = NULL;
    if (error == NULL && h->in == NULL)
        h->in = calloc(1, 1);
    if (error == NULL && h->in == NULL)
        error = "out of memory";
    if (error == NULL)
        h->in[h->in_len] = '\0';
    cb(error ? NULL : h->in, error ? 0 : h->in_len, error, arg);
    free(h->out);
    free(h->in);
    free(h);
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_hart *h = arg;
    char msg[64];
    h->timer = NULL;
    if (h->error[0] != '\0') {
        finish(h, h->error);
        return AS_TIMER_STOP;
    }
    snprintf(msg, sizeof(msg), "no answer within %lld ms", (long long)h->timeout_ms);
    finish(h, msg);
    return AS_TIMER_STOP;
}

static int grow(struct as_hart *h)
{
    if (h->in_cap - h->in_len > 1)
        return 0;
    size_t cap = h->in_cap ? h->in_cap * 2 : 4096;
    if (cap > AS_HART_REPLY_MAX + 1)
        cap = AS_HART_REPLY_MAX + 1;
    if (cap <= h->in_cap)
        return -1;
    char *p = realloc(h->in, cap);
    if (p == NULL)
        return -1;
    h->in = p;
    h->in_cap = cap;
    return 0;
}

static void on_readable(struct as_hart *h)
{
    for (;;) {
        if (grow(h) < 0) {
            finish(h, h->in_cap > AS_HART_REPLY_MAX ? "answer larger than 8 MiB" : "out of memory");
            return;
        }
        ssize_t r = read(h->fd, h->in + h->in_len, h->in_cap - h->in_len - 1);
        if (r > 0) {
            h->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r < 0) {
            snprintf(h->error, sizeof(h->error), "read: %s", strerror(errno));
            finish(h, h->error);
            return;
        }
        finish(h, NULL);
        return;
    }
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    struct as_hart *h = arg;
    if (h->sent < h->out_len) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr != 0) {
            snprintf(h->error, sizeof(h->error), "connect: %s", strerror(soerr));
            finish(h, h->error);
            return;
        }
        ssize_t w = send(fd, h->out + h->sent, h->out_len - h->sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK) {
            snprintf(h->error, sizeof(h->error), "send: %s", strerror(errno));
            finish(h, h->error);
            return;
        }
        h->sent += w > 0 ? (size_t)w : 0;
        if (h->sent == h->out_len && as_loop_watch_fd(h->loop, fd, AS_READ, on_fd, h) < 0)
            finish(h, "cannot watch the socket");
        return;
    }
    on_readable(h);
}

/* Connects; on failure h->error says why and -1 is returned. */
static int start(struct as_hart *h, const char *addr)
{
    struct addr a;
    char why[160];
    if (parse_addr(addr, &a, why, sizeof(why)) < 0) {
        snprintf(h->error, sizeof(h->error), "%s: %s", addr, why);
        return -1;
    }
    h->fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->fd < 0 ||
        (connect(h->fd, (struct sockaddr *)&a.ss, a.len) < 0 && errno != EINPROGRESS)) {
        snprintf(h->error, sizeof(h->error), "connect %s: %s", addr, strerror(errno));
        return -1;
    }
    if (as_loop_watch_fd(h->loop, h->fd, AS_WRITE, on_fd, h) < 0) {
        snprintf(h->error, sizeof(h->error), "cannot watch the socket");
        return -1;
    }
    return 0;
}

struct as_hart *as_hart_send(struct as_loop *loop, const char *addr, const char *cmd,
                             int64_t timeout_ms, as_hart_cb cb, void *arg)
{
    size_t n = strlen(cmd);
    if (n == 0 || n > AS_HART_CMD_MAX || strpbrk(cmd, "\r\n") != NULL)
        return NULL;
    struct as_hart *h = calloc(1, sizeof(*h));
    char *out = malloc(n + 2);
    if (h == NULL || out == NULL) {
        free(h);
        free(out);
        return NULL;
    }
    memcpy(out, cmd, n);
    memcpy(out + n, "\n", 2);
    *h = (struct as_hart){.loop = loop,
                          .fd = -1,
                          .out = out,
                          .out_len = n + 1,
                          .timeout_ms = timeout_ms,
                          .cb = cb,
                          .arg = arg};
    /* A failure to connect is reported from the loop too, at once. */
    int rc = start(h, addr);
    h->timer = as_loop_add_timer(loop, rc < 0 ? 0 : timeout_ms, on_timer, h);
    if (h->timer == NULL) {
        if (h->fd >= 0) {
            as_loop_watch_fd(loop, h->fd, 0, NULL, NULL);
            close(h->fd);
        }
        free(out);
        free(h);
        return NULL;
    }
    if (rc < 0 && h->fd >= 0) {
        as_loop_watch_fd(loop, h->fd, 0, NULL, NULL);
        close(h->fd);
        h->fd = -1;
    }
    return h;
}

void as_hart_cancel(struct as_hart *h)
{
    if (h == NULL)
        return;
    if (h->fd >= 0) {
        as_loop_watch_fd(h->loop, h->fd, 0, NULL, NULL);
        close(h->fd);
    }
    as_loop_cancel_timer(h->loop, h->timer);
    free(h->out);
    free(h->in);
    free(h);
}

/* ---- answers ---- */

int as_hart_reply_is(const char *reply, size_t len, const char *expect)
{
    while (len > 0 && isspace((unsigned char)reply[len - 1]))
        len--;
    return strlen(expect) == len && memcmp(reply, expect, len) == 0;
}

const char *as_hart_reply_line(const char *reply, size_t len, char *buf, size_t buf_len)
{
    size_t b = 0;
    while (b < len && isspace((unsigned char)reply[b]))
        b++;
    size_t e = b;
    while (e < len && reply[e] != '\n')
        e++;
    while (e > b && isspace((unsigned char)reply[e - 1]))
        e--;
    if (e == b)
        return as_printable("(an empty answer)", 17, buf, buf_len);
    return as_printable(reply + b, e - b, buf, buf_len);
}

/* The next line of [*p, end) without its newline; 0 at the end. */
static int next_line(const char **p, const char *end, const char **line, size_t *n)
{
    if (*p >= end)
        return 0;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *line = *p;
    *n = (size_t)((nl ? nl : end) - *p);
    *p = nl ? nl + 1 : end;
    return 1;
}

#define MAX_FIELDS 256

/* Splits a line at sep into at most MAX_FIELDS fields (f[i], fl[i]); sep ',' honours CSV
 * quotes (a quoted field keeps its quotes: only counters and names are read, never quoted).
 * Returns the number of fields, or -1 for too many or an unterminated quote. */
static int split(const char *s, size_t n, char sep, const char **f, size_t *fl)
{
    int k = 0;
    size_t i = 0;
    for (;;) {
        if (k == MAX_FIELDS)
            return -1;
        size_t b = i;
        int quoted = 0;
        while (i < n && (quoted || s[i] != sep)) {
            if (sep == ',' && s[i] == '"')
                quoted = !quoted;
            i++;
        }
        if (quoted)
            return -1;
        f[k] = s + b;
        fl[k++] = i - b;
        if (i >= n)
            return k;
        i++;
        if (sep == ' ')
            while (i < n && s[i] == ' ')
                i++;
    }
}

static int col(const char **f, const size_t *fl, int nf, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < nf; i++)
        if (fl[i] == n && memcmp(f[i], name, n) == 0)
            return i;
    return -1;
}

static int field_eq(const char *f, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(f, s, n) == 0;
}

/* A decimal number of n bytes ("" is -1 when empty_ok), into *out. Returns 0 or -1. */
static int field_num(const char *f, size_t n, long max, int empty_ok, long *out)
{
    if (n == 0 && empty_ok) {
        *out = -1;
        return 0;
    }
    if (n == 0 || n > 12)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)f[i]))
            return -1;
        v = v * 10 + (f[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int copy_field(char *dst, size_t cap, const char *f, size_t n)
{
    if (n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)f[i]))
            return -1;
    memcpy(dst, f, n);
    dst[n] = '\0';
    return 0;
}

static int error_answer(const char *text, size_t len, const char *what, char *why, size_t why_len)
{
    char line[120];
    return fail(why, why_len, "%s: HAProxy answered \"%s\"", what,
                as_hart_reply_line(text, len, line, sizeof(line)));
}

enum { S_BE, S_NAME, S_ADDR, S_OP, S_ADMIN, S_WEIGHT, S_PORT, S_NCOLS };

static int state_row(const char **f, const size_t *fl, int nf, const int *c,
                     struct as_hart_server *s)
{
    long op, admin, weight, port;
    for (int i = 0; i < S_NCOLS; i++)
        if (c[i] >= nf)
            return -1;
    if (copy_field(s->name, sizeof(s->name), f[c[S_NAME]], fl[c[S_NAME]]) < 0 ||
        copy_field(s->addr, sizeof(s->addr), f[c[S_ADDR]], fl[c[S_ADDR]]) < 0 ||
        field_num(f[c[S_OP]], fl[c[S_OP]], 3, 0, &op) < 0 ||
        field_num(f[c[S_ADMIN]], fl[c[S_ADMIN]], 0xff, 0, &admin) < 0 ||
        field_num(f[c[S_WEIGHT]], fl[c[S_WEIGHT]], 256, 0, &weight) < 0 ||
        field_num(f[c[S_PORT]], fl[c[S_PORT]], 65535, 0, &port) < 0)
        return -1;
    s->op = (int)op;
    s->admin = (unsigned)admin;
    s->weight = (int)weight;
    s->port = (int)port;
    s->scur = s->qcur = -1;
    s->backup = 0;
    s->status[0] = '\0';
    return 0;
}

int as_hart_parse_state(const char *text, size_t len, const char *backend, struct as_hart_server *v,
                        size_t max, size_t *n, char *why, size_t why_len)
{
    static const char *const names[S_NCOLS] = {"be_name",      "srv_name",        "srv_addr",
                                               "srv_op_state", "srv_admin_state", "srv_uweight",
                                               "srv_port"};
    const char *p = text, *end = text + len, *line, *f[MAX_FIELDS];
    size_t ln, fl[MAX_FIELDS];
    int c[S_NCOLS], nf;
    *n = 0;
    if (!next_line(&p, end, &line, &ln) || !field_eq(line, ln, "1"))
        return error_answer(text, len, "show servers state", why, why_len);
    if (!next_line(&p, end, &line, &ln) || ln < 2 || line[0] != '#' ||
        (nf = split(line + 2, ln - 2, ' ', f, fl)) < 0)
        return fail(why, why_len, "show servers state: no header line");
    for (int i = 0; i < S_NCOLS; i++)
        if ((c[i] = col(f, fl, nf, names[i])) < 0)
            return fail(why, why_len, "show servers state: no column %s", names[i]);
    for (int row = 3; next_line(&p, end, &line, &ln); row++) {
        if (ln == 0 || line[0] == '#')
            continue;
        if ((nf = split(line, ln, ' ', f, fl)) < 0 || c[S_BE] >= nf)
            return fail(why, why_len, "show servers state: line %d does not parse", row);
        if (!field_eq(f[c[S_BE]], fl[c[S_BE]], backend))
            continue;
        if (*n == max)
            return fail(why, why_len, "show servers state: more than %zu servers", max);
        if (state_row(f, fl, nf, c, &v[*n]) < 0)
            return fail(why, why_len, "show servers state: line %d does not parse", row);
        ++*n;
    }
    return 0;
}

enum { T_PX, T_SV, T_QCUR, T_SCUR, T_STATUS, T_BCK, T_NCOLS };

static void stat_row(const char **f, const size_t *fl, const int *c, struct as_hart_server *s,
                     int *bad)
{
    long q, sc, b;
    if (field_num(f[c[T_QCUR]], fl[c[T_QCUR]], 100000000L, 1, &q) < 0 ||
        field_num(f[c[T_SCUR]], fl[c[T_SCUR]], 100000000L, 0, &sc) < 0 ||
        field_num(f[c[T_BCK]], fl[c[T_BCK]], 1, 1, &b) < 0) {
        *bad = 1;
        return;
    }
    s->qcur = q;
    s->scur = sc;
    s->backup = b == 1;
    /* "MAINT (via BACKEND/SERVER)" may be long: kept printable and cut, only shown */
    as_printable(f[c[T_STATUS]], fl[c[T_STATUS]], s->status, sizeof(s->status));
}

int as_hart_merge_stat(const char *text, size_t len, const char *backend, struct as_hart_server *v,
                       size_t n, char *why, size_t why_len)
{
    static const char *const names[T_NCOLS] = {"pxname", "svname", "qcur", "scur", "status", "bck"};
    const char *p = text, *end = text + len, *line, *f[MAX_FIELDS];
    size_t ln, fl[MAX_FIELDS];
    int c[T_NCOLS], nf, top = 0;
    if (!next_line(&p, end, &line, &ln) || ln < 2 || memcmp(line, "# ", 2) != 0)
        return error_answer(text, len, "show stat", why, why_len);
    if ((nf = split(line + 2, ln - 2, ',', f, fl)) < 0)
        return fail(why, why_len, "show stat: the header does not parse");
    for (int i = 0; i < T_NCOLS; i++) {
        if ((c[i] = col(f, fl, nf, names[i])) < 0)
            return fail(why, why_len, "show stat: no column %s", names[i]);
        top = c[i] > top ? c[i] : top;
    }
    for (int row = 2; next_line(&p, end, &line, &ln); row++) {
        int bad = 0;
        if (ln == 0)
            continue;
        if ((nf = split(line, ln, ',', f, fl)) <= top)
            return fail(why, why_len, "show stat: line %d does not parse", row);
        if (!field_eq(f[c[T_PX]], fl[c[T_PX]], backend))
            continue;
        for (size_t i = 0; i < n; i++)
            if (field_eq(f[c[T_SV]], fl[c[T_SV]], v[i].name))
                stat_row(f, fl, c, &v[i], &bad);
        if (bad)
            return fail(why, why_len, "show stat: line %d does not parse", row);
    }
    return 0;
}
