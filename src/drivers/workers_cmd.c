/* autoscaler workers: see workers_cmd.h. The list file belongs to the process scaler, whose
 * helper scalers/process_list.h both writes (in the daemon) and reads it (here): one module
 * keeps the format's two sides in step. */
#include "drivers/workers_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "drivers/api_client.h"
#include "scalers/process_list.h"
#include "util/json.h"
#include "util/util.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char usage[] =
    "usage: autoscaler workers [-c FILE | --url URL] [--token-file PATH] [--group NAME] [--json]\n"
    "\n"
    "Lists the workers of the process pools that a running daemon keeps for FILE's groups\n"
    "(every group with `scaler: {type: process}`, or only NAME), as queue platforms'\n"
    "`worker list` does:\n"
    "\n"
    "  ID       the worker's slot (AUTOSCALER_WORKER)\n"
    "  PID      its process id (- while it waits to restart after a crash)\n"
    "  STATUS   BUSY or FREE as the worker reported it on its status channel; UNKNOWN when it\n"
    "           never did (the pool then judges it by its CPU time); STOPPING once asked to\n"
    "           stop (no longer counted; FOR says whether it is still busy); RESTARTING\n"
    "  STARTED  when it started (local time)\n"
    "  SINCE    since when it is busy or idle: its last BUSY / FREE line, or for UNKNOWN when\n"
    "           its CPU time started or stopped moving\n"
    "  FOR      how long: busy 12s, idle 2m05s, cpu busy 3s, cpu idle 40s\n"
    "  TASK     the task id of its `BUSY <task>` line\n"
    "\n"
    "The lists come from the daemon's HTTP API (GET /api/v1/groups/NAME/workers, docs/api.md)\n"
    "when it serves one: at the configuration's http.listen, or at --url. Otherwise from the\n"
    "files the daemon writes, <state_dir>/<group>.workers, while the pool runs (at most once a\n"
    "second, when something changes; removed when the pool stops): a list whose daemon is gone\n"
    "(killed with SIGKILL) is reported as stale, not shown. Files are read on the daemon's\n"
    "host, from the directory the daemon runs in when state_dir is relative.\n"
    "\n"
    "  -c, --config FILE   the daemon's configuration (default autoscaler.yaml)\n"
    "  --url URL           the daemon's API instead (every process pool it runs, or NAME)\n"
    "  --token-file PATH   the API's token (else $AUTOSCALER_TOKEN, else the file's http.token);\n"
    "                      needed only with http.auth: all\n"
    "  --group NAME        only this group\n"
    "  --json              one JSON object: {\"groups\": [{\"group\", \"running\", \"error\",\n"
    "                      \"daemon_pid\", \"updated\", \"workers\": [{\"id\", \"pid\", "
    "\"status\",\n"
    "                      \"reported\", \"cpu\", \"task\", \"started\", \"since\", \"stopping\",\n"
    "                      \"garbage\"}]}]}, times in ms since the epoch (0 unknown)\n"
    "exit codes: 0 every pool listed, 1 a pool could not be listed (its daemon is not running,\n"
    "the list is stale or unreadable), 2 usage or configuration error (no such group, not a\n"
    "process pool, state_dir empty)\n"
    "docs: docs/cli.md, docs/scalers/process.md\n";

struct args {
    const char *config, *group, *url, *token_file;
    int json, help;
};

/* One pool: its list when listed (rc 0), else rc 1 and why. */
struct view {
    const char *group;
    char path[4096];
    int rc;
    char why[AS_ERR_MAX + 512];
    struct as_worker_list l;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **val = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            a->help = 1;
        else if (strcmp(s, "--json") == 0)
            a->json = 1;
        else if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0)
            val = &a->config;
        else if (strcmp(s, "--group") == 0)
            val = &a->group;
        else if (strcmp(s, "--url") == 0)
            val = &a->url;
        else if (strcmp(s, "--token-file") == 0)
            val = &a->token_file;
        else {
            fprintf(stderr, "autoscaler workers: unknown argument '%s' (see --help)\n", s);
            return -1;
        }
        if (val != NULL && i + 1 >= argc) {
            fprintf(stderr, "autoscaler workers: %s needs a value\n", s);
            return -1;
        }
        if (val != NULL)
            *val = argv[++i];
    }
    return 0;
}

