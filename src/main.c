/* autoscaler: command-line entry point. Exit codes: 0 success, 1 runtime failure,
 * 2 usage or configuration error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "drivers/daemon.h"
#include "drivers/persist.h"
#include "drivers/replay.h"
#include "config/starter.h"
#include "drivers/demo.h"
#include "drivers/workers_cmd.h"
#include "drivers/status_cmd.h"
#include "drivers/agent.h"
#include "drivers/hosts_cmd.h"
#include "drivers/simulate_cmd.h"
#include "drivers/tune_cmd.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static const char usage_main[] =
    "usage: autoscaler <command> [options]\n"
    "\n"
    "Keeps every configured group of replicas at the right size:\n"
    "measure -> decide -> scale -> log, once per interval per group.\n"
    "\n"
    "commands:\n"
    "  run -c FILE [--once] [--dry-run]     run the daemon (alias: master, the self-hosted\n"
    "                                       mode's name for it on the HAProxy machine)\n"
    "  check -c FILE                        validate a configuration and exit\n"
    "  init [FILE] [--force]                write a commented starter configuration\n"
    "  init --selfhosted DIR [--force]      starter files of the self-hosted mode (HAProxy)\n"
    "  replay -c FILE --metrics IN [--out OUT] [--group NAME] [--start T] [--format F]\n"
    "                                       decisions for recorded metrics (CSV, JSON Lines)\n"
    "  simulate -c FILE --trace TRACE.csv [--compare oracle,hpa,kpa]\n"
    "                                       a policy over a traffic trace through a model of\n"
    "                                       the service, against baselines (docs/simulation.md)\n"
    "  tune -c FILE --trace TRACE.csv [--slo pP<=D] [--param KEY=LO:HI]...\n"
    "                                       the cheapest policy settings that meet the SLO on\n"
    "                                       a trace, checked on a held-out part (docs/tune.md)\n"
    "  demo [--duration S] [--speed N]      a live autoscaling loop with no outside service\n"
    "  options                              the configuration reference (Markdown)\n"
    "  status [-c FILE | --url URL] [--json]\n"
    "                                       what a running daemon's groups are doing\n"
    "  workers [-c FILE | --url URL] [--group NAME] [--json]\n"
    "                                       list a running process pool's workers (BUSY/FREE)\n"
    "  queue GROUP [-c FILE | --url URL] [--json]\n"
    "                                       a group's queue length over its recent rounds\n"
    "  agent --master HOST:PORT --secret-file PATH\n"
    "                                       report this host's CPU to a master (alias: daemon)\n"
    "  add-host HOST PORT [--weight W]      put a server in the HAProxy pool (hosts.d)\n"
    "  remove-host HOST PORT                take a server out of the HAProxy pool\n"
    "  generate [-c FILE]                   render, check and load HAProxy's configuration\n"
    "\n"
    "  --version                            print the version\n"
    "  --help                               this text; `autoscaler COMMAND --help` for one "
    "command\n"
    "\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n"
    "docs: docs/README.md\n";

static const char usage_run[] =
    "usage: autoscaler run -c FILE [--once] [--dry-run]\n"
    "       autoscaler master -c FILE [--once] [--dry-run]   (the same command)\n"
    "\n"
    "Runs every group in FILE: each interval it measures the group's metrics, decides the\n"
    "replica count (the group's policy, HPA target tracking by default, then the HPA's\n"
    "stabilization windows and rate policies, bounds, cooldown), scales through the group's\n"
    "scaler and logs the decision and any change to stderr and the log file. Each group's\n"
    "state (windows, scale events, counters) is kept in state_dir across restarts. It serves\n"
    "/metrics, /api/v1 and a dashboard at http.listen (127.0.0.1:9711 unless set; docs/api.md).\n"
    "\n"
    "  -c, --config FILE   the YAML configuration (required)\n"
    "  --once              one round per group, then stop (exit 0)\n"
    "  --dry-run           decide and log, but never change a replica count\n"
    "\n"
    "signals: SIGINT/SIGTERM stop cleanly (a scale call in flight is finished and logged,\n"
    "process pools are stopped and reaped); SIGHUP reloads FILE and its ${env:}/${file:}\n"
    "references atomically: a bad file is logged and the running configuration kept.\n"
    "exit codes: 0 stopped cleanly, 1 runtime failure, 2 usage or configuration error\n";

static const char usage_check[] =
    "usage: autoscaler check -c FILE\n"
    "\n"
    "Validates FILE as `run` would (every key, type, range, reference, and that state_dir\n"
    "exists as a writable directory or can be created) without starting or creating\n"
    "anything. Prints every error, in file order, one a line as FILE:LINE:COLUMN: message\n"
    "(the first 50, then how many more; FILE: message when the file cannot be read).\n"
    "exit codes: 0 valid, 2 invalid or usage error\n";

static const char usage_init[] =
    "usage: autoscaler init [FILE] [--force]\n"
    "       autoscaler init --selfhosted DIR [--force]\n"
    "\n"
    "Writes a commented starter configuration to FILE (default autoscaler.yaml, or - for\n"
    "stdout). Refuses to overwrite an existing file unless --force is given.\n"
    "With --selfhosted, writes the self-hosted mode's starter files into DIR (created if\n"
    "needed): autoscaler.yaml (agents source, haproxy scaler), haproxy.cfg.tmpl,\n"
    "provision.sh and deprovision.sh to fill in, a random agent.key (0600) and hosts.d/\n"
    "(docs/selfhosted.md).\n"
    "exit codes: 0 written, 1 cannot write, 2 usage error or file exists\n";

static const char usage_replay[] =
    "usage: autoscaler replay -c FILE --metrics IN [--out OUT] [--group NAME]\n"
    "                         [--start TIME] [--format csv|jsonl]\n"
    "\n"
    "Feeds recorded observations through the same decision code as `run`, on a virtual clock,\n"
    "and writes one row per observation: t,current,desired,reason.\n"
    "\n"
    "  -c, --config FILE   configuration holding the group\n"
    "  --metrics IN        recorded observations; - reads stdin. CSV: a header\n"
    "                      t,replicas,<metric name>...; an empty cell is a failed measurement.\n"
    "                      JSON Lines: one object a line, {\"t\": 30, \"replicas\": 4,\n"
    "                      \"metrics\": {\"cpu\": 0.91, \"lat\": null, \"per\": {\"replicas\":\n"
    "                      [0.7, null, {\"value\": 0.95, \"ready\": false}]}}}; null is a failed\n"
    "                      measurement (a missing replica in a list). t in seconds; without a\n"
    "                      replicas value the previous decision is the current count.\n"
    "  --out OUT           output file (default stdout)\n"
    "  --group NAME        the group to replay (needed when FILE has several)\n"
    "  --start TIME        wall-clock time of t=0, epoch seconds or RFC 3339\n"
    "                      (2024-03-01T08:00:00Z): now = TIME + t (default: now = t)\n"
    "  --format F          csv or jsonl (default: by the name, .jsonl/.ndjson/.csv, else by\n"
    "                      the first character: { is JSON Lines)\n"
    "docs: docs/replay.md\n"
    "exit codes: 0 success, 1 cannot read or write, 2 usage, configuration or input error\n";

static const char usage_demo[] =
    "usage: autoscaler demo [--duration SECONDS] [--port PORT] [--speed N]\n"
    "\n"
    "Runs a real autoscaling loop on this machine with no outside service: a local demo app\n"
    "(127.0.0.1) whose load is 1.5, steps to 6.0 at 40 s and down to 2.5 at 90 s, and starts\n"
    "over at 150 s, and a `process` pool of worker processes that the daemon grows and\n"
    "shrinks, deciding every 2 s, to hold the app's CPU (load / live workers) at 0.80: the\n"
    "HPA's scale-up limit (4 workers or 100% per 15 s) and a 30 s scale-down window (the\n"
    "HPA's is 5 min). Logs to stderr and autoscaler.log in the working directory.\n"
    "\n"
    "  --duration SECONDS   stop by itself after this long (default: run until Ctrl-C)\n"
    "  --port PORT          the demo app's port (default: a free one)\n"
    "  --speed N            run the load profile N times faster, and the 15 s period and\n"
    "                       the 30 s window with it, down to 1 s and 2 s; the daemon still\n"
    "                       decides every 2 s (default 1, at most 1000)\n";

static const char usage_options[] =
    "usage: autoscaler options\n"
    "\n"
    "Prints the configuration reference generated from the option tables (Markdown):\n"
    "every key of every section, source and scaler with its type, default and meaning.\n";

static const char usage_agent[] =
    "usage: autoscaler agent --master HOST:PORT --secret-file PATH [--name HOST]\n"
    "                        [--interval DURATION] [--command NAME=CMD]... [--log-level LEVEL]\n"
    "\n"
    "Runs on an application host and reports this host's CPU utilization (0..1 over all\n"
    "cores, from /proc/stat) to the master's `agents` source every interval: one line per\n"
    "report, signed with the shared secret (docs/protocol.md). `autoscaler daemon` is the\n"
    "same command.\n"
    "\n"
    "  --master HOST:PORT    the master's listener, e.g. 127.0.0.1:7070 (also the local end\n"
    "                        of an ssh -R tunnel); a name is resolved at each connection\n"
    "  --secret-file PATH    the key shared with the master: at least 16 bytes, trailing\n"
    "                        newlines dropped; the key itself never goes on a command line\n"
    "  --name HOST           the name to report as (default: this host's name)\n"
    "  --interval DURATION   how often to report (default 5s; 100ms to 24h)\n"
    "  --command NAME=CMD    also report the number CMD prints as value NAME (run by\n"
    "                        /bin/sh -c each interval, killed after 80% of it); repeatable,\n"
    "                        at most 15; a master metric reads it with `field: NAME`\n"
    "  --log-level LEVEL     debug, info (default), warn or error; the log goes to stderr\n"
    "\n"
    "No backlog: while the master is unreachable, reports are dropped and the connection is\n"
    "retried with backoff, at most 5s apart; once connected, the latest values go at once.\n"
    "signals: SIGTERM/SIGINT stop it cleanly.\n"
    "exit codes: 0 stopped cleanly, 1 runtime failure, 2 usage error or unusable secret file\n"
    "docs: docs/protocol.md, docs/sources/agents.md\n";

struct args {
    const char *config, *metrics, *out, *group, *file, *start, *format;
    int once, dry_run, force, help;
};

/* Parses argv after the command. Returns 0, or -1 after printing the problem. */
static int parse_args(int argc, char **argv, const char *allowed, struct args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **val = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            a->help = 1;
        else if ((strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) && strchr(allowed, 'c'))
            val = &a->config;
        else if (strcmp(s, "--metrics") == 0 && strchr(allowed, 'm'))
            val = &a->metrics;
        else if (strcmp(s, "--out") == 0 && strchr(allowed, 'o'))
            val = &a->out;
        else if (strcmp(s, "--group") == 0 && strchr(allowed, 'g'))
            val = &a->group;
        else if (strcmp(s, "--start") == 0 && strchr(allowed, 's'))
            val = &a->start;
        else if (strcmp(s, "--format") == 0 && strchr(allowed, 't'))
            val = &a->format;
        else if (strcmp(s, "--once") == 0 && strchr(allowed, '1'))
            a->once = 1;
        else if (strcmp(s, "--dry-run") == 0 && strchr(allowed, 'd'))
            a->dry_run = 1;
        else if (strcmp(s, "--force") == 0 && strchr(allowed, 'f'))
            a->force = 1;
        else if ((s[0] != '-' || strcmp(s, "-") == 0) && strchr(allowed, 'F') && !a->file)
            a->file = s;
        else {
            fprintf(stderr, "autoscaler: unknown argument '%s' (see --help)\n", s);
            return -1;
        }
        if (val != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "autoscaler: %s needs a value\n", s);
                return -1;
            }
            *val = argv[++i];
        }
    }
    return 0;
}

