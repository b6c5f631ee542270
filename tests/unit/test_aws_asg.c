/* scalers/aws_asg and util/awsquery: reading DescribeAutoScalingGroups, SetDesiredCapacity and
 * AWS's error documents as the API Reference (2011-01-01) writes them, which errors are
 * transient, and the scaler's calls against an in-process server (api_server.h): the Query
 * API's form bodies, the SigV4 Authorization (recomputed here from what the server received),
 * the describe line, the workers, the bounds, every failure, cancel, and no secret anywhere. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config/cfg.h"
#include "core/plugin.h"
#include "scalers/aws_asg_parse.h"
#include "util/awsquery.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/sigv4.h"
#include "util/util.h"

#include "api_server.h"

extern const struct as_scaler_ops as_scaler_aws_asg;
static const struct as_scaler_ops *ops = &as_scaler_aws_asg;
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqw"
#define SC_AFTER_CALL(s)                                                                           \
    do {                                                                                           \
        assert_null(strstr((s)->r.error, SECRET)); /* no secret in an error */                     \
        assert_null(strstr((s)->r.error, TOKEN));                                                  \
    } while (0)
#include "api_scaler_fixture.h"

#define XMLNS "http://autoscaling.amazonaws.com/doc/2011-01-01/"
#define FORM "application/x-www-form-urlencoded; charset=utf-8"

#define INSTANCE(id, state, health)                                                                \
    "<member><AvailabilityZone>us-east-1a</AvailabilityZone><HealthStatus>" health                 \
    "</HealthStatus><InstanceId>" id "</InstanceId><LifecycleState>" state "</LifecycleState>"     \
    "</member>"

/* A DescribeAutoScalingGroups answer of the API Reference's shape with the group's fields (some
 * optional elements left out: api_server.h answers at most 2 KiB). */
#define GROUP(name, min, max, desired, instances)                                                  \
    "<member><AutoScalingGroupARN>arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:"    \
    "930d940e-891e-4781-a11a-7b0acd480f03:autoScalingGroupName/" name "</AutoScalingGroupARN>"     \
    "<AutoScalingGroupName>" name "</AutoScalingGroupName><AvailabilityZones><member>us-east-1a"   \
    "</member></AvailabilityZones><CreatedTime>2023-05-06T17:47:15.107Z</CreatedTime>"             \
    "<DefaultCooldown>300</DefaultCooldown><DesiredCapacity>" desired "</DesiredCapacity>"         \
    "<EnabledMetrics/><HealthCheckGracePeriod>300</HealthCheckGracePeriod><HealthCheckType>EC2"    \
    "</HealthCheckType><Instances>" instances "</Instances><LoadBalancerNames/><MaxSize>" max      \
    "</MaxSize><MinSize>" min "</MinSize><NewInstancesProtectedFromScaleIn>false"                  \
    "</NewInstancesProtectedFromScaleIn><SuspendedProcesses/><Tags/><TargetGroupARNs/>"            \
    "<TerminationPolicies><member>Default</member></TerminationPolicies></member>"
#define DESCRIBE(groups)                                                                           \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeAutoScalingGroupsResponse "              \
    "xmlns=\"" XMLNS "\">\n  <DescribeAutoScalingGroupsResult>\n    <AutoScalingGroups>" groups    \
    "</AutoScalingGroups>\n  </DescribeAutoScalingGroupsResult>\n  <ResponseMetadata>\n"           \
    "    <RequestId>7c6e177f-f082-11e1-ac58-3714bEXAMPLE</RequestId>\n  </ResponseMetadata>\n"     \
    "</DescribeAutoScalingGroupsResponse>\n"
#define SET_OK                                                                                     \
    "<SetDesiredCapacityResponse xmlns=\"" XMLNS "\">\n  <ResponseMetadata>\n    <RequestId>"      \
    "7c6e177f-f082-11e1-ac58-3714bEXAMPLE</RequestId>\n  </ResponseMetadata>\n"                    \
    "</SetDesiredCapacityResponse>\n"
#define ERROR_DOC(type, code, msg)                                                                 \
    "<ErrorResponse xmlns=\"" XMLNS "\">\n  <Error>\n    <Type>" type "</Type>\n    <Code>" code   \
    "</Code>\n    <Message>" msg "</Message>\n  </Error>\n  <RequestId>"                           \
    "4f8b5bd3-1234-1234-1234-123456789012</RequestId>\n</ErrorResponse>\n"

