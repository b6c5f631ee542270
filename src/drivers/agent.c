/* `autoscaler agent`: one loop, one connection to the master, one report per interval. */
#include "drivers/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/cpu.h"
#include "util/agentproto.h"
#include "util/backoff.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/proc.h"
#include "util/util.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define KEY_FILE_MAX (64 * 1024)
#define RETRY_BASE_MS 250
#define CONNECT_TIMEOUT_MS 5000
#define FIRST_TICK_MS 1000 /* the first report comes this soon (or after the interval) */
#define CMD_OUTPUT_MAX 4096

struct cmd {
    char name[AS_AGENT_NAME_MAX + 1];
    const char *text; /* run by /bin/sh -c */
    struct as_proc *proc;
    struct agent *a;
    int have;
    double value;
    struct as_fault_log fault;
};

enum link { DOWN, CONNECTING, UP };

struct agent {
    struct as_loop *loop;
    const char *master;
    char mhost[256], mport[16];
    char name[AS_AGENT_HOST_MAX + 1];
    char *key;
    size_t keylen;
    int64_t interval_ms;
    struct cmd cmds[AS_AGENT_COMMANDS_MAX];
    size_t ncmds, running;
    uint64_t boot, seq;
    struct as_cpu_sample prev;
    int have_prev, have_cpu, reported;
    double cpu;
    enum link link;
    int fd;
    struct as_timer *tick, *retry, *deadline;
    char out[AS_AGENT_LINE_MAX + 1];
    size_t outlen, outoff;
    struct as_backoff backoff;
    int64_t up_since, sent_ms; /* connected; the last report written */
    unsigned long long sent, dropped;
    struct as_fault_log conn_fault, cpu_fault;
};

static void reconnect_later(struct agent *a, const char *why);
static void connect_master(struct agent *a);

/* ---- this host's CPU ---- */

/* /proc/stat's aggregate line, parsed and turned into a utilization by the `cpu` source's
 * own functions: an agent's cpu and the `cpu` source's are the same number. */
static int read_stat(struct as_cpu_sample *out, char *why, size_t whylen)
{
    char buf[1024];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        snprintf(why, whylen, "cannot read /proc/stat: %s", n < 0 ? strerror(errno) : "empty");
        return -1;
    }
    return as_cpu_parse_stat(buf, (size_t)n, out, why, whylen);
}

static void sample_cpu(struct agent *a)
{
    struct as_cpu_sample cur;
    char why[160];
    a->have_cpu = 0;
    if (read_stat(&cur, why, sizeof(why)) < 0) {
        as_log_fault(&a->cpu_fault, AS_WARN, "agent: %s: no cpu this time", why);
        a->have_prev = 0;
        return;
    }
    if (a->have_prev && as_cpu_utilization(&a->prev, &cur, &a->cpu, why, sizeof(why)) == 0) {
        a->have_cpu = 1;
        as_log_recovered(&a->cpu_fault, "agent: cpu measured again");
    } else if (a->have_prev) {
        as_log_fault(&a->cpu_fault, AS_WARN, "agent: cpu: %s: no cpu this time", why);
    }
    a->prev = cur;
    a->have_prev = 1;
}

/* ---- the connection ---- */

static void disconnect(struct agent *a)
{
    if (a->fd >= 0) {
        as_loop_watch_fd(a->loop, a->fd, 0, NULL, NULL);
        close(a->fd);
    }
    a->fd = -1;
    a->link = DOWN;
    a->outlen = a->outoff = 0;
    as_loop_cancel_timer(a->loop, a->deadline);
    a->deadline = NULL;
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg);

/* Writes what is left of the report; watches for writability while some is. */
static void flush(struct agent *a)
{
    while (a->outoff < a->outlen) {
        ssize_t n = send(a->fd, a->out + a->outoff, a->outlen - a->outoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            as_loop_watch_fd(a->loop, a->fd, AS_READ | AS_WRITE, on_fd, a);
            return;
        }
        if (n < 0)
            return reconnect_later(a, strerror(errno));
        a->outoff += (size_t)n;
    }
    a->outlen = a->outoff = 0;
    a->sent++;
    a->sent_ms = as_loop_now(a->loop);
    as_loop_watch_fd(a->loop, a->fd, AS_READ, on_fd, a);
}