#define ERRORS_SHOWN 50 /* a file that is wrong everywhere: the first ones, then a count */

/* Prints every error of the file, in file order, one a line. */
static void print_errors(const struct as_errs *errs, const struct as_err *first)
{
    char buf[AS_ERR_MAX + 300];
    if (errs->n == 0) {
        fprintf(stderr, "%s\n", as_err_str(first, buf, sizeof(buf)));
        return;
    }
    for (size_t i = 0; i < errs->n && i < ERRORS_SHOWN; i++)
        fprintf(stderr, "%s\n", as_err_str(&errs->v[i], buf, sizeof(buf)));
    size_t more = errs->n + errs->dropped - (errs->n < ERRORS_SHOWN ? errs->n : ERRORS_SHOWN);
    if (more > 0)
        fprintf(stderr, "... and %zu more error%s\n", more, more == 1 ? "" : "s");
}

/* Loads the configuration, or prints every error in it and returns NULL. */
static struct as_config *load_or_report(const char *path)
{
    struct as_err err;
    struct as_errs errs = {0};
    struct as_config *cfg = as_config_load_all(path, &errs, &err);
    if (cfg == NULL)
        print_errors(&errs, &err);
    as_errs_free(&errs);
    return cfg;
}

static int cmd_run(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, "c1d", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_run, stdout);
        return 0;
    }
    if (a.config == NULL) {
        fprintf(stderr, "autoscaler run: -c FILE is required\n%s", usage_run);
        return EXIT_USAGE;
    }
    struct as_config *cfg = load_or_report(a.config);
    if (cfg == NULL)
        return EXIT_USAGE;
    struct as_engine_opts opts = {.dry_run = a.dry_run, .once = a.once};
    int rc = as_daemon_run(cfg, a.config, &opts);
    as_config_unref(cfg);
    return rc;
}

