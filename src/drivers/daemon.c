#include "drivers/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "core/state.h"

struct daemon {
    struct as_loop *loop;
    struct as_engine *eng;
    struct as_http *http;
    const char *path;
    char *log_path;
    int stopping;
};

static void on_stopped(void *arg)
{
    struct daemon *d = arg;
    as_loop_stop(d->loop);
}

static void begin_stop(struct daemon *d, const char *why)
{
    if (d->stopping) {
        AS_LOG(AS_WARN,
               "main: %s again while stopping; still waiting for scale calls and "
               "workers to finish",
               why);
        return;
    }
    d->stopping = 1;
    AS_LOG(AS_INFO, "main: %s: stopping", why);
    as_engine_shutdown(d->eng, on_stopped, d);
}

static void on_signal(struct as_loop *loop, int signo, void *arg)
{
    (void)loop;
    begin_stop(arg, signo == SIGINT ? "SIGINT" : "SIGTERM");
}

static void reopen_log(struct daemon *d, const struct as_config *cfg)
{
    if (as_log_open(cfg->log_file) < 0)
        AS_LOG(AS_ERROR, "main: cannot open log file %s: %s", cfg->log_file, strerror(errno));
    as_log_min = (enum as_log_level)cfg->log_level;
    free(d->log_path);
    d->log_path = strdup(cfg->log_file);
}

static void on_hup(struct as_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    struct daemon *d = arg;
    struct as_err err;
    as_err_clear(&err);
    AS_LOG(AS_INFO, "main: SIGHUP: reloading %s", d->path);
    struct as_config *cfg = as_config_load(d->path, &err);
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        AS_LOG(AS_ERROR, "main: reload failed, keeping the running configuration: %s",
               as_err_str(&err, buf, sizeof(buf)));
        return;
    }
    reopen_log(d, cfg); /* also lets logrotate move the file away */
    if (as_engine_reload(d->eng, cfg, &err) < 0)
        AS_LOG(AS_ERROR, "main: reload partly failed: %s", err.msg);
    else
        AS_LOG(AS_INFO, "main: reloaded %s: %zu group(s)", d->path, cfg->ngroups);
    as_config_unref(cfg);
}

static int64_t on_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    begin_stop(arg, "run time elapsed");
    return AS_TIMER_STOP;
}

static void on_rounds_done(void *arg)
{
    begin_stop(arg, "--once: every group finished a round");
}

int as_daemon_run(struct as_config *cfg, const char *path, const struct as_engine_opts *opts)
{
    struct daemon d = {.path = path};
    int rc = 1;
    struct as_err err;
    as_err_clear(&err);
    reopen_log(&d, cfg);
    d.loop = as_loop_new();
    d.http = d.loop ? as_http_new(d.loop) : NULL;
    d.eng = d.http ? as_engine_new(d.loop, d.http, cfg, opts) : NULL;
    if (d.eng == NULL) {
        AS_LOG(AS_ERROR, "main: cannot initialise (out of memory or no epoll)");
        goto out;
    }
    as_loop_on_signal(d.loop, SIGINT, on_signal, &d);
    as_loop_on_signal(d.loop, SIGTERM, on_signal, &d);
    if (path != NULL)
        as_loop_on_signal(d.loop, SIGHUP, on_hup, &d);
    if (opts->once)
        as_engine_on_rounds_done(d.eng, on_rounds_done, &d);
    if (opts->stop_after_ms > 0 && !as_loop_add_timer(d.loop, opts->stop_after_ms, on_deadline, &d))
        goto out;
    if (cfg->state_dir[0] != '\0' && as_state_dir_init(cfg->state_dir, &err) < 0) {
        AS_LOG(AS_ERROR, "main: %s", err.msg);
        goto out;
    }
    AS_LOG(AS_INFO, "main: autoscaler %s running %s: %zu group(s), pid %d", AS_VERSION,
           path ? path : "(embedded configuration)", cfg->ngroups, (int)getpid());
    rc = 0;
    if (as_engine_start(d.eng, &err) < 0) {
        AS_LOG(AS_ERROR, "main: %s", err.msg);
        rc = 1;
        begin_stop(&d, "start failed");
    }
    as_loop_run(d.loop);
    AS_LOG(AS_INFO, "main: stopped");
out:
    as_engine_free(d.eng);
    as_http_free(d.http);
    as_loop_free(d.loop);
    free(d.log_path);
    as_log_close();
    return rc;
}