static void report(struct agent *a)
{
    struct as_agent_msg m = {
        .boot = a->boot, .seq = ++a->seq, .ts_ms = as_wall_ms(), .interval_ms = a->interval_ms};
    snprintf(m.host, sizeof(m.host), "%s", a->name);
    if (a->have_cpu) {
        snprintf(m.values[0].name, sizeof(m.values[0].name), "cpu");
        m.values[m.nvalues++].value = a->cpu;
    }
    for (size_t i = 0; i < a->ncmds; i++)
        if (a->cmds[i].have) {
            memcpy(m.values[m.nvalues].name, a->cmds[i].name, sizeof(a->cmds[i].name));
            m.values[m.nvalues++].value = a->cmds[i].value;
        }
    a->reported = 1;
    if (a->link != UP) {
        a->dropped++;
        AS_LOG(AS_DEBUG, "agent: not connected: report %llu dropped", (unsigned long long)m.seq);
        return;
    }
    if (a->outlen > 0) { /* the last one is still not written: the master does not read */
        a->dropped++;
        return reconnect_later(a, "the master does not read (the last report is still unsent)");
    }
    int n = as_agent_format(&m, a->key, a->keylen, a->out, sizeof(a->out));
    if (n < 0) {
        AS_LOG(AS_ERROR, "agent: cannot format report %llu", (unsigned long long)m.seq);
        return;
    }
    AS_LOG(AS_DEBUG, "agent: report %llu: %.*s", (unsigned long long)m.seq, n - 1 - 69, a->out);
    a->outlen = (size_t)n;
    a->outoff = 0;
    flush(a);
}

static void connected(struct agent *a)
{
    a->link = UP;
    a->up_since = as_loop_now(a->loop);
    a->sent_ms = -1;
    as_loop_cancel_timer(a->loop, a->deadline);
    a->deadline = NULL;
    as_loop_watch_fd(a->loop, a->fd, AS_READ, on_fd, a);
    /* Recovered once the connection lasts (on_tick): a master that rejects every report
     * accepts each connection, and that is no recovery. */
    AS_LOG(as_fault_active(&a->conn_fault) ? AS_DEBUG : AS_INFO, "agent: connected to %s", a->master);
    if (a->reported && a->running == 0) /* the latest values at once, in a fresh report */
        report(a);
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    if (a->link == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0)
            return reconnect_later(a, strerror(err));
        return connected(a);
    }
    if (events & AS_READ) { /* the master sends nothing: data is discarded, EOF is a close */
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        char why[160];
        int64_t after = as_loop_now(a->loop) - a->sent_ms;
        if (n == 0 && a->sent_ms >= a->up_since && after < 1000) {
            snprintf(why, sizeof(why),
                     "the master closed the connection %.1fs after a report (when it keeps "
                     "doing so, it rejects them: its log says why)",
                     (double)after / 1000);
            return reconnect_later(a, why);
        }
        if (n == 0)
            return reconnect_later(a, "the master closed the connection");
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return reconnect_later(a, strerror(errno));
    }
    if ((events & AS_WRITE) && a->outlen > 0)
        flush(a);
}

static int64_t on_retry(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    a->retry = NULL;
    connect_master(a);
    return AS_TIMER_STOP;
}

static int64_t on_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct agent *a = arg;
    a->deadline = NULL;
    reconnect_later(a, "connection timed out");
    return AS_TIMER_STOP;
}

