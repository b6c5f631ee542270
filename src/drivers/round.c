/* One group's round: measure -> count -> decide -> intent -> scale -> verify.
 *
 * Every call a backend makes has a deadline the engine enforces itself: the backend's own
 * timeout plus AS_DEADLINE_SLACK_MS. A call that has not answered by then is cancelled and
 * counts as failed, so a backend that ignores its timeout costs its own group a failed
 * measurement, nothing more.
 *
 * The count the decision starts from is trusted only as as_count_judge says; a count that
 * cannot be read, is implausible or unconfirmed holds the group. A scale is recorded as an
 * intent (durably) before the call, verified by reading the count back where the scaler can,
 * and recorded as a scale only once it is known to have landed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/events.h"
#include "drivers/group.h"
#include "drivers/status.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define AS_DEADLINE_SLACK_MS 100
#define AS_WORKERS_MAX 1024

static void decide_and_act(struct group_rt *rt);
static void round_end(struct group_rt *rt);
static void round_end_recorded(struct group_rt *rt);
static void scale_start(struct group_rt *rt);

static int can_get(const struct as_scaler_cfg *s)
{
    return s->ops->get != NULL && (s->ops->can_get == NULL || s->ops->can_get(s->state));
}

static struct as_timer *deadline(struct group_rt *rt, int64_t timeout_ms, as_timer_fn fn, void *arg)
{
    return as_loop_add_timer(rt->eng->loop, timeout_ms + AS_DEADLINE_SLACK_MS, fn, arg);
}

static void cancel_deadline(struct group_rt *rt, struct as_timer **t)
{
    as_loop_cancel_timer(rt->eng->loop, *t);
    *t = NULL;
}

/* ---- measure ---- */

/* A failing source backs off: after k failures in a row it is measured again only after
 * interval * 2^(k-1), at most backoff_max (collectd's rule); a success resets it. */
static void backoff_update(struct group_rt *rt, struct slot *s, const struct as_metric_cfg *m)
{
    if (s->obs.ok) {
        if (s->failing > 1)
            AS_LOG(AS_INFO, "engine[%s]: metric %s: measured again after %u failures", rt->name,
                   m->name, s->failing);
        s->failing = 0;
        return;
    }
    s->failing++;
    int64_t delay = rt->g->interval_ms;
    for (unsigned k = 1; k < s->failing && delay < m->backoff_max_ms; k++)
        delay *= 2;
    if (delay > m->backoff_max_ms)
        delay = m->backoff_max_ms;
    s->next_ms = as_loop_now(rt->eng->loop) + delay - rt->g->interval_ms / 2;
}

static void measured(struct slot *s, const char *error)
{
    struct group_rt *rt = s->rt;
    s->pending = 0;
    cancel_deadline(rt, &s->deadline);
    if (!s->obs.ok) {
        rt->n.measure_failures++;
        s->n.failures++;
    } else {
        s->last_ok_ms = as_wall_ms();
    }
    as_round_metric_event(rt, (size_t)(s - rt->slots), s->obs.ok, error);
    backoff_update(rt, s, &rt->g->metrics[s - rt->slots]);
    if (--rt->pending == 0)
        decide_and_act(rt);
}

/* The slot keeps its own copy of the per-replica values (the source's are borrowed). */
static int copy_replicas(struct slot *s, const struct as_measurement *m)
{
    size_t n = m->per_replica ? m->nreplicas : 0;
    if (n > AS_REPLICAS_MAX)
        return -1;
    if (n > s->capreps) {
        struct as_replica_obs *v = realloc(s->reps, n * sizeof(*v));
        if (v == NULL)
            return -1;
        s->reps = v;
        s->capreps = n;
    }
    if (n > 0)
        memcpy(s->reps, m->per_replica, n * sizeof(*s->reps));
    s->obs.nreplicas = n;
    s->obs.replicas = n > 0 ? s->reps : NULL;
    return 0;
}