/* ---- check, init, options ---- */

static int cmd_check(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, "c", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_check, stdout);
        return 0;
    }
    if (a.config == NULL) {
        fprintf(stderr, "autoscaler check: -c FILE is required\n");
        return EXIT_USAGE;
    }
    struct as_config *cfg = load_or_report(a.config);
    if (cfg == NULL)
        return EXIT_USAGE;
    struct as_err err;
    as_err_clear(&err);
    if (cfg->state_dir[0] != '\0' && as_persist_dir_check(cfg->state_dir, &err) < 0) {
        fprintf(stderr, "%s:%d:%d: %s\n", a.config, cfg->state_dir_line, cfg->state_dir_col,
                err.msg);
        as_config_unref(cfg);
        return EXIT_USAGE;
    }
    printf("%s: ok (%zu group%s)\n", a.config, cfg->ngroups, cfg->ngroups == 1 ? "" : "s");
    as_config_unref(cfg);
    return 0;
}

static int cmd_init(int argc, char **argv)
{
    struct args a = {0};
    if (as_cmd_init_is_selfhosted(argc, argv))
        return as_cmd_init_selfhosted(argc, argv);
    if (parse_args(argc, argv, "Ff", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_init, stdout);
        return 0;
    }
    const char *path = a.file ? a.file : "autoscaler.yaml";
    if (strcmp(path, "-") == 0) {
        fputs(as_starter_config, stdout);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | (a.force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0 && errno == EEXIST) {
        fprintf(stderr, "autoscaler init: %s exists; use --force to overwrite\n", path);
        return EXIT_USAGE;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || fputs(as_starter_config, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "autoscaler init: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    printf("wrote %s; check it with: autoscaler check -c %s\n", path, path);
    return 0;
}

static int cmd_options(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, "", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_options, stdout);
        return 0;
    }
    struct as_sb sb = {0};
    if (as_config_reference(&sb) < 0) {
        as_sb_free(&sb);
        return EXIT_RUNTIME;
    }
    fputs(sb.buf, stdout);
    as_sb_free(&sb);
    return 0;
}

/* ---- replay ---- */

static const struct as_group_cfg *pick_group(const struct as_config *cfg, const char *name)
{
    if (name != NULL) {
        const struct as_group_cfg *g = as_config_group(cfg, name);
        if (g == NULL)
            fprintf(stderr, "autoscaler replay: no group '%s' in %s\n", name, cfg->file);
        return g;
    }
    if (cfg->ngroups == 1)
        return &cfg->groups[0];
    fprintf(stderr, "autoscaler replay: %s has %zu groups; choose one with --group\n", cfg->file,
            cfg->ngroups);
    return NULL;
}

static int cmd_replay(int argc, char **argv)
{
    struct args a = {0};
    if (parse_args(argc, argv, "cmogst", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_replay, stdout);
        return 0;
    }
    if (a.config == NULL || a.metrics == NULL) {
        fprintf(stderr, "autoscaler replay: -c FILE and --metrics IN are required\n");
        return EXIT_USAGE;
    }
    struct as_replay_opts ro = {AS_REPLAY_AUTO, 0};
    struct as_err err;
    as_err_clear(&err);
    if ((a.start != NULL && as_replay_start_parse(a.start, &ro.start_ms, &err) < 0) ||
        (a.format != NULL && as_replay_format_parse(a.format, &ro.format, &err) < 0)) {
        fprintf(stderr, "autoscaler replay: %s\n", err.msg);
        return EXIT_USAGE;
    }
    struct as_config *cfg = load_or_report(a.config);
    if (cfg == NULL)
        return EXIT_USAGE;
    int rc = EXIT_USAGE;
    FILE *in = NULL, *out = NULL;
    const struct as_group_cfg *g = pick_group(cfg, a.group);
    if (g == NULL)
        goto out;
    rc = EXIT_RUNTIME;
    in = strcmp(a.metrics, "-") == 0 ? stdin : fopen(a.metrics, "r");
    out = a.out ? fopen(a.out, "w") : stdout;
    if (in == NULL || out == NULL) {
        fprintf(stderr, "autoscaler replay: cannot open %s: %s\n", in == NULL ? a.metrics : a.out,
                strerror(errno));
        goto out;
    }
    if (as_replay(g, in, a.metrics, &ro, out, &err) < 0) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "%s\n", as_err_str(&err, buf, sizeof(buf)));
        rc = EXIT_USAGE;
        goto out;
    }
    rc = 0;