static void reconnect_later(struct agent *a, const char *why)
{
    disconnect(a);
    int64_t delay = as_backoff_next(&a->backoff);
    as_log_fault(&a->conn_fault, AS_WARN, "agent: %s: %s; retrying in %.1fs", a->master, why,
                 (double)delay / 1000);
    as_loop_cancel_timer(a->loop, a->retry);
    a->retry = as_loop_add_timer(a->loop, delay, on_retry, a);
}

static void connect_master(struct agent *a)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(a->mhost, a->mport, &hints, &ai);
    if (rc != 0 || ai == NULL)
        return reconnect_later(a, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    a->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = a->fd < 0 ? errno : 0;
    if (err == 0 && connect(a->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
        err = errno;
    freeaddrinfo(ai);
    if (err != 0)
        return reconnect_later(a, strerror(err));
    a->link = CONNECTING;
    int64_t limit = a->interval_ms < CONNECT_TIMEOUT_MS ? a->interval_ms : CONNECT_TIMEOUT_MS;
    a->deadline = as_loop_add_timer(a->loop, limit, on_deadline, a);
    if (a->deadline == NULL || as_loop_watch_fd(a->loop, a->fd, AS_WRITE, on_fd, a) < 0)
        return reconnect_later(a, "out of memory");
}

/* ---- commands ---- */

static void on_cmd_done(const struct as_proc_result *r, void *arg)
{
    struct cmd *c = arg;
    struct agent *a = c->a;
    char text[64], how[96];
    double v = NAN;
    c->proc = NULL;
    size_t b = 0, e = r->out_len;
    while (b < e && strchr(" \t\r\n", r->out[b]))
        b++;
    while (e > b && strchr(" \t\r\n", r->out[e - 1]))
        e--;
    snprintf(text, sizeof(text), "%.*s", (int)(e - b), r->out + b);
    if (r->exit_code != 0 || r->timed_out)
        as_log_fault(&c->fault, AS_WARN, "agent: command %s: %s: no %s this time", c->name,
                     as_proc_describe(r, how, sizeof(how)), c->name);
    else if (e - b >= sizeof(text) || as_parse_double(text, &v) < 0 || v < 0 ||
             v >= AS_AGENT_VALUE_MAX)
        as_log_fault(&c->fault, AS_WARN,
                     "agent: command %s: output '%s' is not a number in 0..1e15: no %s this time",
                     c->name, as_printable(text, strlen(text), how, 40), c->name);
    else {
        c->have = 1;
        c->value = v;
        as_log_recovered(&c->fault, "agent: command %s works again", c->name);
    }
    if (--a->running == 0)
        report(a);
}

/* Starts every command; returns how many run. */
static size_t run_commands(struct agent *a)
{
    for (size_t i = 0; i < a->ncmds; i++) {
        struct cmd *c = &a->cmds[i];
        const char *argv[] = {"/bin/sh", "-c", c->text, NULL};
        struct as_proc_opts po = {.argv = argv,
                                  .out = AS_PROC_CAPTURE,
                                  .err = AS_PROC_INHERIT,
                                  .capture_max = CMD_OUTPUT_MAX,
                                  .timeout_ms = a->interval_ms * 8 / 10,
                                  .grace_ms = 100};
        struct as_err err;
        as_err_clear(&err);
        c->have = 0;
        c->proc = as_proc_spawn(a->loop, &po, on_cmd_done, c, &err);
        if (c->proc == NULL)
            as_log_fault(&c->fault, AS_WARN, "agent: command %s: %s", c->name, err.msg);
        else
            a->running++;
    }
    return a->running;
}

static int64_t on_tick(struct as_loop *loop, void *arg)
{
    struct agent *a = arg;
    sample_cpu(a);
    if (a->link == UP && as_loop_now(loop) - a->up_since >= a->interval_ms) {
        as_backoff_reset(&a->backoff); /* a connection that lasts, not one the master drops */
        as_log_recovered(&a->conn_fault, "agent: connected to %s", a->master);
    }
    if (a->running > 0)
        AS_LOG(AS_WARN, "agent: commands still running from the last interval: report skipped");
    else if (a->ncmds == 0 || run_commands(a) == 0)
        report(a);
    return a->interval_ms;
}

static void on_signal(struct as_loop *loop, int signo, void *arg)
{
    struct agent *a = arg;
    AS_LOG(AS_INFO, "agent: %s: stopping (%llu reports sent, %llu dropped)", strsignal(signo),
           a->sent, a->dropped);
    as_loop_stop(loop);
}

/* ---- setup ---- */

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "autoscaler agent: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see autoscaler agent --help)\n");
    return -1;
}

