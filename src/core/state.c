#include "core/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AS_STAMPS_MAX 100000 /* a bound on what a file may ask us to allocate */

/* ---- to JSON ---- */

static json_t *stamps_json(const struct as_stamps *s, int with_outdated)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++) {
        json_t *e = with_outdated ? json_pack("[I,i,b]", (json_int_t)s->v[i].t, s->v[i].value,
                                              s->v[i].outdated)
                                  : json_pack("[I,i]", (json_int_t)s->v[i].t, s->v[i].value);
        if (e == NULL || json_array_append_new(a, e) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *history_json(const struct as_group_state *st)
{
    json_t *history = json_array(); /* oldest first */
    for (size_t i = st->history.n; history && i-- > 0;) {
        const struct as_event *e = as_history_get(st, i);
        if (json_array_append_new(history, json_pack("[I,i,i,s]", (json_int_t)e->t, e->from, e->to,
                                                     e->reason ? e->reason : "")) < 0) {
            json_decref(history);
            return NULL;
        }
    }
    return history;
}

/* "api": {"paused": B, "paused_at": T, "override": N|null, "override_at": T}, only when the
 * API paused the group or set its count. 0 or -1 on ENOMEM. */
static int api_json(const struct as_group_state *st, json_t *doc)
{
    if (!st->api_paused && !st->api_override_set)
        return 0;
    json_t *api = json_pack("{s:b, s:I, s:o, s:I}", "paused", st->api_paused, "paused_at",
                            (json_int_t)st->api_paused_at, "override",
                            st->api_override_set ? json_integer(st->api_override) : json_null(),
                            "override_at", (json_int_t)st->api_override_at);
    return json_object_set_new(doc, "api", api);
}

/* The members added after version 1's; 0 or -1 on ENOMEM. */
static int extras_json(const struct as_group_state *st, json_t *doc)
{
    json_t *pending =
        st->pending ? json_pack("[I,i,i]", (json_int_t)st->intent.t, st->intent.from, st->intent.to)
                    : json_null();
    return json_object_set_new(doc, "history", history_json(st)) |
           json_object_set_new(doc, "idle", json_boolean(st->idle)) |
           json_object_set_new(doc, "last_up_ms",
                               json_integer(st->scaled_up ? st->last_up_ms : -1)) |
           json_object_set_new(doc, "count", json_integer(st->count_known ? st->count : -1)) |
           json_object_set_new(doc, "pending", pending) | api_json(st, doc);
}

json_t *as_state_to_json(const struct as_group_cfg *g, const struct as_group_state *st,
                         int64_t now_ms, int64_t wall_ms)
{
    json_t *scales = json_array(), *policy = json_object(), *deltas = json_array();
    for (int i = 0; scales && deltas && st->scales && i < st->nscales && i < AS_SCALES_KEPT; i++) {
        json_array_append_new(scales, json_integer(st->scales->t[i]));
        json_array_append_new(deltas, json_integer(st->scales->delta[i]));
    }
    json_t *doc = json_pack(
        "{s:i, s:s, s:I, s:I, s:b, s:o, s:o, s:o, s:I, s:i, s:I, s:o, s:s}", "version",
        AS_STATE_VERSION, "group", g->name, "saved_ms", (json_int_t)now_ms, "saved_wall_ms",
        (json_int_t)wall_ms, "seeded", st->seeded, "recommendations", stamps_json(&st->recs, 0),
        "scale_up_events", stamps_json(&st->up, 1), "scale_down_events", stamps_json(&st->down, 1),
        "last_scale_ms", (json_int_t)st->last_scale_ms, "failures", st->failures, "idle_since_ms",
        (json_int_t)st->idle_since_ms, "scales", scales, "policy_type", g->policy->name);
    if (doc != NULL && (deltas == NULL || json_object_set(doc, "scale_deltas", deltas) < 0 ||
                        extras_json(st, doc) < 0)) {
        json_decref(doc);
        doc = NULL;
    }
    if (doc != NULL && policy != NULL && g->policy->save && st->policy != NULL &&
        g->policy->save(g->policy_cfg, st->policy, policy) == 0)
        json_object_set(doc, "policy", policy);
    json_decref(policy);
    json_decref(deltas);
    return doc;
}

/* ---- from JSON: every number range-checked, every stamp moved ---- */

struct reader {
    struct as_restore *r;
    int bad; /* something out of range: the whole document is rejected */
};

/* An integer member or array element within [lo, hi]; sets rd->bad otherwise. */
static int64_t int_in(struct reader *rd, const json_t *v, int64_t lo, int64_t hi)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        rd->bad = 1;
        return lo;
    }
    return json_integer_value(v);
}

