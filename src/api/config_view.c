/* A group's configuration in effect, as JSON, from the same option tables that parse it: every
 * key with its value (defaults included), durations as written ("15s"). Never shown: a key
 * flagged secret, anything a ${...} reference gave (or that holds a registered secret), the
 * userinfo of a URL, the value of a header whose name says it carries a credential. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/redact.h"
#include "core/behavior.h"
#include "core/decide.h"

/* The text of a string value as shown: redacted, or with a URL's userinfo cut. */
static json_t *text_json(const struct as_config *cfg, const char *s, int secret)
{
    if (s == NULL)
        return json_null();
    if (secret || as_redact_needed(cfg, s))
        return json_string(AS_REDACTED);
    const char *scheme = strstr(s, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (at == NULL || (slash != NULL && slash < at))
        return json_string(s);
    char *cut = malloc(strlen(s) + sizeof(AS_REDACTED) + 1);
    if (cut == NULL)
        return json_string(AS_REDACTED);
    snprintf(cut, strlen(s) + sizeof(AS_REDACTED) + 1, "%.*s%s%s", (int)(scheme + 3 - s), s,
             AS_REDACTED, at);
    json_t *v = json_string(cut);
    free(cut);
    return v;
}

/* A number as shown, unless a reference gave it (its text is a reference's value). */
static json_t *number_json(const struct as_config *cfg, json_t *v, const char *text)
{
    if (!as_redact_needed(cfg, text))
        return v;
    json_decref(v);
    return json_string(AS_REDACTED);
}

static int credential_header(const char *name, size_t len)
{
    static const char *const words[] = {"auth",   "token", "key",     "secret",
                                        "cookie", "pass",  "session", "signature"};
    char lower[128];
    size_t n = len < sizeof(lower) - 1 ? len : sizeof(lower) - 1;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(lower, words[i]) != NULL)
            return 1;
    return 0;
}

static json_t *headers_json(const struct as_config *cfg, char *const *list, int secret)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && list && list[i]; i++) {
        const char *colon = strchr(list[i], ':');
        size_t n = colon ? (size_t)(colon - list[i]) : strlen(list[i]);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)n, list[i]);
        const char *value = colon ? colon + 1 : "";
        while (*value == ' ')
            value++;
        int hide = secret || credential_header(name, n) || as_redact_needed(cfg, list[i]);
        json_object_set_new(o, as_redact_needed(cfg, name) ? AS_REDACTED : name,
                            hide ? json_string(AS_REDACTED) : text_json(cfg, value, 0));
    }
    return o;
}

static json_t *opt_json(const struct as_config *cfg, const struct as_opt *o, const void *base)
{
    const char *p = (const char *)base + o->offset;
    int secret = (o->flags & AS_OPT_SECRET) != 0;
    char text[64], d[32];
    switch (o->type) {
    case AS_OPT_STR:
        return text_json(cfg, *(char *const *)p, secret && *(char *const *)p != NULL);
    case AS_OPT_INT:
        snprintf(text, sizeof(text), "%d", *(const int *)p);
        return number_json(cfg, json_integer(*(const int *)p), text);
    case AS_OPT_DOUBLE:
        snprintf(text, sizeof(text), "%g", *(const double *)p);
        return number_json(
            cfg, isfinite(*(const double *)p) ? json_real(*(const double *)p) : json_null(), text);
    case AS_OPT_BOOL:
        return number_json(cfg, json_boolean(*(const int *)p), *(const int *)p ? "true" : "false");
    case AS_OPT_DURATION:
        as_duration_fmt(*(const int64_t *)p, d, sizeof(d));
        return text_json(cfg, d, 0);
    case AS_OPT_ENUM: {
        int i = *(const int *)p;
        return text_json(cfg, o->enums && i >= 0 ? o->enums[i] : "", 0);
    }
    case AS_OPT_STRLIST: {
        json_t *a = json_array();
        char *const *list = *(char *const *const *)p;
        for (size_t i = 0; a != NULL && list && list[i]; i++)
            json_array_append_new(a, text_json(cfg, list[i], secret));
        return a;
    }
    case AS_OPT_HEADERS:
        return headers_json(cfg, *(char *const *const *)p, secret);
    }
    return json_null();
}

/* Every option of a table into obj (keys already there are kept: the section's own come
 * first). */
