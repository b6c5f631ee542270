#include "drivers/daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/server.h"
#include "drivers/persist.h"
#include "util/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/sdnotify.h"
#include "util/util.h"

/* A reload parses the file on a thread of its own, so the groups keep their cadence however
 * large the file (or slow its ${file:} references); the loop only swaps the result in. */
struct reload {
    pthread_t thread;
    int running; /* a parse is in flight */
    int again;   /* SIGHUP came during it: parse once more after */
    int efd;     /* the thread signals the loop here when the parse is done */
    struct as_config *cfg;
    struct as_err err;
};

struct daemon {
    struct as_loop *loop;
    struct as_engine *eng;
    struct as_http *http;
    struct as_api *api; /* the HTTP server: /metrics, /api/v1, the dashboard */
    const char *path;
    char *log_path;
    char *state_dir;
    int stopping;
    int stopped; /* the engine has shut down (maybe before the loop ever ran) */
    struct reload reload;
};

static void on_stopped(void *arg)
{
    struct daemon *d = arg;
    d->stopped = 1;
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
    as_sd_notify("STOPPING=1");
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

/* A state_dir that a reload changed is created now (the writer also creates it on demand). */
static void switch_state_dir(struct daemon *d, const struct as_config *cfg)
{
    struct as_err err;
    if (d->state_dir != NULL && strcmp(d->state_dir, cfg->state_dir) == 0)
        return;
    free(d->state_dir);
    d->state_dir = strdup(cfg->state_dir);
    as_err_clear(&err);
    if (cfg->state_dir[0] != '\0' && as_persist_dir_init(cfg->state_dir, &err) < 0)
        AS_LOG(AS_ERROR, "main: state_dir: %s (state writes will fail until it can be made)",
               err.msg);
}

static void *parse_thread(void *arg)
{
    struct daemon *d = arg;
    uint64_t one = 1;
    as_thread_background(10); /* a large file takes seconds to parse: the groups go first */
    as_err_clear(&d->reload.err);
    d->reload.cfg = as_config_load(d->path, &d->reload.err);
    while (write(d->reload.efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void reload_start(struct daemon *d)
{
    if (d->reload.running) {
        d->reload.again = 1;
        AS_LOG(AS_INFO, "main: SIGHUP during a reload: reloading again after it");
        return;
    }
    AS_LOG(AS_INFO, "main: SIGHUP: reloading %s", d->path);
    d->reload.again = 0;
    d->reload.running = pthread_create(&d->reload.thread, NULL, parse_thread, d) == 0;
    if (!d->reload.running)
        AS_LOG(AS_ERROR, "main: reload failed: cannot start a thread to parse the file");
}

/* The parse is done: swap the new configuration in (on the loop). */
static void on_parsed(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    struct daemon *d = arg;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) < 0 || !d->reload.running)
        return;
    pthread_join(d->reload.thread, NULL);
    d->reload.running = 0;
    struct as_config *cfg = d->reload.cfg;
    d->reload.cfg = NULL;
    struct as_err err = d->reload.err;
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        AS_LOG(AS_ERROR, "main: reload failed, keeping the running configuration: %s",
               as_err_str(&err, buf, sizeof(buf)));
    } else if (!d->stopping) {
        reopen_log(d, cfg); /* also lets logrotate move the file away */
        switch_state_dir(d, cfg);
        as_err_clear(&err);
        if (as_engine_reload(d->eng, cfg, &err) < 0)
            AS_LOG(AS_ERROR, "main: reload partly failed: %s", err.msg);
        else
            AS_LOG(AS_INFO, "main: reloaded %s: %zu group(s)", d->path, cfg->ngroups);
        as_err_clear(&err);
        if (as_api_apply(d->api, cfg, 0, &err) < 0)
            AS_LOG(AS_ERROR, "main: %s", err.msg);
    }
    as_config_unref(cfg);
    as_release_memory(); /* the parse tree freed after the load */
    if (d->reload.again && !d->stopping)
        reload_start(d);
}

static void on_hup(struct as_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    reload_start(arg);
}

static void on_usr1(struct as_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    struct daemon *d = arg;
    as_engine_log_counters(d->eng);
}

/* Waits for a parse still running (shutdown) and drops its result. */
static void reload_finish(struct daemon *d)
{
    if (d->reload.running)
        pthread_join(d->reload.thread, NULL);
    d->reload.running = 0;
    as_config_unref(d->reload.cfg);
    d->reload.cfg = NULL;
    if (d->reload.efd >= 0) {
        as_loop_watch_fd(d->loop, d->reload.efd, 0, NULL, NULL);
        close(d->reload.efd);
    }
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

/* Thousands of groups hold thousands of connections: take the hard limit on descriptors
 * (the HTTP client sizes its connection cap from it). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Under a Type=notify systemd unit: started (systemctl start returns now). */
static void notify_ready(const struct as_config *cfg)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "READY=1\nSTATUS=running %zu group(s)", cfg->ngroups);
    int rc = as_sd_notify(msg);
    if (rc < 0)
        AS_LOG(AS_WARN, "main: cannot notify systemd ($NOTIFY_SOCKET): %s", strerror(-rc));
}

