/* The answers of Amazon EC2 Auto Scaling's DescribeAutoScalingGroups and SetDesiredCapacity, as
 * the API Reference (version 2011-01-01) shows them, read strictly for the `aws_asg` scaler. A
 * helper of src/scalers/aws_asg.c, separate so that it can be unit-tested and fuzzed. */
#ifndef AS_AWS_ASG_PARSE_H
#define AS_AWS_ASG_PARSE_H

#include <stddef.h>

#include "util/err.h"

/* Instances kept from one answer (more are counted, not kept). */
#define AS_ASG_INSTANCES_MAX 4096

struct as_asg_instance {
    char id[64];        /* InstanceId */
    char lifecycle[40]; /* LifecycleState: "InService", "Pending", "Terminating:Wait", ... */
    char health[40];    /* HealthStatus: "Healthy" or "Unhealthy" (at most 32 characters) */
};

/* What a DescribeAutoScalingGroups answer says of the group. Zero-initialise; the caller frees
 * `instances` (after a failed parse too). */
struct as_asg_group {
    size_t groups; /* members of AutoScalingGroups in the answer */
    int desired, min, max;
    struct as_asg_instance *instances; /* at most AS_ASG_INSTANCES_MAX */
    size_t ninstances, instances_total;
};

/* Reads a DescribeAutoScalingGroups answer for the group called name into *g. Returns 0 for the
 * documented answer: g->groups is 1, or 0 when AutoScalingGroups is empty (the group does not
 * exist: the caller's error, never a count of 0). Returns -1 with err otherwise: not the
 * document, malformed XML, a group of another name, more than one group, a DesiredCapacity,
 * MinSize or MaxSize that is missing or not a whole number in 0..INT_MAX, an instance without
 * an InstanceId, a field longer than the API allows. */
int as_asg_parse_describe(const char *body, size_t len, const char *name, struct as_asg_group *g,
                          struct as_err *err);

/* Whether an instance counts as ready: InService and Healthy. */
int as_asg_instance_ready(const struct as_asg_instance *in);

/* Whether an instance is leaving the group (LifecycleState Terminating, Terminating:Wait,
 * Terminating:Proceed, Terminated, Detaching or Detached): left out of the replicas, as the HPA
 * leaves out pods being deleted. */
int as_asg_instance_leaving(const struct as_asg_instance *in);

/* Reads a SetDesiredCapacity answer: <SetDesiredCapacityResponse> with its ResponseMetadata.
 * Returns 0 or -1 with err. */
int as_asg_parse_set(const char *body, size_t len, struct as_err *err);

#endif
