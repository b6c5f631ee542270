/* The `haproxy` scaler's running state, shared by haproxy.c (the ops, the jobs that read and
 * change HAProxy) and haproxy_child.c (the provision and deprovision commands). Private to
 * these two files. */
#ifndef AS_SCALERS_HAPROXY_RUN_H
#define AS_SCALERS_HAPROXY_RUN_H

#include <stdint.h>

#include "util/log.h"
#include "util/proc.h"
#include "scalers/haproxy_plan.h"

struct as_hart;
struct as_resolve;
struct as_writer;
struct as_timer;

enum job_kind { JOB_GET, JOB_SET, JOB_POLL, JOB_ADD };

struct job {
    enum job_kind kind;
    int want;         /* JOB_SET */
    as_scale_cb done; /* GET and SET: the engine's; NULL once cancelled */
    void *arg;
    struct as_host_entry e; /* JOB_ADD: the server a provision made (e.id its provision) */
    struct job *next;
};

enum child_kind { CHILD_PROV, CHILD_DEPROV };

/* A provision command in flight, or a deprovision command that runs or waits to run again. */
struct hap_child {
    struct haproxy_scaler *s;
    enum child_kind kind;
    struct as_proc *proc;    /* NULL: a deprovision waiting for next_ms */
    char id[AS_PROV_ID_MAX]; /* CHILD_PROV */
    struct as_host_entry e;  /* CHILD_DEPROV: the entry */
    int64_t next_ms;         /* monotonic: not started again before */
    int failures;
    struct hap_child *next;
};

struct haproxy_scaler {
    struct as_haproxy_opts o; /* first: `generate` reads the options (haproxy_plan.h) */
    struct as_ctx ctx;
    struct as_writer *writer;
    struct job *queue, *cur;
    int pass, aborted;
    struct as_hart *rt;
    struct as_resolve *res;
    struct as_timer *step_timer; /* a host name being resolved */
    uint64_t ticket;             /* a write in flight */
    struct as_timer *poll_timer, *kick;
    struct as_hosts hosts; /* as the last read found them */
    struct as_hart_server *srv;
    size_t nsrv;
    int have_view; /* hosts and srv hold a whole read (describe) */
    struct hap_plan plan;
    size_t pc;
    int skip_group;
    struct as_scale_result res_out;
    struct hap_child *children;
    int nchildren; /* running */
    int pending, last_count;
    int lock_fd, read_only;
    int stopping;
    void (*children_done)(struct haproxy_scaler *s); /* hap_children_stop's done */
    as_stopped_cb stop_done;
    void *stop_arg;
    struct as_fault_log fault, lock_fault;
};

#define HAP_LOG "scaler/haproxy[%s]: "

/* ---- haproxy_child.c ---- */

/* Starts `provision` for the record id (written already). resume: a record left by an
 * earlier run. Returns 0, or -1 with why (the record is left for the caller); *permanent: the
 * command cannot be run at all. */
int hap_provision(struct haproxy_scaler *s, const char *id, int resume, char *why, size_t len,
                  int *permanent);

/* Whether the provision id runs in this daemon. */
int hap_provision_running(const struct haproxy_scaler *s, const char *id);

/* Starts `deprovision` for e unless it runs or waits to run again (then nothing); without a
 * deprovision command the entry is removed at once. */
void hap_deprovision(struct haproxy_scaler *s, const struct as_host_entry *e);

/* Whether a deprovision runs or waits (work for a poll to come back for). */
int hap_children_waiting(const struct haproxy_scaler *s);

/* Stop: SIGTERM to every command (SIGKILL after grace); done runs once all have exited (at
 * once when none runs). */
void hap_children_stop(struct haproxy_scaler *s, void (*done)(struct haproxy_scaler *));

/* Frees what is left (after hap_children_stop's done). */
void hap_children_free(struct haproxy_scaler *s);

/* ---- haproxy.c, for the children ---- */

/* Queues a job that writes e (a provisioned server) to hosts.d, removes its provision record
 * and adds it to HAProxy. Returns 0 or -1 (ENOMEM). */
int hap_enqueue_add(struct haproxy_scaler *s, const struct as_host_entry *e);

/* The provision record id is done with: removes its file. */
void hap_forget_provision(struct haproxy_scaler *s, const char *id);

#endif