static void on_measured(const struct as_measurement *m, void *arg)
{
    struct slot *s = arg;
    s->obs.ok = m->ok;
    s->obs.value = m->ok ? m->value : 0;
    s->replicas = m->ok ? m->replicas : -1;
    if (m->ok && copy_replicas(s, m) < 0) {
        s->obs.ok = 0;
        AS_LOG(AS_ERROR,
               "engine[%s]: metric %s: %zu per-replica values: too many or out of "
               "memory (a failed measurement)",
               s->rt->name, s->rt->g->metrics[s - s->rt->slots].name, m->nreplicas);
    }
    measured(s, m->ok && !s->obs.ok ? "too many per-replica values" : m->error);
}

static int64_t on_measure_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct slot *s = arg;
    struct group_rt *rt = s->rt;
    struct as_metric_cfg *m = &rt->g->metrics[s - rt->slots];
    s->deadline = NULL;
    m->ops->cancel(m->state);
    rt->n.deadline_exceeded++;
    s->n.deadline_exceeded++;
    AS_LOG(AS_ERROR,
           "engine[%s]: metric %s: no answer within %lldms: cancelled (a failed "
           "measurement)",
           rt->name, m->name, (long long)m->timeout_ms + AS_DEADLINE_SLACK_MS);
    s->obs.ok = 0;
    s->replicas = -1;
    char why[80];
    snprintf(why, sizeof(why), "no answer within %lldms: cancelled",
             (long long)m->timeout_ms + AS_DEADLINE_SLACK_MS);
    measured(s, why);
    return AS_TIMER_STOP;
}

static void got_count(struct group_rt *rt)
{
    rt->get_pending = 0;
    cancel_deadline(rt, &rt->deadline);
    if (--rt->pending == 0)
        decide_and_act(rt);
}

/* Only failed reads keep a message: no buffer in every group for the rare one. */
static void get_error_set(struct group_rt *rt, const char *why)
{
    free(rt->get_error);
    rt->get_error = why ? strdup(why) : NULL;
}

static void on_current(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    rt->got_current = r->ok;
    rt->scaler_current = r->ok ? r->replicas : -1;
    get_error_set(rt, r->ok ? NULL : r->error);
    got_count(rt);
}

static int64_t on_get_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct group_rt *rt = arg;
    rt->deadline = NULL;
    if (rt->g->scaler.ops->cancel)
        rt->g->scaler.ops->cancel(rt->g->scaler.state);
    rt->n.deadline_exceeded++;
    rt->got_current = 0;
    char why[64];
    snprintf(why, sizeof(why), "no answer within %lldms: cancelled",
             (long long)rt->g->scaler.timeout_ms + AS_DEADLINE_SLACK_MS);
    get_error_set(rt, why);
    got_count(rt);
    return AS_TIMER_STOP;
}

void as_round_begin(struct group_rt *rt)
{
    struct as_group_cfg *g = rt->g;
    rt->phase = MEASURING;
    rt->unconfirmed = 0;
    rt->n.rounds++;
    rt->pending = g->nmetrics + 1; /* +1 guards against synchronous completion */
    for (size_t i = 0; i < g->nmetrics; i++) {
        struct slot *s = &rt->slots[i];
        s->rt = rt;
        s->pending = 1;
        s->replicas = -1;
        s->obs = (struct as_metric_obs){0};
        if (s->failing > 0 && as_loop_now(rt->eng->loop) < s->next_ms) {
            s->n.skipped++; /* backing off: a failed measurement without an attempt */
            s->pending = 0;
            rt->n.measure_failures++;
            rt->pending--;
            continue;
        }
        s->n.measurements++;
        s->deadline = deadline(rt, g->metrics[i].timeout_ms, on_measure_deadline, s);
        if (s->deadline == NULL) { /* a call without its deadline could hold the group forever */
            AS_LOG(AS_ERROR, "engine[%s]: metric %s: out of memory: not measured", rt->name,
                   g->metrics[i].name);
            measured(s, "out of memory: not measured");
            continue;
        }
        g->metrics[i].ops->measure(g->metrics[i].state, on_measured, s);
    }
    rt->got_current = 0;
    get_error_set(rt, NULL);
    if (can_get(&g->scaler)) {
        rt->deadline = deadline(rt, g->scaler.timeout_ms, on_get_deadline, rt);
        if (rt->deadline != NULL) {
            rt->pending++;
            rt->get_pending = 1;
            g->scaler.ops->get(g->scaler.state, on_current, rt);
        } else {
            get_error_set(rt, "out of memory: not read");
        }
    }
    if (--rt->pending == 0)
        decide_and_act(rt);
}