#define FOUR_INSTANCES                                                                             \
    INSTANCE("i-0598c7d356eba48d7", "InService", "Healthy")                                        \
    INSTANCE("i-0a1b2c3d4e5f60718", "Pending", "Healthy")                                          \
    INSTANCE("i-0b2c3d4e5f6071829", "InService", "Unhealthy")                                      \
    INSTANCE("i-0c3d4e5f607182930", "Terminating:Wait", "Healthy")

/* ---- the answers ---- */

static void test_describe(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int groups, desired, min, max; /* groups -1: an error containing `error` */
        size_t ninstances;
        const char *error;
    } cases[] = {
        {DESCRIBE(GROUP("web-asg", "1", "10", "4", FOUR_INSTANCES)), 1, 4, 1, 10, 4, NULL},
        {DESCRIBE(GROUP("web-asg", "0", "2147483647", "0", "")), 1, 0, 0, 2147483647, 0, NULL},
        {DESCRIBE(""), 0, 0, 0, 0, 0, NULL},
        {"<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups/>"
         "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>",
         0, 0, 0, 0, 0, NULL},
        {"<DescribeAutoScalingGroupsResponse/>", -1, 0, 0, 0, 0, "without AutoScalingGroups"},
        {DESCRIBE(GROUP("other", "1", "10", "4", "")), -1, 0, 0, 0, 0,
         "the answer describes another group"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "4", "") GROUP("web-asg", "1", "10", "4", "")), -1, 0,
         0, 0, 0, "more than one group in the answer"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "two", "")), -1, 0, 0, 0, 0,
         "DesiredCapacity is not a whole number in 0..2147483647"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "-1", "")), -1, 0, 0, 0, 0, "DesiredCapacity is not"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "2147483648", "")), -1, 0, 0, 0, 0,
         "DesiredCapacity is not"},
        {DESCRIBE(GROUP("web-asg", "1", "10", " 4", "")), -1, 0, 0, 0, 0, "DesiredCapacity is not"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "", "")), -1, 0, 0, 0, 0, "DesiredCapacity is not"},
        {DESCRIBE(GROUP("web-asg", "1.0", "10", "4", "")), -1, 0, 0, 0, 0, "MinSize is not"},
        {DESCRIBE(GROUP("web-asg", "1", "1e3", "4", "")), -1, 0, 0, 0, 0, "MaxSize is not"},
        {DESCRIBE("<member><AutoScalingGroupName>web-asg</AutoScalingGroupName><MinSize>1</MinSize>"
                  "<MaxSize>3</MaxSize></member>"),
         -1, 0, 0, 0, 0, "a group without DesiredCapacity"},
        {DESCRIBE("<member><DesiredCapacity>1</DesiredCapacity></member>"), -1, 0, 0, 0, 0,
         "a group without an AutoScalingGroupName"},
        {DESCRIBE(GROUP("web-asg", "1", "10", "1",
                        "<member><LifecycleState>InService</LifecycleState></member>")),
         -1, 0, 0, 0, 0, "an instance without an InstanceId"},
        /* HealthStatus may be 32 characters long, LifecycleState is at most 26. */
        {DESCRIBE(GROUP("web-asg", "1", "10", "1",
                        INSTANCE("i-0598c7d356eba48d7", "Warmed:Terminating:Proceed",
                                 "Healthy-but-thirty-two-chars-xyz"))),
         1, 1, 1, 10, 1, NULL},
        {DESCRIBE(GROUP("web-asg", "1", "10", "1",
                        INSTANCE("i-0598c7d356eba48d7", "InService",
                                 "Healthy and a status longer than the API allows"))),
         -1, 0, 0, 0, 0, "a HealthStatus longer than 39 bytes"},
        {"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>", -1, 0, 0, 0, 0,
         "not a DescribeAutoScalingGroups answer (root <ErrorResponse>)"},
        {"", -1, 0, 0, 0, 0, "XML: no root element"},
        {"{\"AutoScalingGroups\":[]}", -1, 0, 0, 0, 0, "XML: a root element expected"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct as_asg_group g = {0};
        struct as_err err;
        as_err_clear(&err);
        int rc = as_asg_parse_describe(cases[i].doc, strlen(cases[i].doc), "web-asg", &g, &err);
        if (cases[i].groups < 0) {
            if (rc == 0 || strstr(err.msg, cases[i].error) == NULL)
                fail_msg("case %zu: rc=%d '%s'", i, rc, err.msg);
        } else if (rc != 0 || (int)g.groups != cases[i].groups || g.desired != cases[i].desired ||
                   g.min != cases[i].min || g.max != cases[i].max ||
                   g.ninstances != cases[i].ninstances) {
            fail_msg("case %zu: rc=%d '%s' groups=%zu desired=%d min=%d max=%d n=%zu", i, rc,
                     err.msg, g.groups, g.desired, g.min, g.max, g.ninstances);
        }
        free(g.instances);
    }
}

