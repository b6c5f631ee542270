/* GET /metrics: the Prometheus text exposition format 0.0.4 (docs/api.md lists every family).
 * Names and labels follow Prometheus' conventions: a unit suffix in the plural (`_replicas`,
 * `_seconds`, `_bytes`), `_total` on counters, label values of bounded cardinality (the group,
 * the metric, a notifier, a reason class, never a free text). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "api/procself.h"
#include "config/notify_cfg.h"
#include "drivers/status.h"
#include "util/util.h"

struct out {
    struct as_sb sb;
    int bad; /* out of memory */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf) || as_sb_append(&o->sb, buf, (size_t)n) < 0)
        o->bad = 1;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \ " and newline escaped. */
static const char *esc(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[o++] = '\\';
            buf[o++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* A sample value as Go's strconv.ParseFloat reads it. */
static const char *num(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else /* the shortest form that reads back the same */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    return buf;
}

/* ---- the groups: each family over every group, one group at a time ---- */

struct fam;
typedef double (*group_value_fn)(const struct as_group_view *v, int *skip);
typedef void (*group_lines_fn)(struct out *o, const struct fam *f, const struct as_group_view *v);

enum metric_field { M_VALUE, M_TARGET, M_UP, M_LAST_OK, M_MEASUREMENTS, M_FAILURES, M_SKIPPED };

struct fam {
    const char *name, *type, *help;
    group_lines_fn lines;    /* a group's samples of the family */
    group_value_fn value;    /* group_line's */
    enum metric_field field; /* metric_lines' */
};

static double current(const struct as_group_view *v, int *skip)
{
    *skip = v->current < 0;
    return v->current;
}
static double desired(const struct as_group_view *v, int *skip)
{
    *skip = !v->decided;
    return v->last.desired;
}
static double min_of(const struct as_group_view *v, int *skip)
{
    *skip = 0;
    return v->min;
}
static double max_of(const struct as_group_view *v, int *skip)
{
    *skip = 0;
    return v->max;
}
static double paused(const struct as_group_view *v, int *skip)
{
    *skip = 0;
    return v->paused;
}
static double override(const struct as_group_view *v, int *skip)
{
    *skip = v->override < 0;
    return v->override;
}
static double last_decision(const struct as_group_view *v, int *skip)
{
    *skip = !v->decided;
    return (double)v->last.t / 1000.0;
}
static double last_round(const struct as_group_view *v, int *skip)
{
    *skip = v->rounds == 0;
    return v->last_round_s;
}

#define COUNTER(field)                                                                             \
    static double c_##field(const struct as_group_view *v, int *skip)                              \
    {                                                                                              \
        *skip = 0;                                                                                 \
        return (double)v->n->field;                                                                \
    }
COUNTER(rounds)
COUNTER(rounds_skipped)
COUNTER(scale_failures)
COUNTER(scale_ineffective)
COUNTER(count_failures)
COUNTER(count_implausible)
COUNTER(count_unconfirmed)
COUNTER(deadline_exceeded)
COUNTER(state_write_errors)

static void group_line(struct out *o, const struct fam *f, const struct as_group_view *v)
{
    char e[256], nb[64];
    int skip;
    double x = f->value(v, &skip);
    if (!skip)
        put(o, "%s{group=\"%s\"} %s\n", f->name, esc(v->name, e, sizeof(e)),
            num(x, nb, sizeof(nb)));
}

static void scale_event_lines(struct out *o, const struct fam *f, const struct as_group_view *v)
{
    (void)f;
    char e[256];
    esc(v->name, e, sizeof(e));
    put(o, "autoscaler_scale_events_total{group=\"%s\",direction=\"up\"} %llu\n", e,
        (unsigned long long)v->n->scale_ups);
    put(o, "autoscaler_scale_events_total{group=\"%s\",direction=\"down\"} %llu\n", e,
        (unsigned long long)v->n->scale_downs);
}

static void decision_lines(struct out *o, const struct fam *f, const struct as_group_view *v)
{
    (void)f;
    char e[256];
    for (unsigned out = 0; out < AS_OUTCOMES; out++)
        for (unsigned c = 0; c < AS_RC_CLASSES; c++)
            if (v->by_class[out][c] > 0)
                put(o,
                    "autoscaler_decisions_total{group=\"%s\",outcome=\"%s\",reason=\"%s\"} "
                    "%llu\n",
                    esc(v->name, e, sizeof(e)), as_outcome_name(out), as_reason_class_name(c),
                    (unsigned long long)v->by_class[out][c]);
}

static void metric_lines(struct out *o, const struct fam *f, const struct as_group_view *v)
{
    char e[256], m[256], nb[64];
    for (size_t k = 0; k < v->nmetrics; k++) {
        struct as_metric_view mv;
        as_status_metric(v, k, &mv);
        double x = f->field == M_VALUE          ? mv.value
                   : f->field == M_TARGET       ? mv.target
                   : f->field == M_UP           ? mv.ok
                   : f->field == M_LAST_OK      ? (double)mv.last_ok_ms / 1000.0
                   : f->field == M_MEASUREMENTS ? (double)mv.n->measurements
                   : f->field == M_FAILURES     ? (double)mv.n->failures
                                                : (double)mv.n->skipped;
        if ((f->field == M_VALUE && !mv.ok) || (f->field == M_TARGET && !mv.has_target) ||
            (f->field == M_UP && !mv.measured) || (f->field == M_LAST_OK && mv.last_ok_ms == 0))
            continue;
        put(o, "%s{group=\"%s\",metric=\"%s\"} %s\n", f->name, esc(v->name, e, sizeof(e)),
            esc(mv.name, m, sizeof(m)), num(x, nb, sizeof(nb)));
    }
}

#define GAUGE(name, help, fn)                                                                      \
    {                                                                                              \
        name, "gauge", help, group_line, fn, 0                                                     \
    }
#define COUNTS(name, help, fn)                                                                     \
    {                                                                                              \
        name, "counter", help, group_line, fn, 0                                                   \
    }
#define METRIC(name, type, help, field)                                                            \
    {                                                                                              \
        name, type, help, metric_lines, NULL, field                                                \
    }

/* In the order they are written. */
static const struct fam group_fams[] = {
    GAUGE("autoscaler_group_replicas", "Replicas now (the last trusted count).", current),
    GAUGE("autoscaler_group_desired_replicas", "Replicas the last decision called for.", desired),
    GAUGE("autoscaler_group_min_replicas", "The min in effect now (schedules applied).", min_of),
    GAUGE("autoscaler_group_max_replicas", "The max in effect now (schedules applied).", max_of),
    GAUGE("autoscaler_group_paused", "1 while the group is paused (configuration or API).", paused),
    GAUGE("autoscaler_group_override_replicas",
          "The manual count in effect (configuration or API), when there is one.", override),
    GAUGE("autoscaler_group_last_decision_timestamp_seconds",
          "When the group last decided (Unix time).", last_decision),
    GAUGE("autoscaler_group_last_round_duration_seconds",
          "How long the group's last finished round took.", last_round),
    COUNTS("autoscaler_rounds_total", "Rounds started.", c_rounds),
    COUNTS("autoscaler_rounds_skipped_total",
           "Ticks skipped because the previous round was still running.", c_rounds_skipped),
    COUNTS("autoscaler_scaler_errors_total", "Scale calls that failed (each attempt).",
           c_scale_failures),
    COUNTS("autoscaler_scale_ineffective_total",
           "Scale calls that answered OK and changed nothing.", c_scale_ineffective),
    COUNTS("autoscaler_count_read_failures_total", "Rounds whose replica count could not be read.",
           c_count_failures),
    COUNTS("autoscaler_count_implausible_total", "Counts read above count_max (a failed read).",
           c_count_implausible),
    COUNTS("autoscaler_count_unconfirmed_total",
           "Rounds held for a changed count not yet confirmed.", c_count_unconfirmed),
    COUNTS("autoscaler_deadline_exceeded_total", "Backend calls cancelled at their deadline.",
           c_deadline_exceeded),
    COUNTS("autoscaler_state_write_errors_total", "Durable state writes of the group that failed.",
           c_state_write_errors),
    {"autoscaler_scale_events_total", "counter", "Scales known to have landed, by direction.",
     scale_event_lines, NULL, 0},
    {"autoscaler_decisions_total", "counter",
     "Decisions by outcome (up, down, hold) and reason class (policy, max, min, bounds, "
     "no_recommendation, fallback, paused, override); the reason itself is in /api/v1.",
     decision_lines, NULL, 0},
    METRIC("autoscaler_metric_value", "gauge",
           "The metric's last successful measurement (absent while it fails).", M_VALUE),
    METRIC("autoscaler_metric_target", "gauge", "The metric's target, or its average_value.",
           M_TARGET),
    METRIC("autoscaler_metric_up", "gauge", "1 when the metric's last measurement succeeded.",
           M_UP),
    METRIC("autoscaler_last_successful_measurement_timestamp_seconds", "gauge",
           "When the metric was last measured successfully (Unix time).", M_LAST_OK),
    METRIC("autoscaler_measurements_total", "counter",
           "Measurements attempted since the group's configuration was applied.", M_MEASUREMENTS),
    METRIC("autoscaler_source_errors_total", "counter",
           "Measurements that failed (deadline included) since the configuration was applied.",
           M_FAILURES),
    METRIC("autoscaler_measurements_skipped_total", "counter",
           "Rounds without a measurement while the source backed off.", M_SKIPPED),
};

/* ---- notifiers ---- */

enum notify_field { N_EVENTS, N_DELIVERED, N_FAILED, N_GAVE_UP, N_DROPPED, N_HELD };

struct notify_pass {
    struct out *o;
    const char *name;
    enum notify_field f;
};

static void one_notifier(const char *name, const char *type, const struct as_notify_counters *c,
                         void *arg)
{
    struct notify_pass *p = arg;
    char e[256], t[64];
    uint64_t v = p->f == N_EVENTS      ? c->events
                 : p->f == N_DELIVERED ? c->delivered
                 : p->f == N_FAILED    ? c->failed
                 : p->f == N_GAVE_UP   ? c->gave_up
                 : p->f == N_DROPPED   ? c->dropped
                                       : c->held;
    put(p->o, "%s{notifier=\"%s\",type=\"%s\"} %llu\n", p->name, esc(name, e, sizeof(e)),
        esc(type, t, sizeof(t)), (unsigned long long)v);
}

static void notifier_families(struct out *o, struct as_engine *eng)
{
    static const struct {
        const char *name, *help;
        enum notify_field f;
    } fams[] = {
        {"autoscaler_notifier_events_total", "Events the notifier took.", N_EVENTS},
        {"autoscaler_notifier_deliveries_total", "Deliveries that succeeded.", N_DELIVERED},
        {"autoscaler_notifier_errors_total", "Delivery attempts that failed.", N_FAILED},
        {"autoscaler_notifier_gave_up_total", "Events given up after their last attempt.",
         N_GAVE_UP},
        {"autoscaler_notifier_dropped_total", "Events dropped (queue full, not started, shutdown).",
         N_DROPPED},
        {"autoscaler_notifier_held_total", "Events held back by the rate limit.", N_HELD},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(fams); i++) {
        struct notify_pass p = {o, fams[i].name, fams[i].f};
        family(o, fams[i].name, "counter", fams[i].help);
        as_status_notifiers(eng, one_notifier, &p);
    }
}

/* ---- the daemon and the process ---- */

static void hist(struct out *o, const char *name, const struct as_round_hist *h)
{
    char nb[64];
    for (size_t i = 0; i < AS_ROUND_BUCKETS; i++)
        put(o, "%s_bucket{le=\"%s\"} %llu\n", name, num(as_round_bounds[i], nb, sizeof(nb)),
            (unsigned long long)h->le[i]);
    put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    put(o, "%s_sum %s\n", name, num(h->sum, nb, sizeof(nb)));
    put(o, "%s_count %llu\n", name, (unsigned long long)h->count);
}

/* Backpressure (docs/performance.md). */
static void load_families(struct out *o, struct as_engine *eng)
{
    struct as_engine_load l;
    char nb[64];
    as_engine_load(eng, &l);
    family(o, "autoscaler_overloaded", "gauge",
           "1 while rounds wait for a measuring slot (the last 5 s window), else 0.");
    put(o, "autoscaler_overloaded %d\n", l.overloaded);
    family(o, "autoscaler_rounds_measuring", "gauge", "Rounds measuring now.");
    put(o, "autoscaler_rounds_measuring %zu\n", l.measuring);
    family(o, "autoscaler_rounds_measuring_max", "gauge",
           "At most this many rounds measure at once (rounds_in_flight).");
    put(o, "autoscaler_rounds_measuring_max %zu\n", l.max);
    family(o, "autoscaler_rounds_waiting", "gauge", "Groups due that wait for a measuring slot.");
    put(o, "autoscaler_rounds_waiting %zu\n", l.waiting);
    family(o, "autoscaler_round_rate", "gauge",
           "Rounds started per second over the last 5 s window.");
    put(o, "autoscaler_round_rate %s\n", num(l.rate, nb, sizeof(nb)));
    family(o, "autoscaler_round_rate_configured", "gauge",
           "Rounds per second the configuration asks for (each group once per interval).");
    put(o, "autoscaler_round_rate_configured %s\n", num(l.configured, nb, sizeof(nb)));
    family(o, "autoscaler_rounds_delayed_total", "counter",
           "Rounds that waited for a measuring slot before they started.");
    put(o, "autoscaler_rounds_delayed_total %llu\n", (unsigned long long)l.delayed);
    family(o, "autoscaler_ticks_coalesced_total", "counter",
           "Ticks that came while the group waited or was in its round (no round of their own).");
    put(o, "autoscaler_ticks_coalesced_total %llu\n", (unsigned long long)l.coalesced);
    family(o, "autoscaler_round_start_delay_seconds", "histogram",
           "How long a round waited for a measuring slot after its tick (0: none).");
    hist(o, "autoscaler_round_start_delay_seconds", l.wait);
    family(o, "autoscaler_tick_lateness_seconds", "histogram",
           "How late groups' ticks ran after they were due: the event loop's own delay.");
    hist(o, "autoscaler_tick_lateness_seconds", l.lateness);
    family(o, "autoscaler_http_calls_waited_for_host_total", "counter",
           "HTTP calls that waited because calls_per_host calls to their host were in flight.");
    put(o, "autoscaler_http_calls_waited_for_host_total %llu\n", (unsigned long long)l.host_waits);
    family(o, "autoscaler_http_calls_total", "counter",
           "HTTP calls started, by client: plain (the daemon's own HTTP/1.1 connections, "
           "plain_http) or libcurl.");
    put(o, "autoscaler_http_calls_total{client=\"plain\"} %llu\n",
        (unsigned long long)l.plain_calls);
    put(o, "autoscaler_http_calls_total{client=\"libcurl\"} %llu\n",
        (unsigned long long)l.curl_calls);
}

static void daemon_families(struct out *o, struct as_engine *eng)
{
    struct as_engine_view ev;
    char nb[64];
    as_status_engine(eng, &ev);
    family(o, "autoscaler_build_info", "gauge", "Always 1; the version as a label.");
    put(o, "autoscaler_build_info{version=\"%s\"} 1\n", AS_VERSION);
    family(
        o, "autoscaler_ready", "gauge",
        "1 once every group finished its first round (as /readyz), 0 before and while stopping.");
    put(o, "autoscaler_ready %d\n", ev.waiting == 0 && !ev.stopping);
    family(o, "autoscaler_groups", "gauge", "Groups running.");
    put(o, "autoscaler_groups %zu\n", ev.ngroups);
    family(o, "autoscaler_daemon_state_write_errors_total", "counter",
           "Every failed state write, whichever group's.");
    put(o, "autoscaler_daemon_state_write_errors_total %llu\n",
        (unsigned long long)ev.state_write_errors);
    family(o, "autoscaler_round_duration_seconds", "histogram",
           "How long rounds take, from the tick to the end of the scale (every group).");
    for (size_t i = 0; i < AS_ROUND_BUCKETS; i++)
        put(o, "autoscaler_round_duration_seconds_bucket{le=\"%s\"} %llu\n",
            num(as_round_bounds[i], nb, sizeof(nb)), (unsigned long long)ev.rounds->le[i]);
    put(o, "autoscaler_round_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)ev.rounds->count);
    put(o, "autoscaler_round_duration_seconds_sum %s\n", num(ev.rounds->sum, nb, sizeof(nb)));
    put(o, "autoscaler_round_duration_seconds_count %llu\n", (unsigned long long)ev.rounds->count);
    load_families(o, eng);
}

static void process_families(struct out *o)
{
    struct as_procself p;
    char nb[64];
    if (as_procself_read(&p) < 0)
        return;
    family(o, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    put(o, "process_cpu_seconds_total %s\n", num(p.cpu_seconds, nb, sizeof(nb)));
    family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    put(o, "process_resident_memory_bytes %llu\n", (unsigned long long)p.rss_bytes);
    family(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    put(o, "process_virtual_memory_bytes %llu\n", (unsigned long long)p.vsize_bytes);
    family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
    put(o, "process_open_fds %ld\n", p.open_fds);
    family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    put(o, "process_max_fds %ld\n", p.max_fds);
    family(o, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    put(o, "process_start_time_seconds %s\n", num(p.start_seconds, nb, sizeof(nb)));
}

/* ---- the answer, written as the client reads it ---- */

/* The daemon's families, then each of group_fams over the groups, then the notifiers' and the
 * process': at 10,000 groups the answer is 15 MB, and built whole it took as much memory at
 * each scrape (the heap kept 4 MB of it). Written a piece at a time (a family's header, one
 * group's samples of it), only what the client's connection has room for is held. The
 * groups are the list taken at the start, by name; a group freed since (a reload removed
 * it) makes the stream take the list again and go on after the last group written, so each
 * family lists every group at most once, in order. */
struct as_metrics_stream {
    struct as_engine *eng;
    struct as_status_groups groups;
    size_t step;   /* 0: the daemon's families; 1..AS_ARRAY_LEN(group_fams): group_fams[step - 1];
                      then the   notifiers' and the process'; then the end */
    size_t next;   /* in a family: the group to write next */
    int begun;     /* in a family: its header is written */
    char last[64]; /* in a family: the group written last ("": none; names are 1-63 bytes) */
    struct out o;  /* written, from o.sb.buf + sent on not yet read */
    size_t sent;
};

#define STEP_REST (AS_ARRAY_LEN(group_fams) + 1)

/* The list again after a group was freed: the next group is the first after the last one
 * written. */
static int groups_again(struct as_metrics_stream *s)
{
    as_status_groups_free(&s->groups);
    if (as_status_groups(s->eng, &s->groups) < 0)
        return -1;
    s->next = 0;
    while (s->last[0] && s->next < s->groups.n &&
           strcmp(as_status_groups_name(&s->groups, s->next), s->last) <= 0)
        s->next++;
    return 0;
}

/* Writes the next piece. */
static void piece(struct as_metrics_stream *s)
{
    if (s->step == 0) {
        daemon_families(&s->o, s->eng);
        s->step++;
        return;
    }
    if (s->step == STEP_REST) {
        notifier_families(&s->o, s->eng);
        process_families(&s->o);
        s->step++;
        return;
    }
    const struct fam *f = &group_fams[s->step - 1];
    struct as_group_view v;
    if (!s->begun) {
        family(&s->o, f->name, f->type, f->help);
        s->begun = 1;
    }
    while (s->next < s->groups.n && as_status_groups_view(&s->groups, s->next, &v) < 0)
        s->next++; /* stopped since the list was taken */
    if (s->next < s->groups.n) {
        f->lines(&s->o, f, &v);
        snprintf(s->last, sizeof(s->last), "%s", v.name);
        s->next++;
    }
    if (s->next >= s->groups.n) {
        s->step++;
        s->next = 0;
        s->begun = 0;
        s->last[0] = '\0';
    }
}

struct as_metrics_stream *as_metrics_open(struct as_engine *eng)
{
    struct as_metrics_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->eng = eng;
    if (as_status_groups(eng, &s->groups) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

ssize_t as_metrics_read(struct as_metrics_stream *s, char *buf, size_t max)
{
    struct as_sb *sb = &s->o.sb;
    if (s->sent > 0) { /* what is left of the last piece goes first */
        memmove(sb->buf, sb->buf + s->sent, sb->len - s->sent);
        sb->len -= s->sent;
        s->sent = 0;
    }
    while (sb->len < max && s->step <= STEP_REST) {
        if (!as_status_groups_valid(s->eng, &s->groups) && groups_again(s) < 0)
            return -1;
        piece(s);
        if (s->o.bad)
            return -1;
    }
    size_t n = sb->len < max ? sb->len : max;
    if (n > 0)
        memcpy(buf, sb->buf, n);
    s->sent = n;
    return (ssize_t)n;
}

void as_metrics_close(struct as_metrics_stream *s)
{
    if (s == NULL)
        return;
    as_status_groups_free(&s->groups);
    as_sb_free(&s->o.sb);
    free(s);
}

void as_api_metrics(struct as_engine *eng, struct as_api_reply *r)
{
    struct as_metrics_stream *s = as_metrics_open(eng);
    if (s == NULL) {
        as_api_error(r, 500, "out of memory");
        return;
    }
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->stream = s;
    r->status = 200;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}