static json_t *opts_into(json_t *obj, const struct as_config *cfg, const struct as_opt *opts,
                         const void *base)
{
    for (size_t i = 0; obj != NULL && opts && opts[i].name; i++)
        if (json_object_get(obj, opts[i].name) == NULL)
            json_object_set_new(obj, opts[i].name, opt_json(cfg, &opts[i], base));
    return obj;
}

static json_t *tod_json(const struct as_tod *tod)
{
    json_t *o = json_object();
    char hm[8];
    for (int i = 0; o != NULL && i < tod->n; i++) {
        snprintf(hm, sizeof(hm), "%02d:%02d", tod->minute[i] / 60 % 24, tod->minute[i] % 60);
        json_object_set_new(o, hm, json_integer(tod->count[i]));
    }
    return o;
}

static json_t *rules_json(const struct as_rules *r)
{
    static const char *const selects[] = {"max", "min", "disabled"};
    char d[32];
    json_t *pol = json_array();
    for (int i = 0; pol != NULL && i < r->npolicies; i++) {
        const struct as_rate_policy *p = &r->policies[i];
        json_array_append_new(pol,
                              json_pack("{s:i, s:s}", p->percent ? "percent" : "replicas", p->value,
                                        "period", as_duration_fmt(p->period_ms, d, sizeof(d))));
    }
    char s[32];
    return json_pack("{s:s, s:s, s:o}", "stabilization",
                     as_duration_fmt(r->stabilization_ms, s, sizeof(s)), "select",
                     selects[r->select <= AS_SELECT_DISABLED ? r->select : 0], "policies", pol);
}

static json_t *behavior_json(const struct as_behavior *b)
{
    if (b->off)
        return json_string("off");
    return json_pack("{s:o, s:o}", "scale_up", rules_json(&b->up), "scale_down",
                     rules_json(&b->down));
}

static json_t *metrics_json(const struct as_config *cfg, const struct as_group_cfg *g)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < g->nmetrics; i++) {
        const struct as_metric_cfg *m = &g->metrics[i];
        json_t *o = opts_into(json_object(), cfg, as_metric_opts, m);
        if (o != NULL && m->target <= 0)
            json_object_set_new(o, "target", json_null());
        if (o != NULL && m->average_value <= 0)
            json_object_set_new(o, "average_value", json_null());
        if (o != NULL && !m->has_activation)
            json_object_set_new(o, "activation", json_null());
        json_array_append_new(a, opts_into(o, cfg, m->ops->opts, m->state));
    }
    return a;
}

static json_t *scaler_json(const struct as_config *cfg, const struct as_scaler_cfg *s)
{
    char b[32], bm[32], t[32];
    json_t *o =
        json_pack("{s:o, s:i, s:s, s:s, s:s}", "type", text_json(cfg, s->type, 0), "retries",
                  s->retries, "backoff", as_duration_fmt(s->backoff_ms, b, sizeof(b)),
                  "backoff_max", as_duration_fmt(s->backoff_max_ms, bm, sizeof(bm)), "timeout",
                  as_duration_fmt(s->timeout_ms, t, sizeof(t)));
    return opts_into(o, cfg, s->ops->opts, s->state);
}

static json_t *schedules_json(const struct as_config *cfg, const struct as_group_cfg *g)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < g->nschedules; i++)
        json_array_append_new(a, opts_into(json_object(), cfg, as_schedule_opts, &g->schedules[i]));
    return a;
}

json_t *as_api_config_json(const struct as_config *cfg, const struct as_group_cfg *g)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    opts_into(o, cfg, as_group_opts, g);
    if (g->min_tod != NULL)
        json_object_set_new(o, "min", tod_json(g->min_tod));
    if (g->max_tod != NULL)
        json_object_set_new(o, "max", tod_json(g->max_tod));
    json_object_set_new(o, "metrics", metrics_json(cfg, g));
    json_object_set_new(o, "scaler", scaler_json(cfg, &g->scaler));
    json_object_set_new(o, "policy",
                        opts_into(json_pack("{s:s}", "type", g->policy->name), cfg, g->policy->opts,
                                  g->policy_cfg));
    json_object_set_new(o, "behavior", behavior_json(&g->behavior));
    if (g->fallback.after > 0)
        json_object_set_new(o, "fallback",
                            opts_into(json_object(), cfg, as_fallback_opts, &g->fallback));
    if (g->too_rapid.within_ms > 0)
        json_object_set_new(o, "too_rapid",
                            opts_into(json_object(), cfg, as_too_rapid_opts, &g->too_rapid));
    if (g->nschedules > 0)
        json_object_set_new(o, "schedules", schedules_json(cfg, g));
    return o;
}
