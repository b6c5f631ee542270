#include "drivers/demo.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "config/config.h"
#include "drivers/daemon.h"
#include "util/util.h"

#define DEMO_MAX_WORKERS 64
#define DEMO_HEARTBEAT_MS 300
#define DEMO_ALIVE_MS 1200

/* ---- the load profile ---- */

double as_demo_load(int64_t elapsed_ms)
{
    static const struct {
        int64_t until_ms;
        double load;
    } steps[] = {{40000, 1.5}, {90000, 6.0}, {150000, 2.5}};
    int64_t t = elapsed_ms % steps[2].until_ms;
    for (size_t i = 0; i < AS_ARRAY_LEN(steps); i++)
        if (t < steps[i].until_ms)
            return steps[i].load;
    return steps[0].load;
}

/* ---- the app ---- */

struct app {
    pthread_mutex_t mu;
    int64_t started;
    long speed; /* the load profile runs this many times faster */
    int64_t heartbeat[DEMO_MAX_WORKERS];
    double last_load;
};

static int alive_workers(struct app *a, int64_t now)
{
    int n = 0;
    for (int i = 0; i < DEMO_MAX_WORKERS; i++)
        if (a->heartbeat[i] != 0 && now - a->heartbeat[i] < DEMO_ALIVE_MS)
            n++;
    return n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **req_cls)
{
    (void)version;
    (void)data;
    struct app *a = cls;
    if (*req_cls == NULL) { /* first call: headers only */
        *req_cls = a;
        return MHD_YES;
    }
    if (*data_size != 0) {
        *data_size = 0; /* heartbeats carry no body we need */
        return MHD_YES;
    }
    int64_t now = as_mono_ms();
    char body[256];
    pthread_mutex_lock(&a->mu);
    double load = as_demo_load((now - a->started) * a->speed);
    int workers = alive_workers(a, now);
    if (strcmp(url, "/app/heartbeat") == 0 && strcmp(method, "POST") == 0) {
        const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "worker");
        long w;
        if (id && as_parse_long(id, &w) == 0 && w >= 0 && w < DEMO_MAX_WORKERS)
            a->heartbeat[w] = now;
        pthread_mutex_unlock(&a->mu);
        return reply(c, 204, "");
    }
    if (load != a->last_load)
        fprintf(stderr, "demo-app: load is now %.1f (was %.1f): watch the workers follow\n", load,
                a->last_load);
    a->last_load = load;
    pthread_mutex_unlock(&a->mu);
    if (strcmp(url, "/app/status") != 0 || strcmp(method, "GET") != 0)
        return reply(c, 404, "{\"error\":\"not found\"}");
    double cpu = load / (workers > 0 ? workers : 1);
    snprintf(body, sizeof(body), "{\"cpu\":{\"highPriority\":%.4f},\"replicas\":%d,\"load\":%.1f}",
             cpu, workers, load);
    return reply(c, 200, body);
}

static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void install_term_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* The value of "--name N" in argv, def if absent, -1 if not a number in [lo, hi]. */
static long long_arg(int argc, char **argv, const char *name, long def, long lo, long hi)
{
    long v = def;
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0 && as_parse_long(argv[i + 1], &v) < 0)
            return -1;
    return v >= lo && v <= hi ? v : -1;
}

