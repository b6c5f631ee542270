/* The aws_asg scaler's readers of Amazon EC2 Auto Scaling answers: DescribeAutoScalingGroups
 * (scalers/aws_asg_parse.h), SetDesiredCapacity, and AWS's error document (util/awsquery.h),
 * each given the same bytes. Invariants: a describe that succeeds holds at most one group, its
 * numbers in 0..INT_MAX, at most AS_ASG_INSTANCES_MAX instances with non-empty ids and no more
 * than it counted; an error document that is read has a non-empty code and every field is
 * NUL-terminated, well-formed UTF-8 (cut at a character boundary); a failure has a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/aws_asg_parse.h"
#include "util/awsquery.h"

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 ? 2 : 0;
        if (k == 0)
            return 0;
        for (size_t j = 1; j < k; j++)
            if ((p[j] & 0xC0) != 0x80)
                return 0;
        p += k;
    }
    return 1;
}

static void bounded(const char *s, size_t n)
{
    if (memchr(s, '\0', n) == NULL || !utf8_ok(s))
        abort();
}

static void describe(const char *doc, size_t len)
{
    struct as_asg_group g = {0};
    struct as_err err;
    err.msg[0] = '\0';
    if (as_asg_parse_describe(doc, len, "web-asg", &g, &err) == 0) {
        if (g.groups > 1 || (g.groups == 1 && (g.desired < 0 || g.min < 0 || g.max < 0)))
            abort();
        if (g.ninstances > AS_ASG_INSTANCES_MAX || g.ninstances > g.instances_total ||
            (g.ninstances > 0 && g.instances == NULL))
            abort();
        for (size_t i = 0; i < g.ninstances; i++) {
            const struct as_asg_instance *in = &g.instances[i];
            bounded(in->id, sizeof(in->id));
            bounded(in->lifecycle, sizeof(in->lifecycle));
            bounded(in->health, sizeof(in->health));
            if (in->id[0] == '\0')
                abort();
            (void)as_asg_instance_ready(in);
            (void)as_asg_instance_leaving(in);
        }
    } else if (err.msg[0] == '\0') {
        abort();
    }
    free(g.instances);
}

static void error_doc(const char *doc, size_t len)
{
    struct as_aws_error e;
    struct as_err err;
    err.msg[0] = '\0';
    if (as_aws_error_parse(doc, len, &e, &err) == 0) {
        bounded(e.type, sizeof(e.type));
        bounded(e.code, sizeof(e.code));
        bounded(e.message, sizeof(e.message));
        bounded(e.request_id, sizeof(e.request_id));
        if (e.code[0] == '\0')
            abort();
        (void)as_aws_error_transient(400, e.code);
    } else if (err.msg[0] == '\0') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    struct as_err err;
    describe(doc, size);
    error_doc(doc, size);
    err.msg[0] = '\0';
    if (as_asg_parse_set(doc, size, &err) != 0 && err.msg[0] == '\0')
        abort();
    return 0;
}