void as_round_cancel(struct group_rt *rt)
{
    struct as_group_cfg *g = rt->g;
    for (size_t i = 0; rt->phase == MEASURING && i < g->nmetrics; i++) {
        if (rt->slots[i].pending)
            g->metrics[i].ops->cancel(g->metrics[i].state);
        rt->slots[i].pending = 0;
        cancel_deadline(rt, &rt->slots[i].deadline);
    }
    if (rt->phase == MEASURING || rt->phase == VERIFYING || rt->phase == SCALING ||
        rt->phase == REREADING)
        if (g->scaler.ops->cancel)
            g->scaler.ops->cancel(g->scaler.state);
    rt->pending = 0;
    rt->get_pending = 0;
    cancel_deadline(rt, &rt->deadline);
    cancel_deadline(rt, &rt->retry_timer);
}

/* ---- count ---- */

/* The count to decide from, judged; -1 when the group must hold (logged and counted). */
static int trusted_count(struct group_rt *rt)
{
    const struct as_scaler_cfg *s = &rt->g->scaler;
    char why[AS_REASON_MAX];
    int read = -1;
    const char *from = NULL;
    if (can_get(s)) {
        if (!rt->got_current) {
            rt->n.count_failures++;
            as_log_fault(&rt->count_fault, AS_WARN,
                         "engine[%s]: reading the replica count via %s failed: %s: no "
                         "decision, hold",
                         rt->name, s->type, rt->get_error ? rt->get_error : "out of memory");
            return -1;
        }
        read = rt->scaler_current;
        from = s->type;
    }
    for (size_t i = 0; from == NULL && i < rt->g->nmetrics; i++)
        if (rt->slots[i].replicas >= 0) {
            read = rt->slots[i].replicas;
            from = rt->g->metrics[i].name;
        }
    if (from == NULL) {
        if (rt->st.count_known)
            return rt->st.count; /* the scaler cannot read it: the count it last set */
        rt->n.count_failures++;
        as_log_fault(&rt->count_fault, AS_WARN,
                     "engine[%s]: current replica count unknown: %s cannot read it, no "
                     "metric reports it (replicas_pointer) and nothing was set yet: hold",
                     rt->name, s->type);
        return -1;
    }
    switch (
        as_count_judge(rt->g, &rt->st, read, can_get(s) && s->ops->owns_count, why, sizeof(why))) {
    case AS_COUNT_TRUSTED:
        return read;
    case AS_COUNT_IMPLAUSIBLE:
        rt->n.count_implausible++;
        break;
    case AS_COUNT_UNCONFIRMED:
        rt->n.count_unconfirmed++;
        rt->unconfirmed = 1;
        break;
    }
    as_log_fault(&rt->count_fault, AS_WARN, "engine[%s]: replica %s (via %s): hold", rt->name, why,
                 from);
    return -1;
}

/* A trusted count settles an intent left by a failed verification or a restart. */
static void settle(struct group_rt *rt, int count)
{
    struct as_intent in = rt->st.intent;
    switch (as_decide_resolve(rt->g, &rt->st, count)) {
    case AS_INTENT_LANDED:
        rt->n.scales++;
        as_status_scaled(rt, in.from, count);
        AS_LOG(AS_INFO,
               "engine[%s]: the scale %d->%d whose outcome was unknown landed (count "
               "now %d)",
               rt->name, in.from, in.to, count);
        as_round_event(rt, AS_EV_SCALE, in.from, count,
                       "a scale whose outcome was unknown landed (the count was read again)");
        as_engine_save(rt, 1, NULL);
        break;
    case AS_INTENT_MISSED:
        AS_LOG(AS_WARN,
               "engine[%s]: the scale %d->%d whose outcome was unknown did not land "
               "(count still %d)",
               rt->name, in.from, in.to, count);
        as_engine_save(rt, 1, NULL);
        break;
    case AS_INTENT_NONE:
        break;
    }
}