static void test_instances(void **state)
{
    (void)state;
    const char *doc = DESCRIBE(GROUP("web-asg", "1", "10", "4", FOUR_INSTANCES));
    struct as_asg_group g = {0};
    struct as_err err;
    assert_int_equal(as_asg_parse_describe(doc, strlen(doc), "web-asg", &g, &err), 0);
    assert_int_equal(g.ninstances, 4);
    assert_int_equal(g.instances_total, 4);
    assert_string_equal(g.instances[0].id, "i-0598c7d356eba48d7");
    assert_string_equal(g.instances[3].lifecycle, "Terminating:Wait");
    assert_string_equal(g.instances[2].health, "Unhealthy");
    int ready[] = {1, 0, 0, 0}, leaving[] = {0, 0, 0, 1};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(as_asg_instance_ready(&g.instances[i]), ready[i]);
        assert_int_equal(as_asg_instance_leaving(&g.instances[i]), leaving[i]);
    }
    const char *states[] = {"Terminating", "Terminating:Proceed", "Terminated", "Detaching",
                            "Detached"};
    for (size_t i = 0; i < AS_ARRAY_LEN(states); i++) {
        struct as_asg_instance in = {.health = "Healthy"};
        snprintf(in.lifecycle, sizeof(in.lifecycle), "%s", states[i]);
        assert_true(as_asg_instance_leaving(&in));
    }
    const char *staying[] = {"Pending:Wait", "Standby", "EnteringStandby", "InService", ""};
    for (size_t i = 0; i < AS_ARRAY_LEN(staying); i++) {
        struct as_asg_instance in = {.health = "Healthy"};
        snprintf(in.lifecycle, sizeof(in.lifecycle), "%s", staying[i]);
        assert_false(as_asg_instance_leaving(&in));
    }
    /* A parse reuses the struct: the old instances are freed first. */
    assert_int_equal(as_asg_parse_describe(doc, strlen(doc), "web-asg", &g, &err), 0);
    free(g.instances);

    /* More instances than are kept: counted, the first AS_ASG_INSTANCES_MAX kept. */
    struct as_sb sb = {0};
    as_sb_puts(&sb, "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
                    "<AutoScalingGroups><member><AutoScalingGroupName>web-asg"
                    "</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>9000</MaxSize>"
                    "<DesiredCapacity>4100</DesiredCapacity><Instances>");
    for (int i = 0; i < 4100; i++)
        as_sb_printf(&sb, "<member><InstanceId>i-%017x</InstanceId></member>", i);
    assert_int_equal(as_sb_puts(&sb, "</Instances></member></AutoScalingGroups>"
                                     "</DescribeAutoScalingGroupsResult>"
                                     "</DescribeAutoScalingGroupsResponse>"),
                     0);
    g = (struct as_asg_group){0};
    assert_int_equal(as_asg_parse_describe(sb.buf, sb.len, "web-asg", &g, &err), 0);
    assert_int_equal(g.ninstances, AS_ASG_INSTANCES_MAX);
    assert_int_equal(g.instances_total, 4100);
    assert_int_equal(g.desired, 4100);
    free(g.instances);
    as_sb_free(&sb);
}