/* The key in path: a regular file of at most 64 KiB, trailing CR/LF dropped as a ${file:}
 * reference drops them, at least AS_AGENT_KEY_MIN bytes, no NUL. */
static int read_key(struct agent *a, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
        fprintf(stderr, "autoscaler agent: --secret-file %s: %s\n", path,
                fd < 0 ? strerror(errno) : "not a regular file of at most 64 KiB");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    a->key = malloc((size_t)st.st_size + 1);
    ssize_t n = a->key ? read(fd, a->key, (size_t)st.st_size + 1) : -1;
    close(fd);
    while (n > 0 && (a->key[n - 1] == '\n' || a->key[n - 1] == '\r'))
        n--;
    if (n < AS_AGENT_KEY_MIN || memchr(a->key, '\0', (size_t)n) != NULL) {
        fprintf(stderr, "autoscaler agent: --secret-file %s: %s\n", path,
                n < 0 ? strerror(errno) : "needs at least 16 bytes and no NUL byte");
        return -1;
    }
    a->keylen = (size_t)n;
    as_log_secret(a->key, a->keylen);
    if (st.st_mode & 077)
        AS_LOG(AS_WARN, "agent: --secret-file %s can be read by others (mode %03o): chmod 600",
               path, (unsigned)(st.st_mode & 0777));
    return 0;
}

static int parse_master(struct agent *a, const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    long port;
    if (colon == NULL || hlen == 0 || as_parse_long(colon + 1, &port) < 0 || port < 1 ||
        port > 65535)
        return usage("--master must be HOST:PORT, not '%s'", s);
    int br = s[0] == '[' && s[hlen - 1] == ']';
    if (hlen - 2 * (size_t)br >= sizeof(a->mhost) || hlen <= 2 * (size_t)br)
        return usage("--master: bad host in '%s'", s);
    memcpy(a->mhost, s + br, hlen - 2 * (size_t)br);
    a->mhost[hlen - 2 * (size_t)br] = '\0';
    snprintf(a->mport, sizeof(a->mport), "%ld", port);
    a->master = s;
    return 0;
}

static int add_command(struct agent *a, char *spec)
{
    char *eq = strchr(spec, '=');
    if (eq == NULL || eq[1] == '\0')
        return usage("--command must be NAME=COMMAND, not '%s'", spec);
    *eq = '\0';
    if (!as_agent_name_ok(spec) || strcmp(spec, "cpu") == 0)
        return usage("--command: '%s' is not a value name ([a-z][a-z0-9_]*, not cpu or a "
                     "field name)",
                     spec);
    for (size_t i = 0; i < a->ncmds; i++)
        if (strcmp(a->cmds[i].name, spec) == 0)
            return usage("--command: '%s' given twice", spec);
    if (a->ncmds == AS_AGENT_COMMANDS_MAX)
        return usage("--command: at most %s", "15");
    struct cmd *c = &a->cmds[a->ncmds++];
    snprintf(c->name, sizeof(c->name), "%s", spec);
    c->text = eq + 1;
    c->a = a;
    return 0;
}