/* ---- decide ---- */

/* What the scaler knows of each replica (age, idle time), for warmup and the queue policy. */
static size_t scaler_workers(struct group_rt *rt, struct as_replica_obs *out, size_t max,
                             const char **request_metric)
{
    const struct as_scaler_cfg *s = &rt->g->scaler;
    struct as_worker_info info[AS_WORKERS_MAX];
    *request_metric = NULL;
    if (s->ops->workers == NULL)
        return 0;
    size_t n = s->ops->workers(s->state, info, max < AS_WORKERS_MAX ? max : AS_WORKERS_MAX);
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct as_replica_obs){.ok = 1,
                                         .ready = !info[i].not_ready,
                                         .age_ms = info[i].age_ms,
                                         .idle_ms = info[i].idle_ms,
                                         .pending = info[i].pending,
                                         .weight = info[i].request_metric ? info[i].request : 0};
        if (info[i].request_metric != NULL)
            *request_metric = info[i].request_metric;
        memcpy(out[i].id, info[i].id, sizeof(out[i].id));
        out[i].id[sizeof(out[i].id) - 1] = '\0';
    }
    return n;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct as_replica_obs *)a)->id, ((const struct as_replica_obs *)b)->id);
}

/* A joined replica of a metric whose values are usage of the resource the scaler's requests
 * are of: its utilization in percent of its request, weighed by the request (once: a replica
 * that already has a weight was converted). */
static void utilization(struct as_replica_obs *r, double request)
{
    if (r->weight != 0)
        return;
    r->value = r->ok && request > 0 ? 100.0 * r->value / request : 0;
    r->weight = request;
}

/* The aggregate of a metric made a utilization: sum(usage) / sum(requests) of the ready
 * replicas with a sample, in percent (unchanged when a replica has no request). */
static int weigh(struct slot *s)
{
    double sum = 0, w = 0;
    for (size_t i = 0; i < s->obs.nreplicas; i++) {
        const struct as_replica_obs *r = &s->reps[i];
        if (!(r->weight > 0))
            return 1;
        if (r->ok && r->ready)
            sum += r->value * r->weight, w += r->weight;
    }
    if (w > 0)
        s->obs.value = sum / w;
    return 0;
}

/* The HPA's join of per-pod values with the pods that exist (groupPods): when a metric's values
 * and the scaler's replicas both carry ids, a pending replica is not ready (value or not), a
 * started one without a value is missing, a value of an unlisted replica is dropped, and the
 * scaler's readiness and age apply; with requests, the values become utilizations. Returns 0
 * when joined, -1 when not (no ids, no replicas, no memory), 1 when joined but a replica has
 * no request (the aggregate is not a utilization). */
static int join_workers(struct slot *s, const struct as_replica_obs *workers, size_t nworkers,
                        int requests)
{
    size_t n = s->obs.nreplicas, keep = 0;
    if (n == 0 || nworkers == 0 || workers[0].id[0] == '\0' || s->reps[0].id[0] == '\0')
        return -1;
    if (nworkers > s->capreps) {
        struct as_replica_obs *v = realloc(s->reps, nworkers * sizeof(*v));
        if (v == NULL)
            return -1; /* unjoined: the values as the source gave them */
        s->reps = v;
        s->capreps = nworkers;
    }
    qsort(s->reps, n, sizeof(*s->reps), by_id);
    struct as_replica_obs joined[AS_WORKERS_MAX];
    for (size_t i = 0; i < nworkers; i++) {
        const struct as_replica_obs *v = bsearch(&workers[i], s->reps, n, sizeof(*s->reps), by_id);
        /* pending without a value: a sample that is never read (not ready comes first) */
        joined[keep] = v                    ? *v
                       : workers[i].pending ? (struct as_replica_obs){.ok = 1}
                                            : (struct as_replica_obs){.ok = 0};
        joined[keep].ready = workers[i].ready;
        joined[keep].age_ms = workers[i].age_ms;
        if (requests)
            utilization(&joined[keep], workers[i].weight);
        memcpy(joined[keep].id, workers[i].id, sizeof(joined[keep].id));
        keep++;
    }
    memcpy(s->reps, joined, keep * sizeof(*s->reps));
    s->obs.nreplicas = keep;
    s->obs.replicas = s->reps;
    return requests ? weigh(s) : 0;
}