/* A stamp from the file, moved by the shift and clamped to [0, now]. */
static int64_t stamp(struct reader *rd, const json_t *v)
{
    int64_t t = int_in(rd, v, 0, AS_TIME_MAX) + rd->r->shift_ms;
    if (t > rd->r->now_ms) {
        rd->r->clamped++;
        t = rd->r->now_ms;
    }
    return t < 0 ? 0 : t;
}

static int count_in(struct reader *rd, const json_t *v, int lo)
{
    return (int)int_in(rd, v, lo, AS_COUNT_MAX);
}

static int stamps_from(struct reader *rd, const json_t *a, struct as_stamps *s, int events)
{
    if (!json_is_array(a) || json_array_size(a) > AS_STAMPS_MAX)
        return -1;
    size_t n = json_array_size(a);
    s->v = n ? calloc(n, sizeof(*s->v)) : NULL;
    if (n && s->v == NULL)
        return -1;
    s->n = s->cap = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(a, i);
        if (!json_is_array(e) || json_array_size(e) != (events ? 3u : 2u) ||
            (events && !json_is_boolean(json_array_get(e, 2))))
            return -1;
        s->v[i] = (struct as_stamp){stamp(rd, json_array_get(e, 0)),
                                    count_in(rd, json_array_get(e, 1), 0),
                                    events && json_is_true(json_array_get(e, 2))};
    }
    return rd->bad ? -1 : 0;
}

/* The shift that makes the time on disk the wall clock's (see state.h); version 1 files
 * carry no save time and are only clamped. */
static void find_shift(struct reader *rd, const json_t *doc)
{
    const json_t *saved = json_object_get(doc, "saved_ms");
    const json_t *wall = json_object_get(doc, "saved_wall_ms");
    if (saved == NULL && wall == NULL)
        return;
    int64_t s = int_in(rd, saved, 0, AS_TIME_MAX), w = int_in(rd, wall, 0, AS_TIME_MAX);
    int64_t age = rd->r->wall_ms - w;
    if (age < 0) {
        rd->r->future_ms = -age;
        age = 0;
    }
    rd->r->shift_ms = rd->r->now_ms - age - s;
}

static void scales_from(struct reader *rd, const json_t *scales, struct as_group_state *st)
{
    if (!json_is_array(scales) || json_array_size(scales) > AS_SCALES_KEPT) {
        rd->bad = 1;
        return;
    }
    if (json_array_size(scales) > 0 && st->scales == NULL &&
        (st->scales = calloc(1, sizeof(*st->scales))) == NULL)
        return; /* out of memory: the restored group forgets its recent scales */
    for (size_t i = 0; !rd->bad && i < json_array_size(scales); i++)
        st->scales->t[st->nscales++] = stamp(rd, json_array_get(scales, i));
}

/* Each scale's change (optional: files written before too_rapid counted directions lack it,
 * and their scales count in no direction). */
static void deltas_from(struct reader *rd, const json_t *deltas, struct as_group_state *st)
{
    if (deltas == NULL)
        return;
    if (!json_is_array(deltas) || json_array_size(deltas) != (size_t)st->nscales) {
        rd->bad = 1;
        return;
    }
    for (int i = 0; !rd->bad && i < st->nscales; i++)
        st->scales->delta[i] =
            (int)int_in(rd, json_array_get(deltas, (size_t)i), -AS_COUNT_MAX, AS_COUNT_MAX);
}

static void history_from(struct reader *rd, const struct as_group_cfg *g, const json_t *history,
                         struct as_group_state *st)
{
    for (size_t i = 0; json_is_array(history) && i < json_array_size(history); i++) {
        const json_t *e = json_array_get(history, i);
        const char *reason = json_string_value(json_array_get(e, 3));
        if (!json_is_array(e) || json_array_size(e) != 4 || reason == NULL) {
            rd->bad = 1;
            return;
        }
        int64_t t = stamp(rd, json_array_get(e, 0));
        int from = count_in(rd, json_array_get(e, 1), 0),
            to = count_in(rd, json_array_get(e, 2), 0);
        if (rd->bad)
            return;
        as_history_append(g, st, t, from, to, reason);
    }
    free(st->last_reason);
    st->last_reason = NULL;
}

