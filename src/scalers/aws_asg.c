/* Scaler `aws_asg`: the desired capacity of an Amazon EC2 Auto Scaling group, through the Auto
 * Scaling Query API (API Reference, version 2011-01-01), each call signed with Signature Version 4
 * (util/sigv4.h) from credentials found as the AWS CLI finds static keys (util/awscreds.h).
 *   get: POST Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=NAME: the count is
 *        the group's DesiredCapacity; its MinSize and MaxSize are kept for the next set, its
 *        instances become the replicas (`workers`: ready when InService and Healthy).
 *   set: POST Action=SetDesiredCapacity&AutoScalingGroupName=NAME&DesiredCapacity=N&
 *        HonorCooldown=true|false. A count outside the group's MinSize..MaxSize (AWS refuses it)
 *        fails at once, permanently, saying which bound.
 * Errors are AWS's ErrorResponse documents: throttling, a scaling activity in progress,
 * contention and 5xx are transient (the engine retries with backoff), every other error is
 * permanent with AWS's code and message. Requests are the group's own (owner = group). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plugin.h"
#include "scalers/aws_asg_parse.h"
#include "util/awscreds.h"
#include "util/awsquery.h"
#include "util/http.h"
#include "util/log.h"
#include "util/sigv4.h"

#define API_VERSION "2011-01-01"
#define SERVICE "autoscaling"
#define DESCRIBE_BODY_MAX (8 * 1024 * 1024)
#define SET_BODY_MAX (64 * 1024)
#define NAME_MAX_CHARS 255

struct asg {
    char *group_name, *region, *endpoint, *access_key_id, *secret_access_key, *session_token,
        *profile, *credentials_file, *ca_file;
    int honor_cooldown;
    /* runtime */
    struct as_ctx ctx;
    char *url, *host, *path; /* the endpoint; host is what is signed and sent as Host */
    struct as_http_call *call;
    struct as_timer *deferred;
    as_scale_cb done;
    void *arg;
    int want;
    char creds_source[160], creds_key_id[129]; /* logged when either changes */
    /* the last DescribeAutoScalingGroups answer */
    int have_bounds, min, max;
    struct as_asg_instance *instances;
    size_t ninstances;
};