/* What a decision says, to compare with the one before: its outcome and class (key, from
 * as_status_decided) plus 1 in the low 5 bits, so that 0 is "none yet", and above them a
 * digest of the metrics that failed, of whether something held the count from the policy's
 * (held: a window, a rate limit, a cooldown, a warmup; its start and its end are news, not
 * every round of it) and of the configuration it was made on (its digest: a reload that
 * changes the group is news, one that leaves it as it was is not). */
_Static_assert((AS_OUTCOMES * AS_RC_CLASSES) < 32, "a decision's outcome and class fit 5 bits");

static uint32_t decision_said(const struct group_rt *rt, unsigned key, int held)
{
    uint64_t h = (1469598103934665603ull ^ rt->g->digest) * 1099511628211ull; /* FNV-1a */
    h = (h ^ (uint64_t)(held != 0)) * 1099511628211ull;
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        if (!rt->slots[i].obs.ok)
            h = (h ^ i) * 1099511628211ull;
    return (uint32_t)(h ^ h >> 32) << 5 | (key + 1);
}

/* A decision's line is written at INFO when it says something new for the group: the first
 * one (after start or a reload that changed the group), a change of count (a scale, or one
 * held by paused or dry run), another outcome or class than the decision before, other
 * metrics failing, or a hold of what the policy wanted beginning or ending; else at DEBUG. A steady group is one line at
 * INFO, not one a round: 10,000 groups every second would write 10,000 lines a second that
 * nobody reads. */
static enum as_log_level decision_level(struct group_rt *rt, int current,
                                        const struct as_decision *d, unsigned key)
{
    uint32_t said = decision_said(rt, key, d->held);
    int news = said != rt->said || d->desired != current || d->paused;
    rt->said = said;
    return news ? AS_INFO : AS_DEBUG;
}

