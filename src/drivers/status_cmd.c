/* autoscaler status, autoscaler queue: see status_cmd.h. */
#include "drivers/status_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/api_client.h"
#include "util/util.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define REASON_COLUMN 64 /* a decision's reason in the table; --json has it whole */

static const char usage_status[] =
    "usage: autoscaler status [-c FILE | --url URL] [--token-file PATH] [--json]\n"
    "\n"
    "Shows what a running daemon's groups are doing, from its HTTP API (docs/api.md), one\n"
    "line per group:\n"
    "\n"
    "  GROUP     the group (and PAUSED, OVERRIDE N, SCALING A->B when they apply)\n"
    "  REPLICAS  the count now (the last trusted one); - unknown\n"
    "  DESIRED   what the last decision called for\n"
    "  MIN/MAX   the bounds in effect now\n"
    "  METRICS   each metric's last value against its target (value/target), or failed\n"
    "  DECISION  the last decision: up, down or hold, and its reason (cut to fit)\n"
    "  AGE       how long ago it was made\n"
    "\n"
    "  -c, --config FILE   the daemon's configuration: its http.listen, TLS and token (default\n"
    "                      autoscaler.yaml); the daemon answering must run this same file\n"
    "  --url URL           the API's address instead, e.g. http://127.0.0.1:9711\n"
    "  --token-file PATH   send the token in PATH (else $AUTOSCALER_TOKEN, else the file's\n"
    "                      http.token); needed only with http.auth: all\n"
    "  --json              the API's answer as is: {\"groups\": [...]} (GET /api/v1/groups)\n"
    "exit codes: 0 shown, 1 the daemon cannot be reached or answered an error, 2 usage or\n"
    "configuration error\n"
    "docs: docs/cli.md, docs/api.md\n";

static const char usage_queue[] =
    "usage: autoscaler queue GROUP [-c FILE | --url URL] [--token-file PATH] [--metric NAME]\n"
    "                        [--limit N] [--json]\n"
    "\n"
    "Shows a group's queue length over its recent rounds, beside its replicas, from a running\n"
    "daemon's HTTP API (GET /api/v1/groups/GROUP/queue): the queue policy's metric, or any\n"
    "metric with --metric. One line per round, oldest first, then the lowest, mean and highest\n"
    "length.\n"
    "\n"
    "  -c, --config FILE   the daemon's configuration (default autoscaler.yaml), as for status\n"
    "  --url URL           the API's address instead\n"
    "  --token-file PATH   the token, as for status\n"
    "  --metric NAME       the metric to show (needed when the group's policy is not queue)\n"
    "  --limit N           the newest N rounds only (default: every round kept, http.history_\n"
    "                      rounds)\n"
    "  --json              the API's answer as is\n"
    "exit codes: 0 shown, 1 the daemon cannot be reached or answered an error (no such group,\n"
    "no queue), 2 usage or configuration error\n"
    "docs: docs/cli.md, docs/api.md\n";

struct args {
    const char *config, *url, *token_file, *metric, *limit, *group;
    int json, help;
};

static int parse_args(const char *cmd, int argc, char **argv, int queue, struct args *a)
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
        else if (strcmp(s, "--url") == 0)
            val = &a->url;
        else if (strcmp(s, "--token-file") == 0)
            val = &a->token_file;
        else if (queue && strcmp(s, "--metric") == 0)
            val = &a->metric;
        else if (queue && strcmp(s, "--limit") == 0)
            val = &a->limit;
        else if (queue && s[0] != '-' && a->group == NULL)
            a->group = s;
        else {
            fprintf(stderr, "autoscaler %s: unknown argument '%s' (see --help)\n", cmd, s);
            return -1;
        }
        if (val != NULL && i + 1 >= argc) {
            fprintf(stderr, "autoscaler %s: %s needs a value\n", cmd, s);
            return -1;
        }
        if (val != NULL)
            *val = argv[++i];
    }
    if (a->config != NULL && a->url != NULL) {
        fprintf(stderr, "autoscaler %s: -c and --url: give one of them\n", cmd);
        return -1;
    }
    if (queue && !a->help && a->group == NULL) {
        fprintf(stderr, "autoscaler queue: which group? (autoscaler queue GROUP)\n");
        return -1;
    }
    return 0;
}

