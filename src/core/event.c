#include "core/event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/loop.h"

static const char *const kinds[AS_EV_KINDS] = {
    "measurement", "scale",         "scale_failed", "below_min", "above_max",
    "too_rapid",   "source_failed", "recovered",    "fallback",  "paused",
};

const char *as_ev_kind_name(enum as_ev_kind kind)
{
    return (unsigned)kind < AS_EV_KINDS ? kinds[kind] : NULL;
}

int as_ev_kind_parse(const char *name)
{
    for (int i = 0; i < AS_EV_KINDS; i++)
        if (strcmp(kinds[i], name) == 0)
            return i;
    return -1;
}

void as_ev_init(struct as_ev *ev, enum as_ev_kind kind, const char *group, int64_t time_ms)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    snprintf(ev->group, sizeof(ev->group), "%s", group);
    ev->time_ms = time_ms;
    ev->from = ev->to = ev->wanted = ev->min = ev->max = -1;
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80                    ? 1
               : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, a surrogate, beyond U+10FFFF */
    return n;
}

/* Secrets masked, and every byte that is not valid UTF-8 (a response body in an error) or a
 * control character made a '?', so an event is always valid JSON text and one line. */
static void mask(char *s, size_t size)
{
    s[size - 1] = '\0';
    as_log_mask(s, strlen(s));
    for (unsigned char *p = (unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        if (n == 0 || *p < 0x20 || *p == 0x7f) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void as_ev_mask(struct as_ev *ev)
{
    mask(ev->group, sizeof(ev->group));
    mask(ev->metric, sizeof(ev->metric));
    mask(ev->reason, sizeof(ev->reason));
    for (size_t i = 0; i < ev->nmetrics && i < AS_EV_METRICS_MAX; i++)
        mask(ev->metrics[i].name, sizeof(ev->metrics[i].name));
}

void as_ev_reason(struct as_ev *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->reason, sizeof(ev->reason), fmt, ap);
    va_end(ap);
    as_ev_mask(ev);
}

/* ---- fields ---- */

static const char *const fields[] = {
    "group", "kind", "from",   "to",     "wanted",  "min",  "max",       "reason",   "summary",
    "time",  "unix", "metric", "values", "repeats", "host", "direction", "notifier", NULL,
};

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static int prefixed(const char *name, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len > n && memcmp(name, prefix, n) == 0;
}

int as_ev_field_known(const char *name, size_t len)
{
    for (size_t i = 0; fields[i]; i++)
        if (name_is(name, len, fields[i]))
            return 1;
    return prefixed(name, len, "value.") || prefixed(name, len, "target.");
}

static const char *count(int v, char *buf, size_t len)
{
    if (v < 0)
        return "";
    snprintf(buf, len, "%d", v);
    return buf;
}

/* "2026-11-22T23:59:01.123Z" */
static const char *rfc3339(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char t[32];
    if (gmtime_r(&s, &tm) == NULL || strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return "";
    snprintf(buf, len, "%s.%03dZ", t, (int)(ms % 1000));
    return buf;
}

/* "cpu=0.91 (target 0.8), queue=failed" */
static const char *values(const struct as_ev *ev, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ev->nmetrics && i < AS_EV_METRICS_MAX && o < len; i++) {
        const struct as_ev_metric *m = &ev->metrics[i];
        int n = snprintf(buf + o, len - o, "%s%s=", i ? ", " : "", m->name);
        if (n >= 0 && (size_t)n < len - o)
            n += m->ok ? snprintf(buf + o + n, len - o - n, "%.6g", m->value)
                       : snprintf(buf + o + n, len - o - n, "failed");
        if (n >= 0 && (size_t)n < len - o && m->target > 0)
            n += snprintf(buf + o + n, len - o - n, " (%s %.6g)",
                          m->avg ? "average_value" : "target", m->target);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    return buf;
}

static const struct as_ev_metric *metric_named(const struct as_ev *ev, const char *name, size_t len)
{
    for (size_t i = 0; i < ev->nmetrics && i < AS_EV_METRICS_MAX; i++)
        if (name_is(name, len, ev->metrics[i].name))
            return &ev->metrics[i];
    return NULL;
}

static const char *direction(const struct as_ev *ev)
{
    int to = ev->wanted >= 0 && (ev->kind == AS_EV_ABOVE_MAX || ev->kind == AS_EV_BELOW_MIN)
                 ? ev->wanted
                 : ev->to;
    if (ev->from < 0 || to < 0 || to == ev->from)
        return "";
    return to > ev->from ? "up" : "down";
}

static const char *per_metric(const struct as_ev *ev, const char *name, size_t len, char *buf,
                              size_t buflen)
{
    int target = prefixed(name, len, "target.");
    size_t skip = target ? 7 : 6;
    const struct as_ev_metric *m = metric_named(ev, name + skip, len - skip);
    if (m == NULL || (target && m->target <= 0))
        return "";
    if (!target && !m->ok)
        return "failed";
    snprintf(buf, buflen, "%.6g", target ? m->target : m->value);
    return buf;
}

const char *as_ev_field(void *arg, const char *name, size_t len, char *buf, size_t buflen)
{
    const struct as_ev_view *view = arg;
    const struct as_ev *ev = view->ev;
    if (prefixed(name, len, "value.") || prefixed(name, len, "target."))
        return per_metric(ev, name, len, buf, buflen);
    if (name_is(name, len, "group"))
        return ev->group;
    if (name_is(name, len, "kind"))
        return as_ev_kind_name(ev->kind);
    if (name_is(name, len, "from"))
        return count(ev->from, buf, buflen);
    if (name_is(name, len, "to"))
        return count(ev->to, buf, buflen);
    if (name_is(name, len, "wanted"))
        return count(ev->wanted, buf, buflen);
    if (name_is(name, len, "min"))
        return count(ev->min, buf, buflen);
    if (name_is(name, len, "max"))
        return count(ev->max, buf, buflen);
    if (name_is(name, len, "reason"))
        return ev->reason;
    if (name_is(name, len, "summary"))
        return as_ev_summary(ev, buf, buflen);
    if (name_is(name, len, "time"))
        return rfc3339(ev->time_ms, buf, buflen);
    if (name_is(name, len, "unix")) {
        snprintf(buf, buflen, "%lld", (long long)(ev->time_ms / 1000));
        return buf;
    }
    if (name_is(name, len, "metric"))
        return ev->metric;
    if (name_is(name, len, "values"))
        return values(ev, buf, buflen);
    if (name_is(name, len, "repeats")) {
        snprintf(buf, buflen, "%lu", ev->repeats);
        return buf;
    }
    if (name_is(name, len, "host"))
        return gethostname(buf, buflen) == 0 ? (buf[buflen - 1] = '\0', buf) : "";
    if (name_is(name, len, "direction"))
        return direction(ev);
    if (name_is(name, len, "notifier"))
        return view->notifier ? view->notifier : "";
    return "";
}

/* ---- the sentence ---- */

const char *as_ev_summary(const struct as_ev *ev, char *buf, size_t len)
{
    const char *g = ev->group;
    char v[1024];
    switch (ev->kind) {
    case AS_EV_MEASUREMENT:
        snprintf(buf, len, "%s: current %d, desired %d: %s", g, ev->from, ev->to,
                 values(ev, v, sizeof(v)));
        break;
    case AS_EV_SCALE:
        snprintf(buf, len, "%s: scaled %d -> %d", g, ev->from, ev->to);
        break;
    case AS_EV_SCALE_FAILED:
        snprintf(buf, len, "%s: scale %d -> %d failed: %s", g, ev->from, ev->to, ev->reason);
        break;
    case AS_EV_BELOW_MIN:
        snprintf(buf, len, "%s: wants %d, below min %d (current %d, desired %d)", g, ev->wanted,
                 ev->min, ev->from, ev->to);
        break;
    case AS_EV_ABOVE_MAX:
        snprintf(buf, len, "%s: wants %d, above max %d (current %d, desired %d)", g, ev->wanted,
                 ev->max, ev->from, ev->to);
        break;
    case AS_EV_TOO_RAPID:
        snprintf(buf, len, "%s: too rapid scaling: %d -> %d: %s", g, ev->from, ev->to, ev->reason);
        break;
    case AS_EV_SOURCE_FAILED:
        snprintf(buf, len, "%s: metric %s failed: %s", g, ev->metric, ev->reason);
        break;
    case AS_EV_RECOVERED:
        snprintf(buf, len, "%s: metric %s measured again (%s)", g, ev->metric, ev->reason);
        break;
    case AS_EV_FALLBACK:
        snprintf(buf, len, "%s: no valid metric: fallback to %d (current %d)", g, ev->to, ev->from);
        break;
    case AS_EV_PAUSED:
        snprintf(buf, len, "%s: paused: holding %d (would be %d)", g, ev->from, ev->to);
        break;
    default:
        snprintf(buf, len, "%s: event %d", g, (int)ev->kind);
        break;
    }
    return buf;
}

/* ---- JSON ---- */

static json_t *count_json(int v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *metrics_json(const struct as_ev *ev)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < ev->nmetrics && i < AS_EV_METRICS_MAX; i++) {
        const struct as_ev_metric *m = &ev->metrics[i];
        json_t *o = json_pack("{s:s, s:o}", "name", m->name, "value",
                              m->ok ? json_real(m->value) : json_null());
        if (o != NULL && m->target > 0)
            json_object_set_new(o, m->avg ? "average_value" : "target", json_real(m->target));
        if (o == NULL || json_array_append_new(list, o) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

json_t *as_ev_json(const struct as_ev *ev, const char *notifier, const char *text,
                   const char *text_key)
{
    char t[48], s[1024], host[256];
    struct as_ev_view view = {ev, notifier};
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:I, s:s, s:s}",
                  text_key, text, "group", ev->group, "kind", as_ev_kind_name(ev->kind), "unix",
                  (json_int_t)(ev->time_ms / 1000), "from", count_json(ev->from), "to",
                  count_json(ev->to), "wanted", count_json(ev->wanted), "min", count_json(ev->min),
                  "max", count_json(ev->max), "reason", ev->reason, "summary",
                  as_ev_summary(ev, s, sizeof(s)), "metrics", metrics_json(ev), "repeats",
                  (json_int_t)ev->repeats, "time", rfc3339(ev->time_ms, t, sizeof(t)), "host",
                  as_ev_field(&view, "host", 4, host, sizeof(host)));
    if (doc == NULL)
        return NULL;
    if ((ev->metric[0] && json_object_set_new(doc, "metric", json_string(ev->metric)) < 0) ||
        (notifier && json_object_set_new(doc, "notifier", json_string(notifier)) < 0)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- deferred results ---- */

struct deferred {
    struct as_timer **slot;
    as_notify_cb cb;
    struct as_notify_result r;
    void *arg;
};

static int64_t fire(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct deferred *d = arg;
    *d->slot = NULL;
    d->cb(&d->r, d->arg);
    free(d);
    return AS_TIMER_STOP;
}

int as_defer_notify(struct as_loop *loop, struct as_timer **slot, as_notify_cb cb,
                    const struct as_notify_result *r, void *arg)
{
    struct deferred *d = malloc(sizeof(*d));
    if (d == NULL)
        return -1;
    *d = (struct deferred){.slot = slot, .cb = cb, .r = *r, .arg = arg};
    *slot = as_loop_add_timer(loop, 0, fire, d);
    if (*slot != NULL)
        return 0;
    free(d);
    return -1;
}