static void log_decision(const struct group_rt *rt, enum as_log_level level, int current,
                         const struct as_decision *d)
{
    if (level < as_log_min)
        return; /* the line is not written: nothing to format (most rounds of most groups) */
    char values[512];
    size_t o = 0;
    values[0] = '\0';
    for (size_t i = 0; i < rt->g->nmetrics && o < sizeof(values); i++) {
        const struct slot *s = &rt->slots[i];
        int n = s->obs.ok ? snprintf(values + o, sizeof(values) - o, " %s=%.6g",
                                     rt->g->metrics[i].name, s->obs.value)
                          : snprintf(values + o, sizeof(values) - o, " %s=failed",
                                     rt->g->metrics[i].name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    /* At INFO the line fits AS_LOG_COLS columns: a long reason keeps its end (the rule that
     * settled the count) and its start; at DEBUG it is whole. */
    char reason[sizeof(d->reason)];
    snprintf(reason, sizeof(reason), "%s", d->reason);
    if (as_log_min > AS_DEBUG) {
        int n = snprintf(NULL, 0, "engine[%s]: decision current=%d desired=%d%s reason=\"\"",
                         rt->name, current, d->desired, values);
        size_t used = AS_LOG_PREFIX_COLS + (size_t)(n > 0 ? n : 0);
        as_log_shorten(reason, used + 60 < AS_LOG_COLS ? AS_LOG_COLS - used : 60);
    }
    AS_LOG(level, "engine[%s]: decision current=%d desired=%d%s reason=\"%s\"", rt->name, current,
           d->desired, values, reason);
}

static void on_intent_saved(struct group_rt *rt, int ok)
{
    if (!ok)
        AS_LOG(AS_ERROR,
               "engine[%s]: the intent to scale %d->%d could not be written: scaling "
               "without a durable record",
               rt->name, rt->from, rt->want);
    if (rt->eng->stopping) {
        AS_LOG(AS_WARN, "engine[%s]: shutting down: not scaling %d->%d", rt->name, rt->from,
               rt->want);
        rt->st.pending = 0;
        round_end(rt);
        return;
    }
    scale_start(rt);
}

static void decide_and_act(struct group_rt *rt)
{
    as_admit_release(rt); /* measured: the next waiting group may start (drivers/admit.h) */
    int current = trusted_count(rt);
    if (current < 0) {
        as_status_held(rt);
        round_end(rt);
        return;
    }
    as_log_recovered(&rt->count_fault, "engine[%s]: replica count %d trusted", rt->name, current);
    settle(rt, current);
    struct as_metric_obs obs[rt->g->nmetrics];
    for (size_t i = 0; i < rt->g->nmetrics; i++)
        obs[i] = rt->slots[i].obs;
    struct as_obs o = {.now_ms = as_engine_now(rt->eng),
                       .wall_ms = as_wall_ms(),
                       .current = current,
                       .n = rt->g->nmetrics,
                       .m = obs};
    struct as_replica_obs workers[AS_WORKERS_MAX];
    o.workers = workers;
    const char *request_metric;
    o.nworkers = scaler_workers(rt, workers, AS_WORKERS_MAX, &request_metric);
    for (size_t i = 0; i < rt->g->nmetrics; i++) {
        int req = request_metric && strcmp(request_metric, rt->g->metrics[i].name) == 0;
        int joined = join_workers(&rt->slots[i], workers, o.nworkers, req);
        obs[i] = rt->slots[i].obs;
        /* A pod without a request: the target policy holds and says which (per replica);
         * to the others the aggregate, usage, would look like a utilization. */
        if (joined == 1 && !rt->g->policy->metric_targets)
            obs[i].ok = 0;
        if (req && joined < 0 && obs[i].ok) { /* usage that cannot be made a utilization */
            obs[i].ok = 0;
            AS_LOG(rt->n.decisions ? AS_DEBUG : AS_WARN,
                   "engine[%s]: metric %s: its values are not joined with the pods by name "
                   "(replica_id_label?), so the requests cannot weigh them: unknown",
                   rt->name, rt->g->metrics[i].name);
        }
    }
    struct as_decision d;
    struct as_group_cfg eff; /* with the API's pause and count over the configuration's */
    as_decide(as_status_effective(rt, &eff), &rt->st, &o, &d);
    rt->n.decisions++;
    unsigned key = as_status_decided(rt, current, &d, eff.override >= 0);
    log_decision(rt, decision_level(rt, current, &d, key), current, &d);
    as_round_decision_events(rt, current, &d);
    if (d.too_rapid) {
        const struct as_too_rapid *tr = &rt->g->too_rapid;
        int events = tr->scales > 0 && d.too_rapid_events > tr->scales;
        AS_LOG(AS_WARN,
               "engine[%s]: too rapid scaling: %d->%d would exceed %d %s in %llds (%d in one "
               "direction)",
               rt->name, current, d.desired, events ? tr->scales : tr->replicas,
               events ? "scale events" : "replicas changed", (long long)tr->within_ms / 1000,
               events ? d.too_rapid_events : d.too_rapid_replicas);
    }
    as_engine_save(rt, 0, NULL);
    if (d.desired == current) {
        round_end(rt);
        return;
    }
    if (rt->eng->opts.dry_run) {
        char call[512] = "";
        const struct as_scaler_cfg *s = &rt->g->scaler;
        if (s->ops->describe)
            s->ops->describe(s->state, d.desired, call, sizeof(call));
        AS_LOG(AS_INFO, "engine[%s]: dry-run: would scale %d->%d via %s%s%s", rt->name, current,
               d.desired, s->type, call[0] ? ": " : "", call);
        round_end(rt);
        return;
    }
    rt->from = current;
    rt->want = d.desired;
    rt->attempt = 0;
    as_backoff_reset(&rt->backoff);
    as_decide_intent(&rt->st, o.now_ms, current, d.desired);
    rt->phase = PERSISTING;
    as_engine_save(rt, 1, on_intent_saved);
}

/* ---- scale ---- */

static void on_scaled(const struct as_scale_result *r, void *arg);
static void on_reread(const struct as_scale_result *r, void *arg);
static void on_verified(const struct as_scale_result *r, void *arg);

static int64_t on_call_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct group_rt *rt = arg;
    const struct as_scaler_cfg *s = &rt->g->scaler;
    rt->deadline = NULL;
    if (s->ops->cancel)
        s->ops->cancel(s->state);
    rt->n.deadline_exceeded++;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "no answer within %lldms: cancelled",
             (long long)s->timeout_ms + AS_DEADLINE_SLACK_MS);
    enum phase phase = rt->phase;
    if (phase == SCALING)
        on_scaled(&r, rt);
    else if (phase == VERIFYING)
        on_verified(&r, rt);
    else
        on_reread(&r, rt);
    return AS_TIMER_STOP;
}

