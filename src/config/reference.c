/* The configuration reference, generated from the option tables (`autoscaler options`, and
 * the tables of docs/configuration.md, which tests/integration/test_cli.py keeps identical). */
#include <stdio.h>

#include "config/config.h"
#include "config/notify_cfg.h"
#include "config/server_cfg.h"
#include "core/decide.h"

static int section(struct as_sb *sb, const char *title, const char *intro, const struct as_opt *o)
{
    if (as_sb_printf(sb, "### %s\n\n%s\n\n", title, intro) < 0 || as_opts_markdown(o, sb) < 0)
        return -1;
    return as_sb_puts(sb, "\n");
}

int as_config_reference(struct as_sb *sb)
{
    int rc =
        section(sb, "Top level", "Keys at the top of the file, beside `groups`.", as_global_opts);
    rc |= section(sb, "`http`",
                  "The daemon's HTTP server: /metrics (Prometheus), /api/v1 (JSON), /healthz, "
                  "/readyz and the dashboard at / (docs/api.md). On by default on "
                  "127.0.0.1:9711.",
                  as_server_opts);
    rc |= section(sb, "Group",
                  "Each entry of `groups:` (the key is the group's name), beside "
                  "`metrics` (a list) and `scaler` (a mapping).",
                  as_group_opts);
    rc |= section(sb, "Group `fallback`",
                  "`fallback: {after: N, replicas: R}`: after N rounds in a row without any "
                  "valid metric, go to R (KEDA's fallback), or hold with R = -1.",
                  as_fallback_opts);
    rc |= section(sb, "Group `too_rapid`",
                  "`too_rapid: {scales: N, within: T}` or `{replicas: R, within: T}`: a change "
                  "that makes more than N scale events (or more than R replicas changed) in its "
                  "direction within T is reported as too rapid scaling (the `too_rapid` event, "
                  "docs/events.md). Off by default, as autoscalebot's.",
                  as_too_rapid_opts);
    rc |= section(sb, "Group `schedules`: each entry",
                  "Scheduled capacity (AWS scheduled actions, KEDA's cron scaler): during a "
                  "window that starts at each `cron` time and lasts `duration` (or until the "
                  "next `end` time), set min, max and/or a desired count. See docs/bounds.md.",
                  as_schedule_opts);
    rc |= section(sb, "Group `model` (simulation only)",
                  "The service model `autoscaler simulate` drives the group's policy with "
                  "(docs/simulation.md); `run` ignores it. The command line's --capacity, "
                  "--startup, --concurrency and --slo win over it.",
                  as_model_opts);
    rc |= section(sb, "Group `behavior`: `scale_up` and `scale_down`",
                  "The HPA's `spec.behavior`, applied after the policy: `behavior: off`, or a "
                  "mapping with `scale_up` and `scale_down`, each taking these keys and a "
                  "`policies` list (see below; a given list replaces the default one). Defaults: "
                  "up 0s, max of {4 replicas, 100 %} per 15s; down 5m, 100 % per 15s.",
                  as_behavior_rules_opts);
    rc |= section(sb, "Group `behavior`: each entry of `policies`",
                  "A rate limit: exactly one of `replicas` and `percent`, and a `period`.",
                  as_behavior_rate_opts);
    for (size_t i = 0; rc == 0 && as_policies[i]; i++) {
        char title[96];
        snprintf(title, sizeof(title), "Policy `%s`", as_policies[i]->name);
        rc |= section(sb, title, as_policies[i]->summary, as_policies[i]->opts);
    }
    rc |= section(sb, "Metric (every source)", "Keys every entry of `metrics:` takes.",
                  as_metric_opts);
    rc |= section(sb, "Scaler (every type)", "Keys every `scaler:` takes.", as_scaler_common_opts);
    for (size_t i = 0; rc == 0 && as_sources[i]; i++) {
        char title[96];
        snprintf(title, sizeof(title), "Source `%s`", as_sources[i]->name);
        rc |= section(sb, title, as_sources[i]->summary, as_sources[i]->opts);
    }
    for (size_t i = 0; rc == 0 && as_scalers[i]; i++) {
        char title[96];
        snprintf(title, sizeof(title), "Scaler `%s`", as_scalers[i]->name);
        rc |= section(sb, title, as_scalers[i]->summary, as_scalers[i]->opts);
    }
    rc |= section(sb, "Notifier (every type)",
                  "Each entry of the top-level `notifiers:` mapping (the key is the notifier's "
                  "name) takes these keys beside its type's own. See docs/events.md.",
                  as_notifier_common_opts);
    for (size_t i = 0; rc == 0 && as_notifiers[i]; i++) {
        char title[96];
        snprintf(title, sizeof(title), "Notifier `%s`", as_notifiers[i]->name);
        rc |= section(sb, title, as_notifiers[i]->summary, as_notifiers[i]->opts);
    }
    return rc ? -1 : 0;
}