int as_daemon_run(struct as_config *cfg, const char *path, const struct as_engine_opts *opts)
{
    struct daemon d = {.path = path, .reload = {.efd = -1}};
    int rc = 1;
    struct as_err err;
    as_err_clear(&err);
    reopen_log(&d, cfg);
    raise_nofile();
    as_map_large_blocks();
    d.loop = as_loop_new();
    d.http = d.loop ? as_http_new(d.loop) : NULL;
    d.eng = d.http ? as_engine_new(d.loop, d.http, cfg, opts) : NULL;
    d.api = d.eng ? as_api_new(d.loop, d.eng) : NULL;
    if (d.api == NULL) {
        AS_LOG(AS_ERROR, "main: cannot initialise (out of memory or no epoll)");
        goto out;
    }
    as_loop_on_signal(d.loop, SIGINT, on_signal, &d);
    as_loop_on_signal(d.loop, SIGTERM, on_signal, &d);
    as_loop_on_signal(d.loop, SIGUSR1, on_usr1, &d);
    if (path != NULL) {
        d.reload.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (d.reload.efd < 0 || as_loop_watch_fd(d.loop, d.reload.efd, AS_READ, on_parsed, &d) < 0)
            goto out;
        as_loop_on_signal(d.loop, SIGHUP, on_hup, &d);
    }
    if (opts->once)
        as_engine_on_rounds_done(d.eng, on_rounds_done, &d);
    if (opts->stop_after_ms > 0 && !as_loop_add_timer(d.loop, opts->stop_after_ms, on_deadline, &d))
        goto out;
    d.state_dir = strdup(cfg->state_dir);
    if (cfg->state_dir[0] != '\0' && as_persist_dir_init(cfg->state_dir, &err) < 0) {
        AS_LOG(AS_ERROR, "main: %s", err.msg);
        goto out;
    }
    AS_LOG(AS_INFO, "main: autoscaler %s running %s: %zu group(s), pid %d", AS_VERSION,
           path ? path : "(embedded configuration)", cfg->ngroups, (int)getpid());
    if (as_api_apply(d.api, cfg, 1, &err) < 0) {
        AS_LOG(AS_ERROR, "main: %s", err.msg);
        goto out;
    }
    rc = 0;
    if (as_engine_start(d.eng, &err) < 0) {
        AS_LOG(AS_ERROR, "main: %s", err.msg);
        rc = 1;
        begin_stop(&d, "start failed");
    } else {
        notify_ready(cfg);
        as_release_memory(); /* the parse tree freed after the load */
    }
    if (!d.stopped) /* a shutdown that finished at once stopped no loop: as_loop_run would hang */
        as_loop_run(d.loop);
    AS_LOG(AS_INFO, "main: stopped");
out:
    if (d.loop != NULL)
        reload_finish(&d);
    as_api_free(d.api);
    as_engine_free(d.eng);
    as_http_free(d.http);
    as_loop_free(d.loop);
    free(d.log_path);
    free(d.state_dir);
    as_log_close();
    return rc;
}
