/* A scaler under test on its own loop, calling api_server.h's server (test_heroku, test_nomad,
 * test_aws_asg; scaler_fixture.h is the local scalers'). Include after api_server.h, with
 * `ops` (the scaler's ops table) declared and, optionally, SC_GROUP (the group name in its log
 * lines; "web") and SC_AFTER_CALL(s) (checks after each call, e.g. that no secret is in the
 * error) defined. */
#ifndef AS_TEST_API_SCALER_FIXTURE_H
#define AS_TEST_API_SCALER_FIXTURE_H

#ifndef SC_GROUP
#define SC_GROUP "web"
#endif
#ifndef SC_AFTER_CALL
#define SC_AFTER_CALL(s) ((void)(s))
#endif

struct sc {
    struct as_loop *loop;
    struct as_http *http;
    struct as_doc *doc;
    void *state;
    int calls;
    struct as_scale_result r;
};

/* Parses yaml (its %d is the server's port) and validates: 0, or -1 with err. */
static int configure(struct sc *s, const char *yaml_fmt, struct as_err *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), yaml_fmt, api_port);
    memset(s, 0, sizeof(*s));
    as_err_clear(err);
    s->doc = as_doc_parse("t.yaml", yaml, strlen(yaml), err);
    assert_non_null(s->doc);
    s->state = calloc(1, ops->state_size);
    assert_non_null(s->state);
    if (as_opts_parse(ops->opts, s->state, s->doc->root, "scaler", err) < 0)
        return -1;
    return ops->validate(s->state, s->doc->root, err);
}

/* Configures (a configuration error fails the test) and starts: ops->start's result. */
static int start_err(struct sc *s, const char *yaml_fmt, struct as_err *err)
{
    if (configure(s, yaml_fmt, err) < 0)
        fail_msg("%s", err->msg);
    s->loop = as_loop_new();
    s->http = as_http_new(s->loop);
    struct as_ctx ctx = {
        .loop = s->loop, .http = s->http, .group = SC_GROUP, .name = ops->name, .timeout_ms = 500};
    return ops->start(s->state, &ctx, err);
}

/* Configures and starts; either failing fails the test. */
__attribute__((unused)) static void start(struct sc *s, const char *yaml_fmt)
{
    struct as_err err;
    if (start_err(s, yaml_fmt, &err) < 0)
        fail_msg("%s", err.msg);
}

static void stopped(void *arg)
{
    *(int *)arg = 1;
}

static void finish(struct sc *s)
{
    if (s->loop) {
        int done = 0;
        ops->stop(s->state, stopped, &done);
        assert_true(done);
        as_http_free(s->http);
        as_loop_free(s->loop);
    }
    as_opts_free(ops->opts, s->state);
    free(s->state);
    as_doc_free(s->doc);
}

static void on_result(const struct as_scale_result *r, void *arg)
{
    struct sc *s = arg;
    s->calls++;
    s->r = *r;
}

/* One get (want < 0) or set, run to its end (3 s at most); *t0 and *t1 bracket it in
 * wall-clock seconds. */
static struct as_scale_result call_timed(struct sc *s, int want, int64_t *t0, int64_t *t1)
{
    s->calls = 0;
    *t0 = as_wall_ms() / 1000;
    if (want < 0)
        ops->get(s->state, on_result, s);
    else
        ops->set(s->state, want, on_result, s);
    assert_int_equal(s->calls, 0); /* never from within the call */
    int64_t end = as_mono_ms() + 3000;
    while (s->calls == 0 && as_mono_ms() < end)
        as_loop_once(s->loop, 20);
    *t1 = as_wall_ms() / 1000;
    assert_int_equal(s->calls, 1);
    SC_AFTER_CALL(s);
    return s->r;
}

__attribute__((unused)) static struct as_scale_result call(struct sc *s, int want)
{
    int64_t t0, t1;
    return call_timed(s, want, &t0, &t1);
}

#endif