static void test_set_answer(void **state)
{
    (void)state;
    struct as_err err;
    assert_int_equal(as_asg_parse_set(SET_OK, strlen(SET_OK), &err), 0);
    const char *bad[] = {"", "<SetDesiredCapacityResponse", "<SetDesiredCapacityResult/>",
                         DESCRIBE("")};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        assert_int_equal(as_asg_parse_set(bad[i], strlen(bad[i]), &err), -1);
    assert_string_equal(err.msg, "not a SetDesiredCapacity answer (root "
                                 "<DescribeAutoScalingGroupsResponse>)");
}

static void test_error_document(void **state)
{
    (void)state;
    struct as_aws_error e;
    struct as_err err;
    const char *doc = ERROR_DOC("Sender", "ValidationError",
                                "New SetDesiredCapacity value 8 is above max value 4 for the "
                                "AutoScalingGroup.");
    assert_int_equal(as_aws_error_parse(doc, strlen(doc), &e, &err), 0);
    assert_string_equal(e.type, "Sender");
    assert_string_equal(e.code, "ValidationError");
    assert_string_equal(e.message, "New SetDesiredCapacity value 8 is above max value 4 for the "
                                   "AutoScalingGroup.");
    assert_string_equal(e.request_id, "4f8b5bd3-1234-1234-1234-123456789012");
    /* EC2's form. */
    doc = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not "
          "authorized &amp; so on</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
    assert_int_equal(as_aws_error_parse(doc, strlen(doc), &e, &err), 0);
    assert_string_equal(e.code, "UnauthorizedOperation");
    assert_string_equal(e.message, "You are not authorized & so on");
    assert_string_equal(e.request_id, "r-1");
    /* Not one. */
    const char *bad[] = {"<html><body>503 Service Temporarily Unavailable</body></html>",
                         "<ErrorResponse><Error><Message>m</Message></Error></ErrorResponse>",
                         "<ErrorResponse><Error><Code></Code></Error></ErrorResponse>",
                         "{\"__type\":\"Throttling\"}", ""};
    for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
        if (as_aws_error_parse(bad[i], strlen(bad[i]), &e, &err) == 0)
            fail_msg("case %zu read as '%s'", i, e.code);
    /* A long message is cut at a character boundary. */
    struct as_sb sb = {0};
    as_sb_puts(&sb, "<ErrorResponse><Error><Code>ValidationError</Code><Message>");
    for (int i = 0; i < 300; i++)
        as_sb_puts(&sb, "\xC3\xA9");
    as_sb_puts(&sb, "</Message></Error></ErrorResponse>");
    assert_int_equal(as_aws_error_parse(sb.buf, sb.len, &e, &err), 0);
    assert_int_equal(strlen(e.message), 254);
    as_sb_free(&sb);
    char small[4];
    as_aws_copy(small, sizeof(small), "a\xE2\x82\xAC", 4);
    assert_string_equal(small, "a");
    as_aws_copy(small, sizeof(small), "abc", 3);
    assert_string_equal(small, "abc");
}

static void test_transient(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *code;
        int transient;
    } rows[] = {
        {400, "Throttling", 1},
        {400, "ThrottlingException", 1},
        {400, "ScalingActivityInProgress", 1},
        {500, "ResourceContention", 1},
        {400, "ResourceContention", 1},
        {500, "InternalFailure", 1},
        {503, "ServiceUnavailable", 1},
        {503, NULL, 1},
        {502, NULL, 1},
        {408, NULL, 1},
        {429, NULL, 1},
        {400, "ValidationError", 0},
        {400, "AccessDeniedException", 0},
        {403, "AccessDenied", 0},
        {400, "NotAuthorized", 0},
        {403, "InvalidClientTokenId", 0},
        {403, "SignatureDoesNotMatch", 0},
        {400, "IncompleteSignature", 0},
        {403, "OptInRequired", 0},
        {400, "RequestExpired", 0},
        {400, "InvalidAction", 0},
        {403, "ExpiredToken", 0},
        {404, NULL, 0},
        {301, NULL, 0},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(rows); i++)
        if (as_aws_error_transient(rows[i].status, rows[i].code) != rows[i].transient)
            fail_msg("row %zu: %ld %s", i, rows[i].status, rows[i].code ? rows[i].code : "-");
}

/* ---- the scaler ---- */

static void clear_env(void)
{
    const char *vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",          "AWS_PROFILE",
        "AWS_REGION",        "AWS_DEFAULT_REGION",    "AWS_SHARED_CREDENTIALS_FILE"};
    for (size_t i = 0; i < AS_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    setenv("HOME", "/nonexistent", 1);
}