/* The target from the arguments; returns 0, or an exit code after printing why. */
static int target_of(const char *cmd, const struct args *a, struct as_api_target *t)
{
    struct as_err err;
    struct as_config *cfg = NULL;
    char buf[AS_ERR_MAX + 300];
    as_err_clear(&err);
    if (a->url == NULL) {
        cfg = as_config_load(a->config ? a->config : "autoscaler.yaml", &err);
        if (cfg == NULL) {
            fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
            return EXIT_USAGE;
        }
    }
    int rc = as_api_target(t, cfg, a->url, a->token_file, &err);
    as_config_unref(cfg);
    if (rc < 0) {
        fprintf(stderr, "autoscaler %s: %s\n", cmd, err.msg);
        return EXIT_USAGE;
    }
    if (as_api_same_config(t, &err) < 0) {
        fprintf(stderr, "autoscaler %s: %s\n", cmd, err.msg);
        as_api_target_free(t);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* GETs path; 0 with *out, or EXIT_RUNTIME after printing why. */
static int fetch(const char *cmd, const struct as_api_target *t, const char *path, json_t **out)
{
    struct as_err err;
    as_err_clear(&err);
    long status = as_api_get(t, path, out, &err);
    if (status == 200)
        return 0;
    if (status < 0)
        fprintf(stderr, "autoscaler %s: %s\n", cmd, err.msg);
    else
        fprintf(stderr, "autoscaler %s: %s%s answered %ld: %s\n", cmd, t->url, path, status,
                json_string_value(json_object_get(*out, "error"))
                    ? json_string_value(json_object_get(*out, "error"))
                    : "(no message)");
    json_decref(*out);
    *out = NULL;
    return EXIT_RUNTIME;
}

static int print_json(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    if (text == NULL)
        return EXIT_RUNTIME;
    puts(text);
    free(text);
    return 0;
}

/* An integer member as text, "-" when null. */
static const char *count(const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, len, "-");
    return buf;
}

/* ---- status ---- */

#define COLS 8

struct row {
    char col[COLS][REASON_COLUMN + 96];
};

static void number(struct as_sb *sb, const json_t *v)
{
    if (json_is_number(v))
        as_sb_printf(sb, "%.6g", json_number_value(v));
    else
        as_sb_puts(sb, "-");
}

static void metrics_text(const json_t *g, char *buf, size_t len)
{
    struct as_sb sb = {0};
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(g, "metrics"), i, m)
    {
        as_sb_printf(&sb, "%s%s=", i ? " " : "", json_string_value(json_object_get(m, "name")));
        if (!json_is_true(json_object_get(m, "ok"))) {
            as_sb_puts(&sb, "failed");
            continue;
        }
        number(&sb, json_object_get(m, "value"));
        if (json_is_number(json_object_get(m, "target"))) {
            as_sb_puts(&sb, "/");
            number(&sb, json_object_get(m, "target"));
        }
    }
    snprintf(buf, len, "%s", sb.buf ? sb.buf : "-");
    as_sb_free(&sb);
}

static void group_text(const json_t *g, char *buf, size_t len)
{
    const json_t *sc = json_object_get(g, "scaling");
    int n = snprintf(buf, len, "%s", json_string_value(json_object_get(g, "name")));
    if (json_is_true(json_object_get(g, "paused")) && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " PAUSED");
    if (json_is_integer(json_object_get(g, "override")) && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " OVERRIDE %lld",
                      (long long)json_integer_value(json_object_get(g, "override")));
    if (json_is_object(sc) && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " SCALING %lld->%lld",
                 (long long)json_integer_value(json_object_get(sc, "from")),
                 (long long)json_integer_value(json_object_get(sc, "to")));
}

static void decision_text(const json_t *d, int64_t now, char *buf, size_t len, char *age,
                          size_t alen)
{
    if (!json_is_object(d)) {
        snprintf(buf, len, "-");
        snprintf(age, alen, "-");
        return;
    }
    const char *reason = json_string_value(json_object_get(d, "reason"));
    reason = reason ? reason : "";
    size_t rl = strlen(reason);
    snprintf(buf, len, "%s: %.*s%s", json_string_value(json_object_get(d, "outcome")),
             (int)(rl > REASON_COLUMN ? REASON_COLUMN - 3 : rl), reason,
             rl > REASON_COLUMN ? "..." : "");
    as_age_fmt(now - (int64_t)json_integer_value(json_object_get(d, "time")), age, alen);
}

static void row_of(const json_t *g, int64_t now, struct row *r)
{
    char a[32], b[32];
    group_text(g, r->col[0], sizeof(r->col[0]));
    count(g, "replicas", r->col[1], sizeof(r->col[1]));
    count(g, "desired", r->col[2], sizeof(r->col[2]));
    snprintf(r->col[3], sizeof(r->col[3]), "%s/%s", count(g, "min", a, sizeof(a)),
             count(g, "max", b, sizeof(b)));
    metrics_text(g, r->col[4], sizeof(r->col[4]));
    decision_text(json_object_get(g, "last_decision"), now, r->col[5], sizeof(r->col[5]), r->col[6],
                  sizeof(r->col[6]));
}

static void print_table(const struct row *rows, size_t n, size_t ncols)
{
    size_t w[COLS] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < ncols; c++)
            if (strlen(rows[i].col[c]) > w[c])
                w[c] = strlen(rows[i].col[c]);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < ncols; c++) {
            if (c + 1 < ncols)
                printf("%-*s  ", (int)w[c], rows[i].col[c]);
            else
                printf("%s\n", rows[i].col[c]);
        }
}

