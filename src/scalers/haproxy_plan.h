/* The `haproxy` scaler's options (shared with `autoscaler generate`, which renders the
 * configuration from the same section) and its pure planning: what to send HAProxy and write
 * to hosts.d, from what HAProxy and hosts.d say; no I/O, unit-tested. Not a backend: the ops
 * table is in haproxy.c. docs/scalers/haproxy.md.
 *
 * hosts.d is the truth; HAProxy is brought in line with it (reconcile):
 *   active entry          its server is in the backend, enabled, not draining, at its weight
 *                         (added again when a reload forgot it; `enable server` / `set server
 *                         ... state ready` when it is in maintenance or draining)
 *   draining entry        its server is drained; once it has no session and no queue, or
 *                         drain_timeout after `since`, the entry becomes deprovisioning
 *   deprovisioning entry  its server goes to maintenance, its sessions are shut down, it is
 *                         deleted (`del server`), then `deprovision` runs; exit 0 removes the
 *                         entry
 *   provision record      its command runs (again, with the same id, after a restart)
 * A state change is written to hosts.d (durably) before the command that follows from it, so
 * a daemon killed at any instant resumes from the files. */
#ifndef AS_SCALERS_HAPROXY_PLAN_H
#define AS_SCALERS_HAPROXY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "config/hosts.h"
#include "config/opt.h"
#include "core/plugin.h"
#include "util/haproxy_rt.h"

enum { AS_HAP_REMOVE_PROVISIONED = 0, AS_HAP_REMOVE_ANY };

/* The options; must begin the scaler's state. Paths are absolute after validation (a relative
 * one is taken from the configuration file's directory). */
struct as_haproxy_opts {
    char *socket, *backend, *hosts_dir;
    char **provision, **deprovision, **server_options;
    int weight, remove;
    int64_t drain_timeout, provision_timeout, deprovision_timeout, grace, poll;
    char *tmpl, *config;
    char **check, **reload;
};

extern const struct as_opt as_haproxy_opts_table[];

/* The scaler's table, so that the commands find its groups (haproxy.c). */
extern const struct as_scaler_ops as_scaler_haproxy;

/* Cross-field checks, defaults of the lists and path resolution (relative to map's file).
 * Returns 0 or -1 with err at the key's position. */
int as_haproxy_validate(struct as_haproxy_opts *o, struct as_node *map, struct as_err *err);

/* ---- planning ---- */

enum hap_step_kind {
    HAP_CMD,         /* a Runtime API command: cmd, answered with expect on success */
    HAP_ADD,         /* `add server` for e (its host resolved first when it is a DNS name) */
    HAP_WRITE,       /* writes e to hosts.d, durably */
    HAP_DEPROV,      /* starts `deprovision` for e (unless it runs or waits to run again) */
    HAP_PROV_NEW,    /* writes a new provision record, then starts `provision` */
    HAP_PROV_RESUME, /* starts `provision` for the record id (unless it runs) */
};

struct hap_step {
    enum hap_step_kind kind;
    int group; /* the steps of one server: a failure skips the rest of its group */
    int scale; /* part of the set's own change: its failure fails the set */
    char cmd[AS_HART_CMD_MAX];
    const char *expect;
    struct as_host_entry e;
    char id[AS_PROV_ID_MAX];
};

struct hap_plan {
    struct hap_step *v;
    size_t n, cap;
    int groups;
    int undrain;   /* drains cancelled */
    int drain;     /* drains started */
    int provision; /* provisions started */
    int short_by;  /* removals wanted that no removable server could give */
};

/* What one read of HAProxy and hosts.d found. */
struct hap_view {
    const struct as_hosts *hosts;
    const struct as_hart_server *srv;
    size_t nsrv;
    int64_t now_ms; /* Unix ms */
};

/* The count get reports: active entries whose server is in the backend with no maintenance or
 * drain flag, plus the provision records (provisions in flight count, drains do not;
 * servers of the backend without an entry are not ours and do not count). */
int hap_count(const struct hap_view *v);

/* The steps that bring HAProxy in line with hosts.d (see the top of this file) and, when
 * want >= 0, change the pool to want servers: up, drains are cancelled (the latest first),
 * then provisions start; down, the removable active servers (provisioned ones, or any with
 * remove: any) with the fewest current sessions are drained (ties: the newest first). A
 * server drained now is removed by a later plan, never by this one. Appends to p. Returns 0,
 * or -1 on ENOMEM. */
int hap_plan(const struct as_haproxy_opts *o, const struct hap_view *v, int want,
             struct hap_plan *p);

/* Whether hosts.d has work a poll should come back for (a drain, a deprovisioning, a
 * provision record). */
int hap_pending(const struct hap_view *v);

void hap_plan_free(struct hap_plan *p);

/* Appends a step of kind for e (copied; NULL: none) in the plan's current group. NULL on
 * ENOMEM. */
struct hap_step *hap_plan_step(struct hap_plan *p, enum hap_step_kind kind,
                               const struct as_host_entry *e);

/* The server of v named name, or NULL. */
const struct as_hart_server *hap_server(const struct hap_view *v, const char *name);

/* Whether the options hold the `check` keyword (then `enable health` follows `add server`). */
int hap_has_check(const struct as_haproxy_opts *o);

/* "add server BACKEND/NAME ADDRESS weight W OPTIONS" for e at address ip (an IP literal, or
 * e->host itself). Returns 0, or -1 when it does not fit len. */
int hap_add_command(const struct as_haproxy_opts *o, const struct as_host_entry *e, const char *ip,
                    char *out, size_t len);

#endif