/* Whether the Authorization the server received is the signature of a POST of its body to
 * host with the form's Content-Type, at some second in [t0, t1], by the suite's key. */
static int signed_as_expected(int64_t t0, int64_t t1, const char *token)
{
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", api_port);
    const struct as_sigv4_pair hdrs[] = {{"Host", host}, {"Content-Type", FORM}};
    struct as_sigv4_creds creds = {"AKIDEXAMPLE", SECRET, token};
    for (int64_t t = t0; t <= t1; t++) {
        struct as_sigv4_req req = {.method = "POST",
                                   .path = "/",
                                   .headers = hdrs,
                                   .nheaders = 2,
                                   .payload = api.req_body,
                                   .payload_len = strlen(api.req_body),
                                   .region = "us-east-1",
                                   .service = "autoscaling",
                                   .time_s = t};
        struct as_sigv4 sig;
        struct as_err err;
        assert_int_equal(as_sigv4_sign(&req, &creds, &sig, &err), 0);
        int same = strcmp(sig.authorization, api.auth) == 0;
        as_sigv4_free(&sig);
        if (same)
            return 1;
    }
    return 0;
}

#define KEYS "access_key_id: AKIDEXAMPLE\nsecret_access_key: " SECRET "\n"
#define BASE "auto_scaling_group: web-asg\nregion: us-east-1\nendpoint: http://127.0.0.1:%d/\n"

static void test_calls(void **state)
{
    (void)state;
    struct sc s;
    struct as_err err;
    clear_env();
    as_log_secrets_clear();
    assert_int_equal(start_err(&s, BASE KEYS, &err), 0);
    /* The secret is known to the log from now on, though it came inline. */
    char line[512] = "x " SECRET " y";
    as_log_mask(line, strlen(line));
    assert_string_equal(line, "x *** y");

    api_serve(200, DESCRIBE(GROUP("web-asg", "1", "10", "4", FOUR_INSTANCES)), NULL, 0);
    int64_t t0, t1;
    struct as_scale_result r = call_timed(&s, -1, &t0, &t1);
    if (!r.ok)
        fail_msg("%s", r.error);
    assert_int_equal(r.replicas, 4);
    assert_string_equal(api.method, "POST");
    assert_string_equal(api.path, "/");
    assert_string_equal(api.ctype, FORM);
    assert_string_equal(api.req_body, "Action=DescribeAutoScalingGroups&AutoScalingGroupNames."
                                      "member.1=web-asg&Version=2011-01-01");
    assert_non_null(strstr(api.auth, "SignedHeaders=content-type;host;x-amz-date, Signature="));
    assert_true(signed_as_expected(t0, t1, NULL));

    /* The instances as the round's workers: the leaving one left out, age unknown. */
    struct as_worker_info w[8];
    assert_int_equal(ops->workers(s.state, w, 8), 3);
    const char *ids[] = {"i-0598c7d356eba48d7", "i-0a1b2c3d4e5f60718", "i-0b2c3d4e5f6071829"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(w[i].id, ids[i]);
        assert_int_equal(w[i].not_ready, i != 0);
        assert_int_equal(w[i].age_ms, -1);
        assert_int_equal(w[i].pid, 0);
    }
    assert_int_equal(ops->workers(s.state, w, 2), 2);

    api_serve(200, SET_OK, NULL, 0);
    r = call_timed(&s, 7, &t0, &t1);
    if (!r.ok)
        fail_msg("%s", r.error);
    assert_int_equal(r.replicas, 7);
    assert_string_equal(api.req_body, "Action=SetDesiredCapacity&AutoScalingGroupName=web-asg&"
                                      "DesiredCapacity=7&HonorCooldown=false&Version=2011-01-01");
    assert_true(signed_as_expected(t0, t1, NULL));
    /* 200 without the documented answer: not ok, transient (the engine reads the count). */
    api_serve(200, "OK", NULL, 0);
    r = call(&s, 6);
    assert_false(r.ok || r.permanent);
    assert_string_equal(r.error, "SetDesiredCapacity answer: XML: a root element expected at "
                                 "byte 0");

    ops->describe(s.state, 5, line, sizeof(line));
    char want[256];
    snprintf(want, sizeof(want),
             "POST http://127.0.0.1:%d/ Action=SetDesiredCapacity&AutoScalingGroupName=web-asg&"
             "DesiredCapacity=5&HonorCooldown=false&Version=2011-01-01 (SigV4 us-east-1/"
             "autoscaling)",
             api_port);
    assert_string_equal(line, want);
    finish(&s);
}