/* A call is never made without its deadline (it could hold the group forever): without
 * memory for the deadline, cb gets a failure at once, permanent because nothing was called. */
static int armed(struct group_rt *rt, as_scale_cb cb)
{
    rt->deadline = deadline(rt, rt->g->scaler.timeout_ms, on_call_deadline, rt);
    if (rt->deadline != NULL)
        return 1;
    struct as_scale_result r = {.ok = 0, .permanent = 1, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "out of memory: the call was not made");
    cb(&r, rt);
    return 0;
}

static void call_get(struct group_rt *rt, as_scale_cb cb)
{
    const struct as_scaler_cfg *s = &rt->g->scaler;
    if (armed(rt, cb))
        s->ops->get(s->state, cb, rt);
}

static void scale_start(struct group_rt *rt)
{
    const struct as_scaler_cfg *s = &rt->g->scaler;
    rt->phase = SCALING;
    rt->attempt++;
    rt->scale_started = as_loop_now(rt->eng->loop);
    if (armed(rt, on_scaled))
        s->ops->set(s->state, rt->want, on_scaled, rt);
}

/* The scale is known to have landed at count. */
static void landed(struct group_rt *rt, int count, const char *how)
{
    int64_t ms = as_loop_now(rt->eng->loop) - rt->scale_started;
    as_decide_scaled(rt->g, &rt->st, as_engine_now(rt->eng), rt->from, count);
    rt->n.scales++;
    as_status_scaled(rt, rt->from, count);
    as_log_recovered(&rt->scale_fault, "engine[%s]: a set took effect again", rt->name);
    if (count == rt->want)
        AS_LOG(AS_INFO, "engine[%s]: scaled %d->%d via %s in %lldms%s", rt->name, rt->from, count,
               rt->g->scaler.type, (long long)ms, how);
    else
        AS_LOG(AS_WARN,
               "engine[%s]: asked %s for %d, the count is now %d: recorded as "
               "%d->%d",
               rt->name, rt->g->scaler.type, rt->want, count, rt->from, count);
    as_round_event(rt, AS_EV_SCALE, rt->from, count, rt->st.last_reason ? rt->st.last_reason : "");
    round_end_recorded(rt);
}

static void on_verified(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    cancel_deadline(rt, &rt->deadline);
    if (!r->ok) {
        /* The intent stays: it counts as a scale until the next trusted read settles it. */
        AS_LOG(AS_WARN,
               "engine[%s]: %d->%d via %s answered, but reading the count back failed "
               "(%s): it counts as a scale until the count is read",
               rt->name, rt->from, rt->want, rt->g->scaler.type, r->error);
        round_end_recorded(rt);
        return;
    }
    if (r->replicas > as_count_limit(rt->g)) {
        rt->n.count_implausible++;
        AS_LOG(AS_WARN,
               "engine[%s]: %d->%d via %s answered, but the count read back (%d) is "
               "implausible: it counts as a scale until the count is read",
               rt->name, rt->from, rt->want, rt->g->scaler.type, r->replicas);
        round_end_recorded(rt);
        return;
    }
    if (r->replicas != rt->from) {
        landed(rt, r->replicas, " (read back)");
        return;
    }
    rt->n.scale_ineffective++;
    rt->st.pending = 0;
    as_log_fault(&rt->scale_fault, AS_WARN,
                 "engine[%s]: set %d->%d via %s answered OK but the count is still %d: "
                 "an ineffective scale, not counted as one",
                 rt->name, rt->from, rt->want, rt->g->scaler.type, r->replicas);
    char why[96];
    snprintf(why, sizeof(why), "answered OK, but the count is still %d", r->replicas);
    as_round_event(rt, AS_EV_SCALE_FAILED, rt->from, rt->want, why);
    round_end_recorded(rt);
}

