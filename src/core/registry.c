/* The one list of backends. Adding one: its file, one line here, its tests, its doc page. */
#include <stdlib.h>
#include <string.h>

#include "core/decide.h"
#include "util/loop.h"
#include "core/plugin.h"
#include "util/util.h"

extern const struct as_source_ops as_source_http_json;
extern const struct as_source_ops as_source_http_latency;
extern const struct as_source_ops as_source_loadtest;
extern const struct as_source_ops as_source_redis;
extern const struct as_source_ops as_source_prometheus;
extern const struct as_source_ops as_source_rabbitmq;
extern const struct as_source_ops as_source_postgresql;
extern const struct as_source_ops as_source_exec;
extern const struct as_source_ops as_source_cpu;
extern const struct as_source_ops as_source_agents;
extern const struct as_scaler_ops as_scaler_http;
extern const struct as_scaler_ops as_scaler_exec;
extern const struct as_scaler_ops as_scaler_process;
extern const struct as_scaler_ops as_scaler_aws_asg;
extern const struct as_scaler_ops as_scaler_haproxy;
extern const struct as_scaler_ops as_scaler_kubernetes;
extern const struct as_scaler_ops as_scaler_heroku;
extern const struct as_scaler_ops as_scaler_nomad;
extern const struct as_notifier_ops as_notifier_console;
extern const struct as_notifier_ops as_notifier_log;
extern const struct as_notifier_ops as_notifier_syslog;
extern const struct as_notifier_ops as_notifier_webhook;
extern const struct as_notifier_ops as_notifier_email;
extern const struct as_notifier_ops as_notifier_exec;
extern const struct as_notifier_ops as_notifier_test;

extern const struct as_policy_ops as_policy_threshold_consecutive_ops;
extern const struct as_policy_ops as_policy_threshold_average_ops;
extern const struct as_policy_ops as_policy_decay_ops;
extern const struct as_policy_ops as_policy_queue_ops;
extern const struct as_policy_ops as_policy_step_ops;
extern const struct as_policy_ops as_policy_panic_ops;
extern const struct as_policy_ops as_policy_passthrough_ops;
extern const struct as_policy_ops as_policy_formula_ops;
extern const struct as_policy_ops as_policy_target_ops;
extern const struct as_policy_ops as_policy_predictive_ops;

const struct as_policy_ops *const as_policies[] = {
    &as_policy_target_ops,
    &as_policy_threshold_consecutive_ops,
    &as_policy_threshold_average_ops,
    &as_policy_decay_ops,
    &as_policy_queue_ops,
    &as_policy_step_ops,
    &as_policy_panic_ops,
    &as_policy_passthrough_ops,
    &as_policy_formula_ops,
    &as_policy_predictive_ops,
    NULL,
};

const struct as_policy_ops *as_policy_find(const char *name)
{
    for (size_t i = 0; as_policies[i]; i++)
        if (strcmp(as_policies[i]->name, name) == 0)
            return as_policies[i];
    return NULL;
}

const struct as_source_ops *const as_sources[] = {
    &as_source_http_json,
    &as_source_http_latency,
    &as_source_loadtest,
    &as_source_redis,
    &as_source_prometheus,
    &as_source_rabbitmq,
    &as_source_postgresql,
    &as_source_exec,
    &as_source_cpu,
    &as_source_agents,
    NULL,
};

const struct as_scaler_ops *const as_scalers[] = {
    &as_scaler_http,
    &as_scaler_exec,
    &as_scaler_process,
    &as_scaler_aws_asg,
    &as_scaler_haproxy,
    &as_scaler_kubernetes,
    &as_scaler_heroku,
    &as_scaler_nomad,
    NULL,
};

const struct as_notifier_ops *const as_notifiers[] = {
    &as_notifier_console, &as_notifier_log,  &as_notifier_syslog, &as_notifier_webhook,
    &as_notifier_email,   &as_notifier_exec, &as_notifier_test,   NULL,
};

const struct as_notifier_ops *as_notifier_find(const char *name)
{
    for (size_t i = 0; as_notifiers[i]; i++)
        if (strcmp(as_notifiers[i]->name, name) == 0)
            return as_notifiers[i];
    return NULL;
}

const struct as_source_ops *as_source_find(const char *name)
{
    for (size_t i = 0; as_sources[i]; i++)
        if (strcmp(as_sources[i]->name, name) == 0)
            return as_sources[i];
    return NULL;
}

const struct as_scaler_ops *as_scaler_find(const char *name)
{
    for (size_t i = 0; as_scalers[i]; i++)
        if (strcmp(as_scalers[i]->name, name) == 0)
            return as_scalers[i];
    return NULL;
}

struct deferred {
    struct as_timer **slot;
    as_measure_cb mcb;
    as_scale_cb scb;
    struct as_measurement m;
    struct as_scale_result r;
    void *arg;
    struct as_replica_obs reps[]; /* m's per-replica values, copied */
};

static int64_t fire(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct deferred *d = arg;
    *d->slot = NULL; /* the callback may start the next call */
    if (d->mcb)
        d->mcb(&d->m, d->arg);
    else
        d->scb(&d->r, d->arg);
    free(d);
    return AS_TIMER_STOP;
}

static int defer(struct as_loop *loop, struct deferred *d)
{
    *d->slot = as_loop_add_timer(loop, 0, fire, d);
    if (*d->slot != NULL)
        return 0;
    free(d);
    return -1;
}

void as_defer_cancel(struct as_loop *loop, struct as_timer **slot)
{
    if (*slot == NULL)
        return;
    free(as_loop_timer_arg(*slot));
    as_loop_cancel_timer(loop, *slot);
    *slot = NULL;
}

int as_defer_measurement(struct as_loop *loop, struct as_timer **slot, as_measure_cb cb,
                         const struct as_measurement *m, void *arg)
{
    size_t n = m->per_replica && m->nreplicas <= AS_REPLICAS_MAX ? m->nreplicas : 0;
    struct deferred *d = calloc(1, sizeof(*d) + n * sizeof(d->reps[0]));
    if (d == NULL)
        return -1;
    *d = (struct deferred){.slot = slot, .mcb = cb, .m = *m, .arg = arg};
    if (n > 0)
        memcpy(d->reps, m->per_replica, n * sizeof(d->reps[0]));
    d->m.nreplicas = n;
    d->m.per_replica = n > 0 ? d->reps : NULL;
    return defer(loop, d);
}

int as_defer_scale(struct as_loop *loop, struct as_timer **slot, as_scale_cb cb,
                   const struct as_scale_result *r, void *arg)
{
    struct deferred *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -1;
    *d = (struct deferred){.slot = slot, .scb = cb, .r = *r, .arg = arg};
    return defer(loop, d);
}