static void test_session_token_and_honor_cooldown(void **state)
{
    (void)state;
    struct sc s;
    struct as_err err;
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_SESSION_TOKEN", TOKEN, 1);
    assert_int_equal(start_err(&s,
                               "auto_scaling_group: \"web asg/é\"\nregion: us-east-1\n"
                               "endpoint: http://127.0.0.1:%d\nhonor_cooldown: true\n",
                               &err),
                     0);
    api_serve(200, SET_OK, NULL, 0);
    int64_t t0, t1;
    struct as_scale_result r = call_timed(&s, 3, &t0, &t1);
    if (!r.ok)
        fail_msg("%s", r.error);
    assert_string_equal(api.req_body, "Action=SetDesiredCapacity&AutoScalingGroupName=web%20asg%2F"
                                      "%C3%A9&DesiredCapacity=3&HonorCooldown=true&Version=2011-"
                                      "01-01");
    assert_non_null(strstr(api.auth, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-"
                                     "token, Signature="));
    assert_true(signed_as_expected(t0, t1, TOKEN));
    char line[512];
    ops->describe(s.state, 4, line, sizeof(line));
    assert_non_null(strstr(line, "&DesiredCapacity=4&HonorCooldown=true&"));
    assert_null(strstr(line, TOKEN));
    /* The token is masked in any log line. */
    char masked[160] = "t=" TOKEN;
    as_log_mask(masked, strlen(masked));
    assert_string_equal(masked, "t=***");
    finish(&s);
    clear_env();
}

static void test_failures(void **state)
{
    (void)state;
    struct sc s;
    struct as_err err;
    clear_env();
    assert_int_equal(start_err(&s, BASE KEYS, &err), 0);
    static const struct {
        int want; /* -1 get */
        unsigned status;
        const char *body;
        int permanent;
        const char *error;
    } cases[] = {
        {-1, 403,
         ERROR_DOC("Sender", "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you "
                   "provided."),
         1,
         "DescribeAutoScalingGroups: HTTP 403 SignatureDoesNotMatch: The request signature we "
         "calculated does not match the signature you provided. (request "
         "4f8b5bd3-1234-1234-1234-123456789012)"},
        {-1, 403,
         ERROR_DOC("Sender", "InvalidClientTokenId",
                   "The security token included in the request is invalid."),
         1,
         "DescribeAutoScalingGroups: HTTP 403 InvalidClientTokenId: The security token included "
         "in the request is invalid."},
        {-1, 400, ERROR_DOC("Sender", "Throttling", "Rate exceeded"), 0,
         "DescribeAutoScalingGroups: HTTP 400 Throttling: Rate exceeded (request"},
        {-1, 503, "<html><body>503 Service Temporarily Unavailable</body></html>", 0,
         "DescribeAutoScalingGroups: HTTP 503: <html><body>503 Service Temporarily"},
        {-1, 404, "not found", 1, "DescribeAutoScalingGroups: HTTP 404: not found"},
        {-1, 200, "\x00\xffnot xml", 0, "DescribeAutoScalingGroups answer: XML: "},
        {-1, 200, DESCRIBE(GROUP("web-asg", "1", "10", "two", "")), 0,
         "DescribeAutoScalingGroups answer: DesiredCapacity is not a whole number"},
        {-1, 200, DESCRIBE(""), 1, "no Auto Scaling group named 'web-asg' in us-east-1"},
        {2, 400,
         ERROR_DOC("Sender", "ScalingActivityInProgress",
                   "Scaling activity 1234 is in progress and blocks this action."),
         0, "SetDesiredCapacity: HTTP 400 ScalingActivityInProgress: Scaling activity 1234"},
        {2, 500,
         ERROR_DOC("Receiver", "ResourceContention",
                   "You already have a pending update to an Auto Scaling resource."),
         0, "SetDesiredCapacity: HTTP 500 ResourceContention: You already have"},
        {2, 400,
         ERROR_DOC("Sender", "ValidationError",
                   "New SetDesiredCapacity value 2 is below min value 3 for the "
                   "AutoScalingGroup."),
         1,
         "SetDesiredCapacity: HTTP 400 ValidationError: New SetDesiredCapacity value 2 is below "
         "min value 3 for the AutoScalingGroup."},
        {2, 400,
         ERROR_DOC("Sender", "AccessDeniedException",
                   "User: arn:aws:iam::123456789012:user/x is not authorized to perform: "
                   "autoscaling:SetDesiredCapacity"),
         1, "SetDesiredCapacity: HTTP 400 AccessDeniedException: User: arn:aws:iam::"},
    };
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        api_serve(cases[i].status, cases[i].body, NULL, 0);
        struct as_scale_result r = call(&s, cases[i].want);
        if (r.ok || r.permanent != cases[i].permanent || r.replicas != -1 ||
            strncmp(r.error, cases[i].error, strlen(cases[i].error)) != 0)
            fail_msg("case %zu: ok=%d permanent=%d '%s'", i, r.ok, r.permanent, r.error);
    }
    /* A failed read forgets the last one's instances. */
    struct as_worker_info w[8];
    api_serve(200, DESCRIBE(GROUP("web-asg", "1", "10", "4", FOUR_INSTANCES)), NULL, 0);
    assert_true(call(&s, -1).ok);
    assert_int_equal(ops->workers(s.state, w, 8), 3);
    api_serve(500, ERROR_DOC("Receiver", "InternalFailure", "x"), NULL, 0);
    assert_false(call(&s, -1).ok);
    assert_int_equal(ops->workers(s.state, w, 8), 0);
    /* A timeout is transient. */
    api_serve(200, SET_OK, NULL, 900);
    struct as_scale_result r = call(&s, 3);
    assert_false(r.ok || r.permanent);
    assert_non_null(strstr(r.error, "SetDesiredCapacity: timeout after 5"));
    usleep(500000);
    /* Cancelled in flight: no callback. */
    api_serve(200, SET_OK, NULL, 200);
    s.calls = 0;
    ops->get(s.state, on_result, &s);
    as_loop_once(s.loop, 20);
    ops->cancel(s.state);
    for (int i = 0; i < 20; i++)
        as_loop_once(s.loop, 20);
    assert_int_equal(s.calls, 0);
    finish(&s);
}