out:
    if (in != NULL && in != stdin)
        fclose(in);
    if (out != NULL && out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "autoscaler replay: cannot write %s: %s\n", a.out, strerror(errno));
        rc = EXIT_RUNTIME;
    }
    as_config_unref(cfg);
    return rc;
}

static int cmd_demo(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_demo, stdout);
            return 0;
        }
    return as_demo_main(argc, argv);
}

static int cmd_agent(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_agent, stdout);
            return 0;
        }
    return as_agent_main(argc, argv);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cmd_run},
                {"master", cmd_run},
                {"check", cmd_check},
                {"init", cmd_init},
                {"replay", cmd_replay},
                {"simulate", as_cmd_simulate},
                {"tune", as_cmd_tune},
                {"options", cmd_options},
                {"workers", as_cmd_workers},
                {"status", as_cmd_status},
                {"queue", as_cmd_queue},
                {"demo", cmd_demo},
                {"agent", cmd_agent},
                {"daemon", cmd_agent},
                {"add-host", as_cmd_add_host},
                {"remove-host", as_cmd_remove_host},
                {"generate", as_cmd_generate},
                {"demo-app", as_demo_app_main},
                {"demo-worker", as_demo_worker_main}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("autoscaler %s\n", AS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "autoscaler: unknown command '%s'\n\n%s", argv[1], usage_main);
    return EXIT_USAGE;
}
