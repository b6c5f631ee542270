/* The fixture the scaler tests share: a real loop, a scratch directory, the backend's state,
 * and the results of its calls. Include after defining `ops` (the scaler under test). */
#ifndef AS_TEST_SCALER_FIXTURE_H
#define AS_TEST_SCALER_FIXTURE_H

struct fixture {
    struct as_loop *loop;
    void *state;
    char dir[64];
    int calls, stopped;
    struct as_scale_result r;
};

static void on_result(const struct as_scale_result *r, void *arg)
{
    struct fixture *f = arg;
    f->calls++;
    f->r = *r;
}

static void on_stopped(void *arg)
{
    struct fixture *f = arg;
    f->stopped++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->loop = as_loop_new();
    snprintf(f->dir, sizeof(f->dir), "/tmp/as-test-scaler-XXXXXX");
    if (f->loop == NULL || mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static void run_until_stopped(struct fixture *f, int64_t max_ms)
{
    int64_t end = as_mono_ms() + max_ms;
    while (f->stopped == 0 && as_mono_ms() < end)
        as_loop_once(f->loop, 20);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->state) {
        ops->stop(f->state, on_stopped, f);
        run_until_stopped(f, 5000);
        as_opts_free(ops->opts, f->state);
        free(f->state);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd) == 0 && f->stopped <= 1 ? 0 : -1;
    as_loop_free(f->loop);
    free(f);
    return rc;
}

#endif
