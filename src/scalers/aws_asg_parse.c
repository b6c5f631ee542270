/* DescribeAutoScalingGroups and SetDesiredCapacity answers (see aws_asg_parse.h), read with the
 * strict XML reader: every path below is the API Reference's. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/aws_asg_parse.h"
#include "util/xml.h"

#define ROOT "DescribeAutoScalingGroupsResponse"
#define LIST ROOT "/DescribeAutoScalingGroupsResult/AutoScalingGroups"
#define GROUP LIST "/member"
#define INSTANCE GROUP "/Instances/member"

struct describe {
    const char *name;
    struct as_asg_group *g;
    int have_list, have_name, have_desired, have_min, have_max;
    struct as_asg_instance cur;
    int cur_has_id;
    size_t cap;
};

/* A whole number 0..INT_MAX written as digits only. */
static int whole(const char *text, size_t len, int *out)
{
    long v = 0;
    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    if (v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int field(char *dst, size_t n, const char *text, size_t len, const char *what,
                 struct as_err *err)
{
    if (len >= n)
        return as_err_set(err, "%s longer than %zu bytes", what, n - 1);
    memcpy(dst, text, len);
    dst[len] = '\0';
    return 0;
}

static int keep_instance(struct describe *d, struct as_err *err)
{
    struct as_asg_group *g = d->g;
    if (!d->cur_has_id)
        return as_err_set(err, "an instance without an InstanceId");
    g->instances_total++;
    if (g->ninstances == AS_ASG_INSTANCES_MAX)
        return 0;
    if (g->ninstances == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct as_asg_instance *v = realloc(g->instances, cap * sizeof(*v));
        if (v == NULL)
            return as_err_set(err, "out of memory");
        g->instances = v;
        d->cap = cap;
    }
    g->instances[g->ninstances++] = d->cur;
    return 0;
}

static int number(int *dst, int *have, const char *text, size_t len, const char *what,
                  struct as_err *err)
{
    if (whole(text, len, dst) < 0)
        return as_err_set(err, "%s is not a whole number in 0..%d", what, INT_MAX);
    *have = 1;
    return 0;
}

/* A leaf of the group or of one of its instances. */
static int leaf(struct describe *d, const struct as_xml_path *path, const char *text, size_t len,
                struct as_err *err)
{
    struct as_asg_group *g = d->g;
    if (as_xml_path_is(path, GROUP "/AutoScalingGroupName")) {
        if (strlen(d->name) != len || memcmp(d->name, text, len) != 0)
            return as_err_set(err, "the answer describes another group");
        d->have_name = 1;
    } else if (as_xml_path_is(path, GROUP "/DesiredCapacity")) {
        return number(&g->desired, &d->have_desired, text, len, "DesiredCapacity", err);
    } else if (as_xml_path_is(path, GROUP "/MinSize")) {
        return number(&g->min, &d->have_min, text, len, "MinSize", err);
    } else if (as_xml_path_is(path, GROUP "/MaxSize")) {
        return number(&g->max, &d->have_max, text, len, "MaxSize", err);
    } else if (as_xml_path_is(path, INSTANCE "/InstanceId")) {
        d->cur_has_id = len > 0;
        return field(d->cur.id, sizeof(d->cur.id), text, len, "an InstanceId", err);
    } else if (as_xml_path_is(path, INSTANCE "/LifecycleState")) {
        return field(d->cur.lifecycle, sizeof(d->cur.lifecycle), text, len, "a LifecycleState",
                     err);
    } else if (as_xml_path_is(path, INSTANCE "/HealthStatus")) {
        return field(d->cur.health, sizeof(d->cur.health), text, len, "a HealthStatus", err);
    }
    return 0;
}

static int group_complete(const struct describe *d, struct as_err *err)
{
    if (!d->have_name)
        return as_err_set(err, "a group without an AutoScalingGroupName");
    if (!d->have_desired || !d->have_min || !d->have_max)
        return as_err_set(err, "a group without %s",
                          !d->have_desired ? "DesiredCapacity"
                          : !d->have_min   ? "MinSize"
                                           : "MaxSize");
    return 0;
}

static int on_describe(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                       size_t len, void *arg, struct as_err *err)
{
    struct describe *d = arg;
    if (ev == AS_XML_OPEN) {
        if (path->depth == 1 && strcmp(path->name[0], ROOT) != 0)
            return as_err_set(err, "not a DescribeAutoScalingGroups answer (root <%.64s>)",
                              path->name[0]);
        if (as_xml_path_is(path, LIST))
            d->have_list = 1;
        if (as_xml_path_is(path, GROUP) && ++d->g->groups > 1)
            return as_err_set(err, "more than one group in the answer");
        if (as_xml_path_is(path, INSTANCE)) {
            memset(&d->cur, 0, sizeof(d->cur));
            d->cur_has_id = 0;
        }
        return 0;
    }
    if (as_xml_path_is(path, INSTANCE))
        return keep_instance(d, err);
    if (as_xml_path_is(path, GROUP))
        return group_complete(d, err);
    return text ? leaf(d, path, text, len, err) : 0;
}

int as_asg_parse_describe(const char *body, size_t len, const char *name, struct as_asg_group *g,
                          struct as_err *err)
{
    struct describe d = {.name = name, .g = g};
    free(g->instances);
    memset(g, 0, sizeof(*g));
    if (as_xml_parse(body, len, on_describe, &d, err) < 0)
        return -1;
    if (!d.have_list)
        return as_err_set(err, "a DescribeAutoScalingGroups answer without AutoScalingGroups");
    return 0;
}

int as_asg_instance_ready(const struct as_asg_instance *in)
{
    return strcmp(in->lifecycle, "InService") == 0 && strcmp(in->health, "Healthy") == 0;
}

int as_asg_instance_leaving(const struct as_asg_instance *in)
{
    return strncmp(in->lifecycle, "Terminat", 8) == 0 || strncmp(in->lifecycle, "Detach", 6) == 0;
}

static int on_set(enum as_xml_event ev, const struct as_xml_path *path, const char *text,
                  size_t len, void *arg, struct as_err *err)
{
    (void)text, (void)len, (void)arg;
    if (ev == AS_XML_OPEN && path->depth == 1 &&
        strcmp(path->name[0], "SetDesiredCapacityResponse") != 0)
        return as_err_set(err, "not a SetDesiredCapacity answer (root <%.64s>)", path->name[0]);
    return 0;
}

int as_asg_parse_set(const char *body, size_t len, struct as_err *err)
{
    return as_xml_parse(body, len, on_set, NULL, err);
}