/* A count outside the group's MinSize..MaxSize (as last read) fails at once, permanently,
 * without a call: AWS would refuse it with a ValidationError. */
static void test_bounds(void **state)
{
    (void)state;
    struct sc s;
    struct as_err err;
    clear_env();
    assert_int_equal(start_err(&s, BASE KEYS, &err), 0);
    api_serve(200, DESCRIBE(GROUP("web-asg", "2", "4", "3", "")), NULL, 0);
    assert_true(call(&s, -1).ok);
    int before = api_requests();
    struct as_scale_result r = call(&s, 8);
    assert_false(r.ok);
    assert_true(r.permanent);
    assert_string_equal(r.error, "desired capacity 8 is above the group's MaxSize 4: AWS refuses "
                                 "it (change the group's MinSize/MaxSize or the group's min/max "
                                 "here)");
    r = call(&s, 1);
    assert_true(r.permanent);
    assert_non_null(strstr(r.error, "desired capacity 1 is below the group's MinSize 2"));
    assert_int_equal(api_requests(), before);
    char line[512];
    ops->describe(s.state, 8, line, sizeof(line));
    assert_non_null(strstr(line, "DesiredCapacity=8&HonorCooldown=false&Version=2011-01-01 (SigV4 "
                                 "us-east-1/autoscaling): AWS would refuse it, 8 is above the "
                                 "group's MaxSize 4"));
    api_serve(200, SET_OK, NULL, 0);
    assert_true(call(&s, 4).ok);
    assert_true(call(&s, 2).ok);
    assert_int_equal(api_requests(), before + 2);
    finish(&s);
}