int as_cmd_status(int argc, char **argv)
{
    struct args a = {0};
    struct as_api_target t;
    json_t *doc = NULL;
    if (parse_args("status", argc, argv, 0, &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_status, stdout);
        return 0;
    }
    int rc = target_of("status", &a, &t);
    if (rc != 0)
        return rc;
    rc = fetch("status", &t, "/api/v1/groups", &doc);
    if (rc == 0 && a.json) {
        rc = print_json(doc);
    } else if (rc == 0) {
        const json_t *groups = json_object_get(doc, "groups");
        size_t n = json_array_size(groups), i;
        struct row *rows = calloc(n + 1, sizeof(*rows));
        const json_t *g;
        int64_t now = as_wall_ms();
        if (rows == NULL) {
            rc = EXIT_RUNTIME;
        } else {
            static const char *const head[] = {"GROUP",   "REPLICAS", "DESIRED", "MIN/MAX",
                                               "METRICS", "DECISION", "AGE"};
            for (size_t c = 0; c < 7; c++)
                snprintf(rows[0].col[c], sizeof(rows[0].col[c]), "%s", head[c]);
            json_array_foreach(groups, i, g) row_of(g, now, &rows[i + 1]);
            print_table(rows, n + 1, 7);
        }
        free(rows);
    }
    json_decref(doc);
    as_api_target_free(&t);
    return rc;
}

/* ---- queue ---- */

static const char *local_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || localtime_r(&s, &tm) == NULL || strftime(buf, len, "%F %T", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

static void print_queue(const json_t *doc)
{
    const json_t *rounds = json_object_get(doc, "rounds"), *r;
    size_t i, n = 0;
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    char t[32], cur[24], want[24];
    printf("queue %s of group %s (policy %s), oldest first:\n",
           json_string_value(json_object_get(doc, "metric")),
           json_string_value(json_object_get(doc, "group")),
           json_string_value(json_object_get(doc, "policy")));
    printf("%-19s  %10s  %8s  %7s\n", "TIME", "LENGTH", "REPLICAS", "DESIRED");
    json_array_foreach(rounds, i, r)
    {
        const json_t *len = json_object_get(r, "length");
        char l[32] = "failed";
        if (json_is_number(len)) {
            double v = json_number_value(len);
            snprintf(l, sizeof(l), "%.6g", v);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
            n++;
        }
        printf("%-19s  %10s  %8s  %7s\n",
               local_time((int64_t)json_integer_value(json_object_get(r, "time")), t, sizeof(t)), l,
               count(r, "replicas", cur, sizeof(cur)), count(r, "desired", want, sizeof(want)));
    }
    if (n > 0)
        printf("%zu round%s: lowest %.6g, mean %.6g, highest %.6g\n", n, n == 1 ? "" : "s", lo,
               sum / (double)n, hi);
    else
        printf("no measured round yet\n");
}

int as_cmd_queue(int argc, char **argv)
{
    struct args a = {0};
    struct as_api_target t;
    json_t *doc = NULL;
    char path[512];
    long limit = 0;
    if (parse_args("queue", argc, argv, 1, &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_queue, stdout);
        return 0;
    }
    if (a.limit != NULL && (as_parse_long(a.limit, &limit) < 0 || limit < 1 || limit > 100000)) {
        fprintf(stderr, "autoscaler queue: --limit must be a whole number from 1 to 100000\n");
        return EXIT_USAGE;
    }
    int rc = target_of("queue", &a, &t);
    if (rc != 0)
        return rc;
    int n = snprintf(path, sizeof(path), "/api/v1/groups/%s/queue", a.group);
    if (a.metric != NULL && n > 0 && (size_t)n < sizeof(path))
        n += snprintf(path + n, sizeof(path) - (size_t)n, "?metric=%s", a.metric);
    if (limit > 0 && n > 0 && (size_t)n < sizeof(path))
        snprintf(path + n, sizeof(path) - (size_t)n, "%slimit=%ld", a.metric ? "&" : "?", limit);
    if (strpbrk(a.group, "/?&#% ") != NULL || (a.metric && strpbrk(a.metric, "/?&#% ") != NULL)) {
        fprintf(stderr, "autoscaler queue: '%s' is not a group or metric name\n",
                strpbrk(a.group, "/?&#% ") ? a.group : a.metric);
        rc = EXIT_USAGE;
    } else {
        rc = fetch("queue", &t, path, &doc);
    }
    if (rc == 0 && a.json)
        rc = print_json(doc);
    else if (rc == 0)
        print_queue(doc);
    json_decref(doc);
    as_api_target_free(&t);
    return rc;
}