/* The API's pause and count (optional). */
static void api_from(struct reader *rd, const json_t *api, struct as_group_state *st)
{
    if (api == NULL)
        return;
    const json_t *o = json_object_get(api, "override");
    if (!json_is_object(api) || !json_is_boolean(json_object_get(api, "paused"))) {
        rd->bad = 1;
        return;
    }
    st->api_paused = json_is_true(json_object_get(api, "paused"));
    st->api_paused_at = int_in(rd, json_object_get(api, "paused_at"), 0, AS_TIME_MAX);
    st->api_override_set = o != NULL && !json_is_null(o);
    st->api_override = st->api_override_set ? count_in(rd, o, 0) : 0;
    st->api_override_at = int_in(rd, json_object_get(api, "override_at"), 0, AS_TIME_MAX);
}

/* count, pending, last_up_ms, idle (optional: version 1 files lack some). */
static void extras_from(struct reader *rd, const json_t *doc, struct as_group_state *st)
{
    const json_t *v = json_object_get(doc, "count");
    if (v != NULL && !json_is_null(v)) {
        st->count = (int)int_in(rd, v, -1, AS_COUNT_MAX);
        st->count_known = st->count >= 0;
        st->count = st->count_known ? st->count : 0;
    }
    v = json_object_get(doc, "pending");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) != 3) {
            rd->bad = 1;
            return;
        }
        st->pending = 1;
        st->intent = (struct as_intent){stamp(rd, json_array_get(v, 0)),
                                        count_in(rd, json_array_get(v, 1), 0),
                                        count_in(rd, json_array_get(v, 2), 0)};
    }
    v = json_object_get(doc, "last_up_ms");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        st->scaled_up = 1;
        st->last_up_ms = stamp(rd, v);
    }
    st->idle = json_is_true(json_object_get(doc, "idle"));
    api_from(rd, json_object_get(doc, "api"), st);
}

/* The policy's own state only if the same policy wrote it, and only if it reads back. */
static void policy_from(const struct as_group_cfg *g, const json_t *doc, struct as_group_state *st,
                        const struct as_restore *r)
{
    const json_t *policy = json_object_get(doc, "policy");
    const json_t *type = json_object_get(doc, "policy_type");
    if (policy == NULL || g->policy->load == NULL || !json_is_string(type) ||
        strcmp(json_string_value(type), g->policy->name) != 0)
        return;
    if (as_policy_state(st, g) == NULL) /* out of memory: the policy starts fresh */
        return;
    if (g->policy->load(g->policy_cfg, st->policy, policy) < 0)
        as_policy_state_reset(st);
    else if (g->policy->restored)
        g->policy->restored(g->policy_cfg, st->policy, r->shift_ms, r->now_ms);
}

int as_state_from_json(const struct as_group_cfg *g, const json_t *doc, struct as_group_state *st,
                       struct as_restore *r, struct as_err *err)
{
    struct reader rd = {.r = r};
    json_t *recs, *up, *down, *scales, *last, *failures, *idle, *version;
    const char *group;
    int seeded;
    json_error_t jerr;
    r->shift_ms = r->future_ms = 0;
    r->clamped = 0;
    if (json_unpack_ex((json_t *)doc, &jerr, 0,
                       "{s:o, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version", &version,
                       "group", &group, "seeded", &seeded, "recommendations", &recs,
                       "scale_up_events", &up, "scale_down_events", &down, "last_scale_ms", &last,
                       "failures", &failures, "idle_since_ms", &idle, "scales", &scales) != 0)
        return as_err_set(err, "%s", jerr.text);
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > AS_STATE_VERSION || strcmp(group, g->name) != 0)
        return as_err_set(err, "written for another version or group");
    find_shift(&rd, doc);
    if (!rd.bad &&
        (stamps_from(&rd, recs, &st->recs, 0) < 0 || stamps_from(&rd, up, &st->up, 1) < 0 ||
         stamps_from(&rd, down, &st->down, 1) < 0))
        rd.bad = 1;
    st->seeded = seeded;
    st->last_scale_ms = int_in(&rd, last, 0, AS_TIME_MAX) == 0 ? 0 : stamp(&rd, last);
    st->failures = (int)int_in(&rd, failures, 0, AS_COUNT_MAX);
    scales_from(&rd, scales, st);
    deltas_from(&rd, json_object_get(doc, "scale_deltas"), st);
    extras_from(&rd, doc, st);
    st->idle_since_ms = st->idle ? stamp(&rd, idle) : int_in(&rd, idle, 0, AS_TIME_MAX) * 0;
    history_from(&rd, g, json_object_get(doc, "history"), st);
    if (rd.bad) {
        as_group_state_free(st);
        memset(st, 0, sizeof(*st));
        return as_err_set(err, "malformed or out-of-range values");
    }
    policy_from(g, doc, st, r);
    return 0;
}