static void test_options(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        const char *error; /* NULL: valid */
    } cases[] = {
        {BASE, NULL},
        {"auto_scaling_group: a\nregion: cn-north-1\nprofile: ci\ncredentials_file: /x\n"
         "honor_cooldown: true\nca_file: /etc/ssl/certs/ca-certificates.crt\n",
         NULL},
        {"region: us-east-1\n", "'auto_scaling_group'"},
        {"auto_scaling_group: a\n", "'region' is required (or set AWS_REGION)"},
        {"auto_scaling_group: a\nregion: US-East-1\n",
         "t.yaml:2:9: 'region' must be a region code like us-east-1"},
        {"auto_scaling_group: a\nregion: us-east-1\nendpoint: autoscaling.amazonaws.com\n",
         "t.yaml:3:11: 'endpoint' must start with http:// or https://"},
        {"auto_scaling_group: a\nregion: us-east-1\nendpoint: https://h/?a=1\n",
         "t.yaml:3:11: 'endpoint' must be http(s)://HOST[:PORT][/PATH] without a query"},
        {"auto_scaling_group: a\nregion: us-east-1\naccess_key_id: AKID\n",
         "t.yaml:3:16: 'access_key_id' and 'secret_access_key' go together"},
        {"auto_scaling_group: a\nregion: us-east-1\nsession_token: t\n",
         "t.yaml:3:16: 'session_token' needs 'access_key_id'"},
        {"auto_scaling_group: a\nregion: us-east-1\n" KEYS "profile: ci\n",
         "t.yaml:5:10: give either keys or a profile of a credentials file, not both"},
        {"auto_scaling_group: a\nregion: us-east-1\nhonor_cooldown: maybe\n", "honor_cooldown"},
        {"auto_scaling_group: \"\"\nregion: us-east-1\n", "auto_scaling_group"},
    };
    clear_env();
    for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
        struct sc s;
        struct as_err err;
        int rc = configure(&s, cases[i].yaml, &err);
        char msg[AS_ERR_MAX + 300];
        as_err_str(&err, msg, sizeof(msg));
        if (cases[i].error ? rc == 0 || strstr(msg, cases[i].error) == NULL : rc != 0)
            fail_msg("case %zu: rc=%d err='%s'", i, rc, msg);
        finish(&s);
    }
    /* 255 characters (not bytes) at most. */
    char yaml[1200], name[600];
    for (int n = 255; n <= 256; n++) {
        name[0] = '\0';
        for (int i = 0; i < n; i++)
            strcat(name, "\xC3\xA9");
        snprintf(yaml, sizeof(yaml), "auto_scaling_group: %s\nregion: us-east-1\n", name);
        struct sc s;
        struct as_err err;
        int rc = configure(&s, yaml, &err);
        assert_int_equal(rc, n == 255 ? 0 : -1);
        finish(&s);
    }
    /* The region from the environment, and the endpoint it implies. */
    setenv("AWS_DEFAULT_REGION", "cn-north-1", 1);
    struct sc s;
    struct as_err err;
    assert_int_equal(start_err(&s, "auto_scaling_group: a\n" KEYS, &err), 0);
    char line[512];
    ops->describe(s.state, 1, line, sizeof(line));
    assert_non_null(strstr(line, "POST https://autoscaling.cn-north-1.amazonaws.com.cn/ Action="));
    assert_non_null(strstr(line, "(SigV4 cn-north-1/autoscaling)"));
    finish(&s);
    setenv("AWS_REGION", "eu-west-1", 1);
    assert_int_equal(start_err(&s, "auto_scaling_group: a\n" KEYS, &err), 0);
    ops->describe(s.state, 1, line, sizeof(line));
    assert_non_null(strstr(line, "POST https://autoscaling.eu-west-1.amazonaws.com/ Action="));
    finish(&s);
    /* No credentials anywhere: start fails, saying where it looked. */
    clear_env();
    assert_int_equal(start_err(&s, BASE, &err), -1);
    assert_non_null(strstr(err.msg, "no AWS credentials: none in the configuration, "
                                    "AWS_ACCESS_KEY_ID is not set, and /nonexistent/.aws/"
                                    "credentials does not exist"));
    finish(&s);
}

static int group_setup(void **state)
{
    (void)state;
    as_log_min = AS_OFF;
    return api_start();
}

static int group_teardown(void **state)
{
    (void)state;
    api_stop();
    as_log_secrets_clear();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_instances),
        cmocka_unit_test(test_set_answer),
        cmocka_unit_test(test_error_document),
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_session_token_and_honor_cooldown),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
