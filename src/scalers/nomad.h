/* The Nomad HTTP API's job answers and the scale request, built and read without trusting
 * the answers: for the `nomad` scaler, its unit tests and its fuzz target. Follows Nomad's
 * Jobs HTTP API (https://developer.hashicorp.com/nomad/api-docs/jobs): Read Job, Read Job
 * Scale Status, Scale Task Group, List Job Allocations. Not a backend: the ops table is in
 * nomad.c. */
#ifndef AS_SCALERS_NOMAD_H
#define AS_SCALERS_NOMAD_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Which read gives the current count. */
enum as_nomad_read {
    AS_NOMAD_READ_SCALE, /* GET /v1/job/:job_id/scale: TaskGroups.<group>.Desired */
    AS_NOMAD_READ_JOB,   /* GET /v1/job/:job_id: the Count of TaskGroups[] named <group> */
};

/* The URL of a job's endpoint: address (trailing slashes dropped) + "/v1/job/" + the job id
 * percent-encoded as a path segment + suffix ("" or "/scale"), then "?namespace=NS" and
 * "&region=R" for those that are not NULL, percent-encoded. Caller frees; NULL on ENOMEM. */
char *as_nomad_url(const char *address, const char *job, const char *suffix, const char *namespace_,
                   const char *region);

/* The body of Scale Task Group: {"Count":N,"Target":{"Group":G},"Message":M} and
 * "PolicyOverride":true when policy_override is set, as compact JSON with every string
 * escaped. Caller frees; NULL on ENOMEM. */
char *as_nomad_scale_body(int count, const char *group, const char *message, int policy_override);

/* The group's count in an answer of `read` (see enum as_nomad_read): a JSON number, whole,
 * 0..INT_MAX. A stopped job ("JobStopped" or "Stop" true) has no count to scale. Returns 0
 * with *out, or -1 with err ("response is not JSON (...)", "response is not a job ...",
 * "job is stopped", "task group 'G' is not in the job", "replica count 2.5 is not a whole
 * number", ...); *permanent is set when retrying the read cannot help (a group that is not
 * there). */
int as_nomad_count(enum as_nomad_read read, const char *body, size_t len, const char *group,
                   int *out, int *permanent, struct as_err *err);

/* The reason of an answer that is not 2xx (Nomad explains errors in plain text), into buf:
 * "HTTP 403: Permission denied". Always NUL-terminates buf (len > 0). */
void as_nomad_reason(long status, const char *body, size_t blen, char *buf, size_t len);

/* Whether retrying cannot fix an answer: 3xx and 4xx, but 408, 409, 425, 429 and the 400
 * Nomad sends while a deployment of the job is active ("job scaling blocked due to active
 * deployment": it ends by itself); 5xx are transient. */
int as_nomad_permanent(long status, const char *body, size_t blen);

/* One allocation of the task group, as the scaler's workers hook reports it. */
struct as_nomad_alloc {
    char id[64];        /* the allocation's ID (a UUID: Nomad's telemetry labels it alloc_id) */
    int64_t created_ms; /* CreateTime (nanoseconds since the epoch) in ms; -1 unknown */
    int not_ready;      /* ClientStatus is not "running" (pending, unknown) */
};

/* The allocations kept from one answer: v[0..n), and what was left out. */
struct as_nomad_allocs {
    struct as_nomad_alloc *v;
    size_t n, cap;
    size_t dropped; /* kept ones beyond max */
    size_t long_id; /* IDs of 64 bytes or more */
};

/* The allocations of task group `group` in an answer of List Job Allocations (GET
 * /v1/job/:job_id/allocations, a JSON array of allocation stubs): those whose DesiredStatus is
 * "run" and whose ClientStatus is "pending", "running" or "unknown" (a client out of touch);
 * one being stopped or evicted, or complete, failed or lost, is left out, as the HPA leaves out
 * terminating and failed pods. At most max are kept (the rest counted in out->dropped). Stubs
 * without a string ID, TaskGroup, DesiredStatus and ClientStatus are errors; a CreateTime that is
 * absent or not a number >= 0 gives created_ms -1. Returns 0 with *out (replacing what it
 * held: caller frees with as_nomad_allocs_free), or -1 with err (*out emptied). */
int as_nomad_allocs(const char *body, size_t len, const char *group, size_t max,
                    struct as_nomad_allocs *out, struct as_err *err);

/* Frees what out holds and empties it. */
void as_nomad_allocs_free(struct as_nomad_allocs *out);

#endif