static int64_t on_retry(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct group_rt *rt = arg;
    rt->retry_timer = NULL;
    if (can_get(&rt->g->scaler)) { /* re-read: the last attempt may have landed */
        rt->phase = REREADING;
        call_get(rt, on_reread);
    } else {
        scale_start(rt);
    }
    return AS_TIMER_STOP;
}

static void on_reread(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    cancel_deadline(rt, &rt->deadline);
    if (r->ok && r->replicas == rt->want) {
        landed(rt, rt->want, " (the earlier attempt landed)");
        return;
    }
    if (!r->ok)
        AS_LOG(AS_WARN, "engine[%s]: re-reading the count before retry failed: %s", rt->name,
               r->error);
    if (rt->eng->stopping) {
        AS_LOG(AS_WARN,
               "engine[%s]: shutting down: not retrying %d->%d (it counts as a scale "
               "until the count is read)",
               rt->name, rt->from, rt->want);
        round_end(rt);
        return;
    }
    scale_start(rt);
}

/* A failed set: retried with backoff, or given up (a permanent failure changed nothing; a
 * transient one may have landed, so its intent stays until a trusted read). */
static void scale_failed(struct group_rt *rt, const struct as_scale_result *r)
{
    int total = rt->g->scaler.retries + 1;
    rt->n.scale_failures++;
    AS_LOG(AS_ERROR, "engine[%s]: scale %d->%d via %s failed (attempt %d/%d%s): %s", rt->name,
           rt->from, rt->want, rt->g->scaler.type, rt->attempt, total,
           r->permanent ? ", permanent" : "", r->error);
    if (!r->permanent && rt->attempt < total && !rt->eng->stopping) {
        rt->phase = RETRY_WAIT;
        rt->retry_timer =
            as_loop_add_timer(rt->eng->loop, as_backoff_next(&rt->backoff), on_retry, rt);
        if (rt->retry_timer != NULL)
            return;
    }
    if (r->permanent)
        rt->st.pending = 0;
    as_round_event(rt, AS_EV_SCALE_FAILED, rt->from, rt->want, r->error);
    if (!r->permanent && rt->attempt < total)
        AS_LOG(AS_WARN, "engine[%s]: shutting down: not retrying %d->%d", rt->name, rt->from,
               rt->want);
    else
        AS_LOG(AS_ERROR, "engine[%s]: giving up on %d->%d until the next round%s", rt->name,
               rt->from, rt->want,
               r->permanent ? "" : " (it counts as a scale until the count is read)");
    round_end_recorded(rt);
}

static void on_scaled(const struct as_scale_result *r, void *arg)
{
    struct group_rt *rt = arg;
    cancel_deadline(rt, &rt->deadline);
    if (!r->ok) {
        scale_failed(rt, r);
        return;
    }
    if (!can_get(&rt->g->scaler) || rt->g->scaler.ops->owns_count) {
        landed(rt, rt->want, "");
        return;
    }
    rt->phase = VERIFYING;
    call_get(rt, on_verified);
}

/* ---- end ---- */

/* The end of a round that changed what the state knows of a scale: written durably first. */
static void round_end_recorded(struct group_rt *rt)
{
    as_engine_save(rt, 1, NULL);
    round_end(rt);
}

static void round_end(struct group_rt *rt)
{
    rt->phase = IDLE;
    as_engine_round_end(rt);
}