static const struct as_opt opts[] = {
    {"auto_scaling_group", AS_OPT_STR, offsetof(struct asg, group_name), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "The Auto Scaling group's name (AutoScalingGroupName), e.g. web-asg."},
    {"region", AS_OPT_STR, offsetof(struct asg, region), NULL, AS_NO_BOUNDS, 0, NULL,
     "Its AWS Region, e.g. us-east-1; default: the AWS_REGION or AWS_DEFAULT_REGION environment "
     "variable. Also the region signed in the SigV4 scope."},
    {"endpoint", AS_OPT_STR, offsetof(struct asg, endpoint), NULL, AS_NO_BOUNDS, 0, NULL,
     "The API's URL; default https://autoscaling.REGION.amazonaws.com/ (.amazonaws.com.cn in "
     "cn- regions). Set it for a VPC interface endpoint or a test server."},
    {"honor_cooldown", AS_OPT_BOOL, offsetof(struct asg, honor_cooldown), "false", AS_NO_BOUNDS, 0,
     NULL,
     "SetDesiredCapacity's HonorCooldown: when true, AWS refuses a set during the group's "
     "cooldown (ScalingActivityInProgress, retried)."},
    {"access_key_id", AS_OPT_STR, offsetof(struct asg, access_key_id), NULL, AS_NO_BOUNDS, 0, NULL,
     "Access key id, e.g. ${env:ASG_KEY_ID}; with secret_access_key, used before the "
     "environment and the shared credentials file."},
    {"secret_access_key", AS_OPT_STR, offsetof(struct asg, secret_access_key), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET, NULL, "Secret access key, e.g. ${file:/run/secrets/asg-secret}."},
    {"session_token", AS_OPT_STR, offsetof(struct asg, session_token), NULL, AS_NO_BOUNDS,
     AS_OPT_SECRET, NULL, "Session token of temporary keys, e.g. ${file:/run/secrets/asg-token}."},
    {"profile", AS_OPT_STR, offsetof(struct asg, profile), NULL, AS_NO_BOUNDS, 0, NULL,
     "A profile of the shared credentials file, e.g. autoscaler: its keys are used even when the "
     "environment has keys, as with the AWS CLI's --profile. Without it: the environment's keys, "
     "else the profile AWS_PROFILE, else default."},
    {"credentials_file", AS_OPT_STR, offsetof(struct asg, credentials_file), NULL, AS_NO_BOUNDS, 0,
     NULL,
     "Where the shared credentials file is, e.g. /etc/autoscaler/aws-credentials; default "
     "AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials. Read afresh on every call, so "
     "rotated keys are used at once."},
    {"ca_file", AS_OPT_STR, offsetof(struct asg, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification, e.g. /etc/ssl/private-ca.pem (an endpoint behind a "
     "private CA); default: the system's."},
    AS_OPT_END,
};

/* ---- configuration ---- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int region_ok(const char *r)
{
    if (r == NULL || r[0] == '\0' || strlen(r) > 32)
        return 0;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return 0;
    return 1;
}

/* Splits an http(s) URL into its authority (lower-cased) and path ("/" when empty). */
static int split_url(const char *url, char **host, char **path)
{
    const char *rest = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    if (rest == NULL)
        return -1;
    size_t n = strcspn(rest, "/");
    if (n == 0 || strpbrk(url, "?#@ \t\r\n") != NULL)
        return -1;
    *host = strndup(rest, n);
    *path = strdup(rest[n] ? rest + n : "/");
    if (*host == NULL || *path == NULL)
        return -1;
    for (char *p = *host; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return 0;
}

static const char *check_opts(struct asg *s, const char **key)
{
    if (utf8_chars(s->group_name) > NAME_MAX_CHARS)
        return *key = "auto_scaling_group", "'auto_scaling_group' is longer than 255 characters";
    if (!region_ok(s->region))
        return *key = "region", s->region ? "'region' must be a region code like us-east-1"
                                          : "'region' is required (or set AWS_REGION)";
    if (s->endpoint && !as_http_url_ok(s->endpoint))
        return *key = "endpoint", "'endpoint' must start with http:// or https://";
    if ((s->access_key_id != NULL) != (s->secret_access_key != NULL))
        return *key = s->access_key_id ? "access_key_id" : "secret_access_key",
               "'access_key_id' and 'secret_access_key' go together";
    if (s->session_token && !s->access_key_id)
        return *key = "session_token", "'session_token' needs 'access_key_id' and "
                                       "'secret_access_key'";
    if (s->access_key_id && (s->profile || s->credentials_file))
        return *key = s->profile ? "profile" : "credentials_file",
               "give either keys or a profile of a credentials file, not both";
    return NULL;
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct asg *s = state;
    const char *key = NULL, *env = getenv("AWS_REGION");
    if (s->region == NULL && ((env && env[0]) || ((env = getenv("AWS_DEFAULT_REGION")) && env[0])))
        if ((s->region = strdup(env)) == NULL)
            return as_err_set(err, "out of memory");
    const char *msg = check_opts(s, &key);
    char *host = NULL, *path = NULL;
    if (msg == NULL && s->endpoint && split_url(s->endpoint, &host, &path) < 0)
        key = "endpoint", msg = "'endpoint' must be http(s)://HOST[:PORT][/PATH] without a query, "
                                "a fragment or user info";
    free(host);
    free(path);
    if (msg == NULL)
        return 0;
    return as_err_key(err, map, key, "%s", msg);
}

/* ---- credentials ---- */

static int credentials(struct asg *s, struct as_awscreds *c, struct as_err *err)
{
    struct as_awscreds_opts o = {.access_key_id = s->access_key_id,
                                 .secret_access_key = s->secret_access_key,
                                 .session_token = s->session_token,
                                 .profile = s->profile,
                                 .file = s->credentials_file};
    if (as_awscreds_resolve(&o, c, err) < 0)
        return -1;
    /* Where they came from and which key, when either changes (a rotated file): the key id is
     * not a secret, and 8 characters of it tell keys apart in the log. */
    if (strcmp(c->source, s->creds_source) != 0 ||
        strncmp(c->access_key_id, s->creds_key_id, sizeof(s->creds_key_id)) != 0) {
        AS_LOG(AS_INFO, "scaler/aws_asg[%s]: credentials from %s (key id %.8s...%s)", s->ctx.group,
               c->source, c->access_key_id, c->session_token ? ", with a session token" : "");
        snprintf(s->creds_source, sizeof(s->creds_source), "%s", c->source);
        snprintf(s->creds_key_id, sizeof(s->creds_key_id), "%s", c->access_key_id);
    }
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct asg *s = state;
    struct as_awscreds c;
    s->ctx = *ctx;
    if (s->endpoint) {
        s->url = strdup(s->endpoint);
    } else {
        struct as_sb sb = {0};
        int cn = strncmp(s->region, "cn-", 3) == 0;
        if (as_sb_printf(&sb, "https://" SERVICE ".%s.amazonaws.com%s/", s->region,
                         cn ? ".cn" : "") < 0)
            as_sb_free(&sb);
        s->url = sb.buf;
    }
    if (s->url == NULL || split_url(s->url, &s->host, &s->path) < 0)
        return as_err_set(err, "out of memory");
    if (credentials(s, &c, err) < 0)
        return -1;
    as_awscreds_free(&c);
    AS_LOG(AS_INFO, "scaler/aws_asg[%s]: group '%s' in %s via %s", ctx->group, s->group_name,
           s->region, s->url);
    return 0;
}

/* ---- calls ---- */

static void finish(struct asg *s, struct as_scale_result *r)
{
    as_scale_cb done = s->done;
    s->done = NULL;
    done(r, s->arg);
}

/* Reports a failure known before any call, from the loop. */
static void fail_now(struct asg *s, as_scale_cb done, void *arg, int permanent, const char *msg)
{
    struct as_scale_result r = {.ok = 0, .permanent = permanent, .replicas = -1};
    snprintf(r.error, sizeof(r.error), "%s", msg);
    s->done = NULL;
    if (as_defer_scale(s->ctx.loop, &s->deferred, done, &r, arg) < 0)
        AS_LOG(AS_ERROR, "scaler/aws_asg[%s]: out of memory reporting a failure", s->ctx.group);
}

/* The Authorization, date, token and content headers of a signed call, as "Name: value". */
struct signed_headers {
    char *lines[6];
};

static void headers_free(struct signed_headers *h)
{
    for (size_t i = 0; i < 6; i++) {
        if (h->lines[i])
            memset(h->lines[i], 0, strlen(h->lines[i]));
        free(h->lines[i]);
        h->lines[i] = NULL;
    }
}

static char *line(const char *name, const char *value)
{
    struct as_sb sb = {0};
    if (as_sb_printf(&sb, "%s: %s", name, value) < 0)
        as_sb_free(&sb);
    return sb.buf;
}

#define CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* Signs a POST of body to the endpoint with fresh credentials into h. */
static int sign(struct asg *s, const char *body, struct signed_headers *h, struct as_err *err)
{
    struct as_awscreds c;
    struct as_sigv4 sig;
    const struct as_sigv4_pair hdrs[] = {{"Content-Type", CONTENT_TYPE}, {"Host", s->host}};
    struct as_sigv4_req req = {.method = "POST",
                               .path = s->path,
                               .headers = hdrs,
                               .nheaders = 2,
                               .payload = body,
                               .payload_len = strlen(body),
                               .region = s->region,
                               .service = SERVICE,
                               .time_s = as_wall_ms() / 1000};
    memset(h, 0, sizeof(*h));
    if (credentials(s, &c, err) < 0)
        return -1;
    struct as_sigv4_creds sc = {c.access_key_id, c.secret_access_key, c.session_token};
    int rc = as_sigv4_sign(&req, &sc, &sig, err);
    if (rc == 0) {
        h->lines[0] = line("Content-Type", CONTENT_TYPE);
        h->lines[1] = line("Host", s->host);
        h->lines[2] = line("X-Amz-Date", sig.amz_date);
        h->lines[3] = line("Authorization", sig.authorization);
        h->lines[4] = c.session_token ? line("X-Amz-Security-Token", c.session_token) : NULL;
        for (size_t i = 0; i < 4 + (c.session_token != NULL); i++)
            if (h->lines[i] == NULL)
                rc = as_err_set(err, "out of memory");
        as_sigv4_free(&sig);
    }
    as_awscreds_free(&c);
    if (rc < 0)
        headers_free(h);
    return rc;
}

/* Starts a signed POST of the parameters; done gets the outcome through cb. */
static void call(struct asg *s, const struct as_sigv4_pair *params, size_t n, size_t max_body,
                 as_http_cb cb, as_scale_cb done, void *arg)
{
    struct as_sb body = {0};
    struct signed_headers h;
    struct as_err err;
    as_err_clear(&err);
    s->done = done;
    s->arg = arg;
    if (as_sigv4_query(&body, params, n) < 0) {
        as_sb_free(&body);
        fail_now(s, done, arg, 0, "out of memory");
        return;
    }
    if (sign(s, body.buf, &h, &err) < 0) {
        as_sb_free(&body);
        fail_now(s, done, arg, 1, err.msg);
        return;
    }
    struct as_http_req req = {.method = "POST",
                              .url = s->url,
                              .owner = s->ctx.group,
                              .headers = (const char *const *)h.lines,
                              .body = body.buf,
                              .timeout_ms = s->ctx.timeout_ms,
                              .ca_file = s->ca_file,
                              .max_body = max_body};
    s->call = as_http_start(s->ctx.http, &req, cb, s);
    headers_free(&h);
    as_sb_free(&body);
    if (s->call == NULL)
        fail_now(s, done, arg, 0, "cannot start the request (out of memory)");
}

/* A failed answer: AWS's error document, else the status and a snippet of the body. */
static void error_answer(const char *action, const struct as_http_resp *resp,
                         struct as_scale_result *r)
{
    struct as_aws_error e;
    struct as_err err;
    if (!resp->ok) {
        r->permanent = 0;
        if (resp->timed_out)
            snprintf(r->error, sizeof(r->error), "%s: timeout after %lld ms", action,
                     (long long)resp->elapsed_ms);
        else
            snprintf(r->error, sizeof(r->error), "%s: %s", action, resp->error);
        return;
    }
    if (as_aws_error_parse(resp->body, resp->len, &e, &err) == 0) {
        r->permanent = !as_aws_error_transient(resp->status, e.code);
        snprintf(r->error, sizeof(r->error), "%s: HTTP %ld %s: %s%s%s%s", action, resp->status,
                 e.code, e.message[0] ? e.message : "(no message)",
                 e.request_id[0] ? " (request " : "", e.request_id, e.request_id[0] ? ")" : "");
        return;
    }
    char snippet[121];
    r->permanent = !as_aws_error_transient(resp->status, NULL);
    snprintf(r->error, sizeof(r->error), "%s: HTTP %ld: %s", action, resp->status,
             as_printable(resp->body, resp->len, snippet, sizeof(snippet)));
}

/* ---- get ---- */

static void keep_describe(struct asg *s, struct as_asg_group *g)
{
    free(s->instances);
    s->instances = g->instances;
    s->ninstances = g->ninstances;
    g->instances = NULL;
    s->have_bounds = 1;
    s->min = g->min;
    s->max = g->max;
    if (g->instances_total > g->ninstances)
        AS_LOG(AS_DEBUG, "scaler/aws_asg[%s]: %zu instances, the first %zu kept", s->ctx.group,
               g->instances_total, g->ninstances);
}

/* A failed read leaves nothing of the last one behind: no stale bounds, no stale instances. */
static void forget_describe(struct asg *s)
{
    free(s->instances);
    s->instances = NULL;
    s->ninstances = 0;
    s->have_bounds = 0;
}

static void on_describe(const struct as_http_resp *resp, void *arg)
{
    struct asg *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    struct as_asg_group g = {0};
    struct as_err err;
    s->call = NULL;
    if (!resp->ok || resp->status != 200) {
        error_answer("DescribeAutoScalingGroups", resp, &r);
    } else if (as_asg_parse_describe(resp->body, resp->len, s->group_name, &g, &err) < 0) {
        snprintf(r.error, sizeof(r.error), "DescribeAutoScalingGroups answer: %s", err.msg);
    } else if (g.groups == 0) {
        /* AWS answers an empty list for a name it does not know: never a count of 0. */
        r.permanent = 1;
        snprintf(r.error, sizeof(r.error), "no Auto Scaling group named '%.100s' in %s",
                 s->group_name, s->region);
    } else {
        r.ok = 1;
        r.replicas = g.desired;
        keep_describe(s, &g);
    }
    if (!r.ok)
        forget_describe(s);
    free(g.instances);
    finish(s, &r);
}

static void get(void *state, as_scale_cb done, void *arg)
{
    struct asg *s = state;
    const struct as_sigv4_pair params[] = {{"Action", "DescribeAutoScalingGroups"},
                                           {"AutoScalingGroupNames.member.1", s->group_name},
                                           {"Version", API_VERSION}};
    call(s, params, 3, DESCRIBE_BODY_MAX, on_describe, done, arg);
}

/* ---- set ---- */

static void on_set(const struct as_http_resp *resp, void *arg)
{
    struct asg *s = arg;
    struct as_scale_result r = {.ok = 0, .replicas = -1};
    struct as_err err;
    s->call = NULL;
    if (!resp->ok || resp->status != 200) {
        error_answer("SetDesiredCapacity", resp, &r);
    } else if (as_asg_parse_set(resp->body, resp->len, &err) < 0) {
        /* AWS said 200: the set may have landed; the engine reads the count before a retry. */
        snprintf(r.error, sizeof(r.error), "SetDesiredCapacity answer: %s", err.msg);
    } else {
        r.ok = 1;
        r.replicas = s->want;
    }
    finish(s, &r);
}

/* Why AWS would refuse want for the group's bounds last read ("" when it would not). */
static const char *out_of_bounds(const struct asg *s, int want, char *buf, size_t len)
{
    buf[0] = '\0';
    if (s->have_bounds && want > s->max)
        snprintf(buf, len, "%d is above the group's MaxSize %d", want, s->max);
    else if (s->have_bounds && want < s->min)
        snprintf(buf, len, "%d is below the group's MinSize %d", want, s->min);
    return buf;
}

static void set(void *state, int want, as_scale_cb done, void *arg)
{
    struct asg *s = state;
    char n[16], why[96];
    snprintf(n, sizeof(n), "%d", want);
    s->want = want;
    if (out_of_bounds(s, want, why, sizeof(why))[0]) {
        char msg[AS_MSG_MAX];
        snprintf(msg, sizeof(msg),
                 "desired capacity %s: AWS refuses it (change the group's MinSize/MaxSize or "
                 "the group's min/max here)",
                 why);
        fail_now(s, done, arg, 1, msg);
        return;
    }
    const struct as_sigv4_pair params[] = {{"Action", "SetDesiredCapacity"},
                                           {"AutoScalingGroupName", s->group_name},
                                           {"DesiredCapacity", n},
                                           {"HonorCooldown", s->honor_cooldown ? "true" : "false"},
                                           {"Version", API_VERSION}};
    call(s, params, 5, SET_BODY_MAX, on_set, done, arg);
}

/* The exact POST set(want) would make, without the signature. */
static void describe(void *state, int want, char *buf, size_t len)
{
    struct asg *s = state;
    struct as_sb body = {0};
    char n[16], why[96];
    snprintf(n, sizeof(n), "%d", want);
    const struct as_sigv4_pair params[] = {{"Action", "SetDesiredCapacity"},
                                           {"AutoScalingGroupName", s->group_name},
                                           {"DesiredCapacity", n},
                                           {"HonorCooldown", s->honor_cooldown ? "true" : "false"},
                                           {"Version", API_VERSION}};
    if (as_sigv4_query(&body, params, 5) < 0)
        snprintf(buf, len, "POST %s (out of memory)", s->url);
    else if (out_of_bounds(s, want, why, sizeof(why))[0])
        snprintf(buf, len, "POST %s %s (SigV4 %s/" SERVICE "): AWS would refuse it, %s", s->url,
                 body.buf, s->region, why);
    else
        snprintf(buf, len, "POST %s %s (SigV4 %s/" SERVICE ")", s->url, body.buf, s->region);
    as_sb_free(&body);
}

/* ---- the rest ---- */

static size_t workers(void *state, struct as_worker_info *out, size_t max)
{
    const struct asg *s = state;
    size_t n = 0;
    for (size_t i = 0; i < s->ninstances && n < max; i++) {
        const struct as_asg_instance *in = &s->instances[i];
        if (as_asg_instance_leaving(in))
            continue;
        /* The API gives no launch time with the group: the age is unknown. */
        out[n] = (struct as_worker_info){.age_ms = -1, .idle_ms = -1};
        out[n].not_ready = !as_asg_instance_ready(in);
        snprintf(out[n].id, sizeof(out[n].id), "%s", in->id);
        n++;
    }
    return n;
}

static void cancel(void *state)
{
    struct asg *s = state;
    as_http_cancel(s->call);
    s->call = NULL;
    as_defer_cancel(s->ctx.loop, &s->deferred);
    s->done = NULL;
}

static void stop(void *state, as_stopped_cb done, void *arg)
{
    struct asg *s = state;
    if (s->ctx.loop)
        cancel(s);
    free(s->url);
    free(s->host);
    free(s->path);
    free(s->instances);
    s->url = s->host = s->path = NULL;
    s->instances = NULL;
    s->ninstances = 0;
    done(arg);
}

const struct as_scaler_ops as_scaler_aws_asg = {
    .name = "aws_asg",
    .opts = opts,
    .state_size = sizeof(struct asg),
    .summary = "Sets the desired capacity of an Amazon EC2 Auto Scaling group "
               "(DescribeAutoScalingGroups, SetDesiredCapacity) with SigV4-signed calls.",
    .validate = validate,
    .start = start,
    .get = get,
    .set = set,
    .cancel = cancel,
    .workers = workers,
    .stop = stop,
    .describe = describe,
};
