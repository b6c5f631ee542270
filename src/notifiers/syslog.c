/* Notifier `syslog`: one datagram per event to a local syslog socket (default /dev/log), in
 * the format of glibc's syslog() (RFC 3164 as sent locally: no host name) or RFC 5424.
 *
 * The socket is non-blocking and unconnected (each datagram is addressed, so a syslog daemon
 * that restarted and made a new socket is reached at once); a full or missing socket is a
 * failure the dispatcher retries. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "util/log.h"

#define MSG_MAX 4096 /* bytes of one datagram (RFC 5424 receivers take at least 2048) */

struct syslog_notifier {
    char *path, *ident, *facility_name;
    int format, severity;
    int facility; /* its code: the index in facilities[] */
    /* runtime */
    struct as_ctx ctx;
    int fd;
    struct as_timer *deferred;
};

static const char *const formats[] = {"rfc3164", "rfc5424", NULL};
static const char *const facilities[] = {"kern",         "user",   "mail",   "daemon",   "auth",
                                         "syslog",       "lpr",    "news",   "uucp",     "cron",
                                         "authpriv",     "ftp",    "ntp",    "security", "console",
                                         "solaris-cron", "local0", "local1", "local2",   "local3",
                                         "local4",       "local5", "local6", "local7",   NULL};
static const char *const severities[] = {"emerg",  "alert", "crit",  "err",  "warning",
                                         "notice", "info",  "debug", "auto", NULL};
#define SEVERITY_AUTO 8

static const struct as_opt opts[] = {
    {"path", AS_OPT_STR, offsetof(struct syslog_notifier, path), "/dev/log", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "The syslog daemon's datagram socket."},
    {"format", AS_OPT_ENUM, offsetof(struct syslog_notifier, format), "rfc3164", AS_NO_BOUNDS, 0,
     formats,
     "rfc3164: as glibc's syslog() sends it (\"<PRI>Mmm dd hh:mm:ss ident[pid]: text\", local "
     "time); rfc5424: \"<PRI>1 TIMESTAMP HOST ident pid KIND - text\" (UTC)."},
    {"facility", AS_OPT_STR, offsetof(struct syslog_notifier, facility_name), "daemon",
     AS_NO_BOUNDS, 0, NULL,
     "kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, "
     "security, console, solaris-cron, or local0 to local7."},
    {"severity", AS_OPT_ENUM, offsetof(struct syslog_notifier, severity), "auto", AS_NO_BOUNDS, 0,
     severities,
     "The severity; auto: warning for scale_failed and source_failed, notice for above_max, "
     "below_min, too_rapid and fallback, info for the others."},
    {"ident", AS_OPT_STR, offsetof(struct syslog_notifier, ident), "autoscaler", AS_NO_BOUNDS,
     AS_OPT_NONEMPTY, NULL, "The tag (APP-NAME) of each message."},
    AS_OPT_END,
};

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct syslog_notifier *s = state;
    const char *file;
    int line, col;
    for (s->facility = 0; facilities[s->facility]; s->facility++)
        if (strcmp(facilities[s->facility], s->facility_name) == 0)
            break;
    if (facilities[s->facility] == NULL) {
        return as_err_key(err, map, "facility", "'facility': no facility '%s'", s->facility_name);
    }
    if (strlen(s->path) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
        for (const char *p = s->ident; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == '[' || *p == ':') {
                as_node_pos(map, "ident", &file, &line, &col);
                return as_err_at(err, file, line, col,
                                 "'ident' must be printable ASCII without spaces, '[' or ':'");
            }
        return 0;
    }
    return as_err_key(err, map, "path", "'path' is longer than a socket path may be");
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct syslog_notifier *s = state;
    s->ctx = *ctx;
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return as_err_set(err, "socket: %s", strerror(errno));
    return 0;
}

static int severity(const struct syslog_notifier *s, enum as_ev_kind kind)
{
    if (s->severity != SEVERITY_AUTO)
        return s->severity;
    switch (kind) {
    case AS_EV_SCALE_FAILED:
    case AS_EV_SOURCE_FAILED:
        return 4;
    case AS_EV_ABOVE_MAX:
    case AS_EV_BELOW_MIN:
    case AS_EV_TOO_RAPID:
    case AS_EV_FALLBACK:
        return 5;
    default:
        return 6;
    }
}

/* The header of the message (everything before the text) into buf; returns its length. */
static size_t header(const struct syslog_notifier *s, const struct as_ev *ev, char *buf, size_t len)
{
    int pri = s->facility * 8 + severity(s, ev->kind); /* the table's index is the code */
    time_t t = (time_t)(ev->time_ms / 1000);
    struct tm tm;
    char stamp[40], host[256];
    int n;
    if (s->format == 0) {
        if (localtime_r(&t, &tm) == NULL ||
            strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0)
            stamp[0] = '\0';
        n = snprintf(buf, len, "<%d>%s %s[%ld]: ", pri, stamp, s->ident, (long)getpid());
    } else {
        if (gmtime_r(&t, &tm) == NULL ||
            strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
            stamp[0] = '\0';
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "-");
        host[sizeof(host) - 1] = '\0';
        n = snprintf(buf, len, "<%d>1 %s.%03dZ %s %s %ld %s - ", pri, stamp,
                     (int)(ev->time_ms % 1000), host, s->ident, (long)getpid(),
                     as_ev_kind_name(ev->kind));
    }
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    struct syslog_notifier *s = state;
    char msg[MSG_MAX];
    size_t n = header(s, ev, msg, sizeof(msg));
    size_t body = strcspn(text, "\n"); /* one line */
    if (body > sizeof(msg) - n)
        body = sizeof(msg) - n;
    memcpy(msg + n, text, body);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
    struct as_notify_result r = {.ok = 1};
    if (sendto(s->fd, msg, n + body, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r.ok = 0;
        snprintf(r.error, sizeof(r.error), "%s: %s", s->path,
                 errno == EAGAIN ? "the socket is full" : strerror(errno));
    }
    if (as_defer_notify(s->ctx.loop, &s->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "notify/syslog[%s]: out of memory reporting a delivery", s->ctx.name);
}

static void cancel(void *state)
{
    struct syslog_notifier *s = state;
    as_defer_cancel(s->ctx.loop, &s->deferred);
}

static void stop(void *state)
{
    struct syslog_notifier *s = state;
    if (s->ctx.loop == NULL)
        return;
    cancel(s);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

const struct as_notifier_ops as_notifier_syslog = {
    .name = "syslog",
    .opts = opts,
    .state_size = sizeof(struct syslog_notifier),
    .summary = "Sends each event as one message to a local syslog socket (default /dev/log), "
               "RFC 3164 as glibc's syslog() or RFC 5424.",
    .template = "{{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}",
    .validate = validate,
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