static int parse_option(struct agent *a, const char *opt, char *val, const char **secret)
{
    int64_t ms;
    int level;
    if (strcmp(opt, "--master") == 0)
        return parse_master(a, val);
    if (strcmp(opt, "--secret-file") == 0) {
        *secret = val;
        return 0;
    }
    if (strcmp(opt, "--name") == 0) {
        snprintf(a->name, sizeof(a->name), "%s", val);
        return as_agent_host_ok(val) ? 0 : usage("--name: '%s' is not a host name", val);
    }
    if (strcmp(opt, "--interval") == 0) {
        if (as_duration_parse(val, &ms) < 0 || ms < AS_AGENT_INTERVAL_MIN ||
            ms > AS_AGENT_INTERVAL_MAX)
            return usage("--interval: '%s' is not a duration from 100ms to 24h", val);
        a->interval_ms = ms;
        return 0;
    }
    if (strcmp(opt, "--command") == 0)
        return add_command(a, val);
    if (strcmp(opt, "--log-level") == 0) {
        level = as_log_level_parse(val);
        if (level < 0)
            return usage("--log-level: '%s' is not debug, info, warn or error", val);
        as_log_min = (enum as_log_level)level;
        return 0;
    }
    return usage("unknown argument '%s'", opt);
}

static int parse_args(struct agent *a, int argc, char **argv)
{
    const char *secret = NULL;
    static const char *const known[] = {"--master",   "--secret-file", "--name",
                                        "--interval", "--command",     "--log-level"};
    for (int i = 0; i < argc; i += 2) {
        size_t k = 0;
        while (k < AS_ARRAY_LEN(known) && strcmp(argv[i], known[k]) != 0)
            k++;
        if (k == AS_ARRAY_LEN(known))
            return usage("unknown argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return usage("%s needs a value", argv[i]);
        if (parse_option(a, argv[i], argv[i + 1], &secret) < 0)
            return -1;
    }
    if (a->master == NULL || secret == NULL)
        return usage("%s", "--master HOST:PORT and --secret-file PATH are required");
    if (a->name[0] == '\0') {
        if (gethostname(a->name, sizeof(a->name)) < 0 || !as_agent_host_ok(a->name))
            return usage("this host's name '%s' is not usable: give --name", a->name);
    }
    return read_key(a, secret);
}

static uint64_t boot_id(void)
{
    uint64_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
            id = (uint64_t)as_wall_ms() ^ ((uint64_t)getpid() << 40) ^ (uint64_t)as_mono_ms();
    return id;
}

static int run(struct agent *a)
{
    a->loop = as_loop_new();
    if (a->loop == NULL) {
        fprintf(stderr, "autoscaler agent: cannot create the event loop\n");
        return EXIT_RUNTIME;
    }
    a->boot = boot_id();
    as_backoff_init(&a->backoff, RETRY_BASE_MS, AS_AGENT_RETRY_MAX_MS, a->boot);
    as_loop_on_signal(a->loop, SIGTERM, on_signal, a);
    as_loop_on_signal(a->loop, SIGINT, on_signal, a);
    sample_cpu(a);
    int64_t first = a->interval_ms < FIRST_TICK_MS ? a->interval_ms : FIRST_TICK_MS;
    a->tick = as_loop_add_timer(a->loop, first, on_tick, a);
    AS_LOG(AS_INFO, "agent: %s reporting to %s every %lldms (boot %016llx, %zu command(s))",
           a->name, a->master, (long long)a->interval_ms, (unsigned long long)a->boot, a->ncmds);
    connect_master(a);
    int rc = a->tick != NULL && as_loop_run(a->loop) == 0 ? 0 : EXIT_RUNTIME;
    for (size_t i = 0; i < a->ncmds; i++)
        as_proc_abandon(a->cmds[i].proc);
    disconnect(a);
    as_loop_cancel_timer(a->loop, a->retry);
    as_loop_cancel_timer(a->loop, a->tick);
    as_loop_free(a->loop);
    return rc;
}

int as_agent_main(int argc, char **argv)
{
    struct agent *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return EXIT_RUNTIME;
    a->fd = -1;
    a->interval_ms = 5000;
    int rc = parse_args(a, argc, argv) < 0 ? EXIT_USAGE : run(a);
    free(a->key);
    free(a);
    return rc;
}