static const char *local_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || localtime_r(&t, &tm) == NULL || strftime(buf, len, "%F %T", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

/* ---- reading ---- */

/* Fills v for group g of cfg: rc 0 with the list of a running daemon, else rc 1 and why. */
static void load_view(const struct as_config *cfg, const struct as_group_cfg *g, struct view *v)
{
    struct as_err err;
    char d[32];
    as_err_clear(&err);
    v->group = g->name;
    v->rc = 1;
    if (as_worker_list_path(v->path, sizeof(v->path), cfg->state_dir, g->name) < 0) {
        snprintf(v->why, sizeof(v->why), "state_dir is too long");
        return;
    }
    if (as_worker_list_read(v->path, &v->l, &err) < 0) {
        if (errno == ENOENT)
            snprintf(v->why, sizeof(v->why),
                     "no worker list (%s): no daemon runs this pool (not started, stopped, or "
                     "started from another directory or with another state_dir)",
                     v->path);
        else
            snprintf(v->why, sizeof(v->why), "cannot read the worker list %s: %s", v->path,
                     err.msg);
        return;
    }
    if (strcmp(v->l.group, g->name) != 0) {
        snprintf(v->why, sizeof(v->why), "%s is the list of group '%s', not of '%s'", v->path,
                 v->l.group, g->name);
    } else if (!as_worker_list_live(&v->l)) {
        snprintf(v->why, sizeof(v->why),
                 "the daemon that wrote %s (pid %ld) is not running: the list is stale (last "
                 "written %s ago; a daemon killed with SIGKILL leaves it behind)",
                 v->path, v->l.daemon_pid,
                 as_age_fmt(as_wall_ms() - v->l.updated_ms, d, sizeof(d)));
    } else {
        v->rc = 0;
        return;
    }
    as_worker_list_free(&v->l);
}

/* From the daemon's API: rc 0 with the list, rc 1 with why (the daemon answered an error);
 * -1 when the API could not be reached. */
static int api_view(const struct as_api_target *t, const char *group, struct view *v)
{
    char path[256];
    json_t *doc = NULL;
    struct as_err err;
    as_err_clear(&err);
    v->group = group;
    v->rc = 1;
    snprintf(path, sizeof(path), "/api/v1/groups/%s/workers", group);
    long status = as_api_get(t, path, &doc, &err);
    if (status < 0) {
        snprintf(v->why, sizeof(v->why), "%s", err.msg);
        return -1;
    }
    char *text = status == 200 ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (status != 200)
        snprintf(v->why, sizeof(v->why), "%s%s answered %ld: %s", t->url, path, status,
                 json_string_value(json_object_get(doc, "error"))
                     ? json_string_value(json_object_get(doc, "error"))
                     : "(no message)");
    else if (text == NULL || as_worker_list_parse(text, strlen(text), &v->l, &err) < 0)
        snprintf(v->why, sizeof(v->why), "%s%s: not a worker list: %s", t->url, path,
                 text ? err.msg : "out of memory");
    else
        v->rc = 0;
    free(text);
    json_decref(doc);
    return 0;
}

/* ---- text ---- */

static const char *status_of(const struct as_worker_entry *w)
{
    if (w->pid == 0)
        return "RESTARTING";
    if (w->stopping)
        return "STOPPING";
    return w->state == AS_WSTATE_BUSY ? "BUSY" : w->state == AS_WSTATE_FREE ? "FREE" : "UNKNOWN";
}

/* "busy 12s", "idle 2m05s", "cpu busy 3s", "cpu idle 40s" or "-". */
static const char *for_of(const struct as_worker_entry *w, int64_t now, char *buf, size_t len)
{
    char d[32];
    const char *what = w->state == AS_WSTATE_BUSY   ? "busy"
                       : w->state == AS_WSTATE_FREE ? "idle"
                       : w->cpu == AS_CPU_BUSY      ? "cpu busy"
                       : w->cpu == AS_CPU_IDLE      ? "cpu idle"
                                                    : NULL;
    if (w->pid == 0 || what == NULL || w->since_ms <= 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%s %s", what, as_age_fmt(now - w->since_ms, d, sizeof(d)));
    return buf;
}

static void print_text(const struct view *v, int64_t now)
{
    char d[32], started[32], since[32], dur[48], pid[24];
    int n[3] = {0, 0, 0}; /* busy, free, unknown (running, not stopping) */
    for (size_t i = 0; i < v->l.n; i++)
        if (v->l.w[i].pid != 0 && !v->l.w[i].stopping)
            n[v->l.w[i].state == AS_WSTATE_BUSY ? 0 : v->l.w[i].state == AS_WSTATE_FREE ? 1 : 2]++;
    printf("group %s: %zu worker%s, %d busy, %d free, %d unknown (daemon pid %ld, list written "
           "%s ago)\n",
           v->group, v->l.n, v->l.n == 1 ? "" : "s", n[0], n[1], n[2], v->l.daemon_pid,
           as_age_fmt(now - v->l.updated_ms, d, sizeof(d)));
    printf("%-4s %-8s %-10s %-19s  %-19s  %-14s %s\n", "ID", "PID", "STATUS", "STARTED", "SINCE",
           "FOR", "TASK");
    for (size_t i = 0; i < v->l.n; i++) {
        const struct as_worker_entry *w = &v->l.w[i];
        snprintf(pid, sizeof(pid), w->pid ? "%ld" : "-", w->pid);
        printf("%-4d %-8s %-10s %-19s  %-19s  %-14s %s\n", w->id, pid, status_of(w),
               local_time(w->started_ms, started, sizeof(started)),
               local_time(w->since_ms, since, sizeof(since)), for_of(w, now, dur, sizeof(dur)),
               w->task[0] ? w->task : "-");
    }
    for (size_t i = 0; i < v->l.n; i++)
        if (v->l.w[i].garbage > 0)
            printf("worker %d wrote %llu line%s that %s not a status (see the daemon's log)\n",
                   v->l.w[i].id, v->l.w[i].garbage, v->l.w[i].garbage == 1 ? "" : "s",
                   v->l.w[i].garbage == 1 ? "is" : "are");
}

/* ---- JSON ---- */

static json_t *worker_json(const struct as_worker_entry *w)
{
    static const char *const cpu[] = {"", "idle", "busy"};
    const char *reported = w->state == AS_WSTATE_BUSY   ? "BUSY"
                           : w->state == AS_WSTATE_FREE ? "FREE"
                                                        : "UNKNOWN";
    return json_pack("{s:i, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:I}", "id", w->id, "pid",
                     (json_int_t)w->pid, "status", status_of(w), "reported", reported, "cpu",
                     cpu[w->cpu], "task", w->task, "started", (json_int_t)w->started_ms, "since",
                     (json_int_t)w->since_ms, "stopping", w->stopping, "garbage",
                     (json_int_t)w->garbage);
}

static json_t *view_json(const struct view *v)
{
    json_t *ws = json_array();
    for (size_t i = 0; ws != NULL && v->rc == 0 && i < v->l.n; i++)
        if (json_array_append_new(ws, worker_json(&v->l.w[i])) < 0) {
            json_decref(ws);
            ws = NULL;
        }
    json_t *o = json_pack("{s:s, s:b, s:s?, s:o}", "group", v->group, "running", v->rc == 0,
                          "error", v->rc == 0 ? NULL : v->why, "workers", ws);
    if (o != NULL && v->rc == 0 &&
        (json_object_set_new(o, "daemon_pid", json_integer(v->l.daemon_pid)) < 0 ||
         json_object_set_new(o, "updated", json_integer(v->l.updated_ms)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int print_json(const struct view *views, size_t n)
{
    json_t *groups = json_array();
    json_t *doc = json_pack("{s:o}", "groups", groups);
    int rc = doc == NULL ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = json_array_append_new(groups, view_json(&views[i]));
    char *text = rc == 0 ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "autoscaler workers: out of memory\n");
        return -1;
    }
    puts(text);
    free(text);
    return 0;
}

/* ---- the command ---- */

/* The groups to list into sel (cfg->ngroups entries); returns how many, or -1 after printing
 * why (a usage or configuration error). */
static long select_groups(const struct as_config *cfg, const char *file, const char *group,
                          const struct as_group_cfg **sel)
{
    long n = 0;
    if (cfg->state_dir[0] == '\0') {
        fprintf(stderr,
                "autoscaler workers: %s: state_dir is empty, so process pools keep no "
                "worker list\n",
                file);
        return -1;
    }
    if (group != NULL) {
        const struct as_group_cfg *g = as_config_group(cfg, group);
        if (g == NULL)
            fprintf(stderr, "autoscaler workers: %s: no group '%s'\n", file, group);
        else if (strcmp(g->scaler.type, "process") != 0)
            fprintf(stderr,
                    "autoscaler workers: group '%s' scales with `%s`, not `process`: only "
                    "process pools list their workers\n",
                    group, g->scaler.type);
        sel[0] = g;
        return g != NULL && strcmp(g->scaler.type, "process") == 0 ? 1 : -1;
    }
    for (size_t i = 0; i < cfg->ngroups; i++)
        if (strcmp(cfg->groups[i].scaler.type, "process") == 0)
            sel[n++] = &cfg->groups[i];
    if (n == 0)
        fprintf(stderr, "autoscaler workers: %s has no group with `scaler: {type: process}`\n",
                file);
    return n > 0 ? n : -1;
}

/* Shows views[0..n) (rc 0 each, else its why on stderr); returns the exit code. */
static int show(struct view *views, long n, const struct args *a)
{
    int rc = 0;
    int64_t now = as_wall_ms();
    for (long i = 0; i < n; i++) {
        if (views[i].rc != 0) {
            fprintf(stderr, "autoscaler workers: group %s: %s\n", views[i].group, views[i].why);
            rc = EXIT_RUNTIME;
        } else if (!a->json) {
            if (i > 0)
                putchar('\n');
            print_text(&views[i], now);
        }
    }
    if (n > 0 && a->json && print_json(views, (size_t)n) < 0)
        rc = EXIT_RUNTIME;
    for (long i = 0; i < n; i++)
        as_worker_list_free(&views[i].l);
    return rc;
}

/* The daemon's API for cfg's groups (or --url's): returns the exit code, or -1 when the API
 * cannot be used (off, unreachable, another daemon's): the files are read instead. */
static int list_api(const struct as_config *cfg, const struct args *a)
{
    struct as_api_target t;
    struct as_err err;
    json_t *groups = NULL;
    long n = 0;
    as_err_clear(&err);
    if (as_api_target(&t, cfg, a->url, a->token_file, &err) < 0) {
        if (a->url != NULL || a->token_file != NULL) {
            fprintf(stderr, "autoscaler workers: %s\n", err.msg);
            return EXIT_USAGE;
        }
        return -1;
    }
    if (as_api_same_config(&t, &err) < 0) {
        if (a->url != NULL)
            fprintf(stderr, "autoscaler workers: %s\n", err.msg);
        as_api_target_free(&t);
        return a->url != NULL ? EXIT_RUNTIME : -1;
    }
    long status = as_api_get(&t, "/api/v1/groups", &groups, &err);
    const json_t *all = json_object_get(groups, "groups"), *g;
    size_t i, count = json_array_size(all);
    struct view *views = calloc(count + 2, sizeof(*views));
    int rc = status == 200 && views != NULL ? 0 : EXIT_RUNTIME;
    if (status != 200)
        fprintf(stderr, "autoscaler workers: %s\n",
                status < 0 ? err.msg : "the daemon's API refused /api/v1/groups");
    json_array_foreach(all, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        if (rc != 0 || name == NULL ||
            (a->group ? strcmp(name, a->group) != 0 : !json_is_true(json_object_get(g, "workers"))))
            continue;
        if (api_view(&t, name, &views[n++]) < 0)
            rc = EXIT_RUNTIME;
    }
    if (rc == 0 && n == 0) {
        if (a->group != NULL)
            fprintf(stderr, "autoscaler workers: the daemon at %s has no group '%s'\n", t.url,
                    a->group);
        else
            fprintf(stderr, "autoscaler workers: the daemon at %s runs no process pool\n", t.url);
        rc = EXIT_USAGE;
    }
    if (rc == 0)
        rc = show(views, n, a);
    free(views);
    json_decref(groups);
    as_api_target_free(&t);
    return rc;
}

static int list(const struct as_config *cfg, const struct args *a)
{
    const struct as_group_cfg **sel = calloc(cfg->ngroups + 1, sizeof(*sel));
    struct view *views = calloc(cfg->ngroups + 1, sizeof(*views));
    long n = sel && views ? select_groups(cfg, a->config, a->group, sel) : -2;
    int rc = n == -2 ? EXIT_RUNTIME : n < 0 ? EXIT_USAGE : 0;
    if (n == -2)
        fprintf(stderr, "autoscaler workers: out of memory\n");
    for (long i = 0; i < n; i++)
        load_view(cfg, sel[i], &views[i]);
    if (n > 0)
        rc = show(views, n, a);
    free(views);
    free(sel);
    return rc;
}

int as_cmd_workers(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (a.config != NULL && a.url != NULL) {
        fprintf(stderr, "autoscaler workers: -c and --url: give one of them\n");
        return EXIT_USAGE;
    }
    if (a.url != NULL)
        return list_api(NULL, &a);
    if (a.config == NULL)
        a.config = "autoscaler.yaml";
    struct as_err err;
    as_err_clear(&err);
    struct as_config *cfg = as_config_load(a.config, &err);
    if (cfg == NULL) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        return EXIT_USAGE;
    }
    int rc = list_api(cfg, &a);
    if (rc < 0)
        rc = list(cfg, &a);
    as_config_unref(cfg);
    return rc;
}