int as_demo_app_main(int argc, char **argv)
{
    long port = long_arg(argc, argv, "--port", -1, 1, 65535);
    long speed = long_arg(argc, argv, "--speed", 1, 1, 1000);
    if (port < 0 || speed < 0) {
        fprintf(stderr, "usage: autoscaler demo-app --port PORT [--speed N]\n");
        return 2;
    }
    static struct app a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    a.started = as_mono_ms();
    a.speed = speed;
    a.last_load = as_demo_load(0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    install_term_handler();
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, on_request, &a, MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "demo-app: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    fprintf(stderr, "demo-app: listening on 127.0.0.1:%ld, load %.1f\n", port, a.last_load);
    while (!stop_flag)
        usleep(100000);
    MHD_stop_daemon(d);
    return 0;
}

/* ---- a worker ---- */

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

int as_demo_worker_main(int argc, char **argv)
{
    const char *app = NULL, *id = NULL;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--app") == 0)
            app = argv[i + 1];
        if (strcmp(argv[i], "--id") == 0)
            id = argv[i + 1];
    }
    if (app == NULL || id == NULL) {
        fprintf(stderr, "usage: autoscaler demo-worker --app URL --id N\n");
        return 2;
    }
    install_term_handler();
    char url[512];
    snprintf(url, sizeof(url), "%s/app/heartbeat?worker=%s", app, id);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    while (!stop_flag) {
        curl_easy_perform(c);
        struct timespec ts = {0, DEMO_HEARTBEAT_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    curl_easy_cleanup(c);
    return 0;
}

/* ---- the demo: app + daemon ---- */

static const char demo_config[] =
    "log_file: autoscaler.log\n"
    "groups:\n"
    "  demo:\n"
    "    interval: 2s\n"
    "    min: 1\n"
    "    max: 12\n"
    "    behavior:                 # the HPA's defaults, with shorter periods for the demo\n"
    "      scale_up:\n"
    "        policies: [{replicas: 4, period: %ldms}, {percent: 100, period: %ldms}]\n"
    "      scale_down:\n"
    "        stabilization: %ldms\n"
    "    metrics:\n"
    "      - name: cpu\n"
    "        type: http_json\n"
    "        url: http://127.0.0.1:%d/app/status\n"
    "        pointer: /cpu/highPriority\n"
    "        timeout: 1s\n"
    "        target: 0.80\n"
    "    scaler:\n"
    "      type: process\n"
    "      command: [\"%s\", \"demo-worker\", \"--app\", \"http://127.0.0.1:%d\", \"--id\", "
    "\"{{worker}}\"]\n"
    "      grace: 2s\n";

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int wait_listening(int port, int64_t timeout_ms)
{
    int64_t deadline = as_mono_ms() + timeout_ms;
    while (as_mono_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        usleep(50000);
    }
    return -1;
}

static pid_t spawn_app(const char *self, int port, long speed)
{
    char portbuf[16], speedbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(speedbuf, sizeof(speedbuf), "%ld", speed);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* the demo stops it itself, after the daemon has stopped */
        execl(self, self, "demo-app", "--port", portbuf, "--speed", speedbuf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int as_demo_main(int argc, char **argv)
{
    long duration = 0, port = 0, speed = 1;
    for (int i = 0; i + 1 < argc; i += 2) {
        long *dst = strcmp(argv[i], "--duration") == 0 ? &duration
                    : strcmp(argv[i], "--port") == 0   ? &port
                    : strcmp(argv[i], "--speed") == 0  ? &speed
                                                       : NULL;
        if (dst == NULL || as_parse_long(argv[i + 1], dst) < 0 || *dst < 0) {
            argc = 1; /* print the usage below */
            break;
        }
    }
    if (argc % 2 != 0 || port > 65535 || speed < 1 || speed > 1000) {
        fprintf(stderr, "usage: autoscaler demo [--duration SECONDS] [--port PORT] [--speed N]\n");
        return 2;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int p = port ? (int)port : free_port();
    if (n <= 0 || p <= 0) {
        fprintf(stderr, "autoscaler demo: cannot find own binary or a free port\n");
        return 1;
    }
    self[n] = '\0';
    pid_t app = spawn_app(self, p, speed);
    if (app < 0 || wait_listening(p, 5000) < 0) {
        fprintf(stderr, "autoscaler demo: the demo app did not start on 127.0.0.1:%d\n", p);
        if (app > 0)
            kill(app, SIGKILL), waitpid(app, NULL, 0);
        return 1;
    }
    fprintf(stderr,
            "autoscaler demo: app on 127.0.0.1:%d; its load is 1.5, steps to 6.0 at %g s and "
            "down to 2.5 at %g s, and starts over at %g s; the workers are real processes "
            "(autoscaler demo-worker). Ctrl-C stops.\n",
            p, 40.0 / (double)speed, 90.0 / (double)speed, 150.0 / (double)speed);
    char text[sizeof(demo_config) + 4200];
    long period = 15000 / speed > 1000 ? 15000 / speed : 1000; /* the HPA's 15 s */
    long window = 30000 / speed > 2000 ? 30000 / speed : 2000; /* the HPA's is 5 min */
    snprintf(text, sizeof(text), demo_config, period, period, window, p, self, p);
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_parse("(demo configuration)", text, &err);
    int rc = 1;
    if (cfg == NULL) {
        fprintf(stderr, "autoscaler demo: %s\n", err.msg);
    } else {
        struct as_engine_opts opts = {.stop_after_ms = duration * 1000};
        rc = as_daemon_run(cfg, NULL, &opts);
        as_config_unref(cfg);
    }
    kill(app, SIGTERM);
    waitpid(app, NULL, 0);
    return rc;
}
