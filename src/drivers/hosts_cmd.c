/* add-host, remove-host, generate and init --selfhosted (hosts_cmd.h, docs/selfhosted.md). */
#include "drivers/hosts_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/hosts.h"
#include "config/starter.h"
#include "scalers/haproxy_plan.h"
#include "util/loop.h"
#include "util/proc.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define CMD_TIMEOUT_MS 60000

static const char usage_add[] =
    "usage: autoscaler add-host HOST PORT [--weight W] [--dir DIR | -c FILE [--group NAME]]\n"
    "\n"
    "Adds a server to the HAProxy pool: writes its entry, DIR/NAME.host, atomically (NAME is\n"
    "HOST_PORT with ':' as '_'). A running daemon adds it to HAProxy through the Runtime API\n"
    "at its next round; `autoscaler generate` puts it in HAProxy's configuration file. An\n"
    "entry that exists is updated (its weight).\n"
    "\n"
    "  HOST            a DNS name (letters, digits, '-' and '.'), an IPv4 address, or an IPv6\n"
    "                  address (brackets optional); nothing else, so no configuration can be\n"
    "                  smuggled into HAProxy\n"
    "  PORT            1 to 65535\n"
    "  --weight W      HAProxy weight, 0 to 256 (default 1)\n"
    "  --dir DIR       the hosts directory (default: the haproxy scaler's hosts_dir in FILE,\n"
    "                  else ./hosts.d)\n"
    "  -c, --config FILE  the configuration whose haproxy scaler names the directory\n"
    "  --group NAME    the group, when FILE has several haproxy scalers\n"
    "exit codes: 0 written, 1 cannot write, 2 usage error, bad host or port\n"
    "docs: docs/selfhosted.md\n";

static const char usage_remove[] =
    "usage: autoscaler remove-host HOST PORT [--dir DIR | -c FILE [--group NAME]]\n"
    "\n"
    "Removes a server's entry from the pool (the file add-host wrote). HAProxy keeps serving it\n"
    "until `autoscaler generate` reloads it with a configuration without it; to drain it\n"
    "first, lower the group's count instead and let the daemon remove a server.\n"
    "\n"
    "  --dir, -c, --group   as for add-host\n"
    "exit codes: 0 removed, 1 no such entry or cannot remove, 2 usage error, bad host or port\n"
    "docs: docs/selfhosted.md\n";

static const char usage_generate[] =
    "usage: autoscaler generate [-c FILE] [--group NAME] [--no-reload] [--print]\n"
    "\n"
    "Renders HAProxy's configuration from the haproxy scaler's `template` and its hosts.d\n"
    "entries ({{servers}}: one `server NAME ADDRESS weight W OPTIONS` line per entry), writes\n"
    "it to a temporary file beside `config`, checks it with `check` (haproxy -c -f FILE),\n"
    "and only when the check passes replaces `config` atomically and runs `reload`. A file\n"
    "that fails the check is removed and the live one is left as it was.\n"
    "\n"
    "  -c, --config FILE   the configuration (default autoscaler.yaml)\n"
    "  --group NAME        the group, when FILE has several haproxy scalers\n"
    "  --no-reload         replace the file but do not run `reload`\n"
    "  --print             print the rendered configuration to stdout; check and write nothing\n"
    "exit codes: 0 replaced (and reloaded), 1 the check, the write or the reload failed,\n"
    "2 usage or configuration error (a bad hosts.d entry or template)\n"
    "docs: docs/selfhosted.md\n";

static const char usage_init[] =
    "usage: autoscaler init --selfhosted DIR [--force]\n"
    "\n"
    "Writes the self-hosted mode's starter files into DIR (created if needed):\n"
    "autoscaler.yaml (the agents source and the haproxy scaler), haproxy.cfg.tmpl,\n"
    "provision.sh and deprovision.sh to fill in, a random agent.key (mode 0600) and an empty\n"
    "hosts.d/. Refuses to overwrite any of them unless --force is given.\n"
    "exit codes: 0 written, 1 cannot write, 2 usage error or a file exists\n"
    "docs: docs/selfhosted.md\n";

struct args {
    const char *pos[2];
    int npos;
    const char *weight, *dir, *config, *group;
    int no_reload, print, help;
};

/* Parses argv; allowed: 'w' --weight, 'd' --dir, 'c' -c, 'g' --group, 'r' --no-reload,
 * 'p' --print, digits: positional arguments. Returns 0 or -1 after printing the problem. */
static int parse(const char *cmd, int argc, char **argv, const char *allowed, struct args *a)
{
    int maxpos = strchr(allowed, '2') ? 2 : 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], **val = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
            a->help = 1;
        else if (strcmp(s, "--weight") == 0 && strchr(allowed, 'w'))
            val = &a->weight;
        else if (strcmp(s, "--dir") == 0 && strchr(allowed, 'd'))
            val = &a->dir;
        else if ((strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) && strchr(allowed, 'c'))
            val = &a->config;
        else if (strcmp(s, "--group") == 0 && strchr(allowed, 'g'))
            val = &a->group;
        else if (strcmp(s, "--no-reload") == 0 && strchr(allowed, 'r'))
            a->no_reload = 1;
        else if (strcmp(s, "--print") == 0 && strchr(allowed, 'p'))
            a->print = 1;
        else if (s[0] != '-' && a->npos < maxpos)
            a->pos[a->npos++] = s;
        else {
            fprintf(stderr, "autoscaler %s: unknown argument '%s' (see --help)\n", cmd, s);
            return -1;
        }
        if (val != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "autoscaler %s: %s needs a value\n", cmd, s);
                return -1;
            }
            *val = argv[++i];
        }
    }
    return 0;
}

/* The haproxy scaler's options of cfg's group (NULL: the only one). NULL after printing why. */
static struct as_haproxy_opts *find_opts(const char *cmd, struct as_config *cfg, const char *group)
{
    struct as_haproxy_opts *found = NULL;
    int n = 0;
    for (size_t i = 0; i < cfg->ngroups; i++) {
        struct as_group_cfg *g = &cfg->groups[i];
        if (g->scaler.ops != &as_scaler_haproxy || (group && strcmp(g->name, group) != 0))
            continue;
        found = g->scaler.state;
        n++;
    }
    if (n == 1)
        return found;
    if (n == 0)
        fprintf(stderr, "autoscaler %s: %s has no group%s%s with `scaler: {type: haproxy}`\n", cmd,
                cfg->file, group ? " named " : "", group ? group : "");
    else
        fprintf(stderr, "autoscaler %s: %s has %d haproxy groups; choose one with --group\n", cmd,
                cfg->file, n);
    return NULL;
}

static struct as_config *load(const char *cmd, const char *path)
{
    struct as_err err;
    char buf[AS_ERR_MAX + 300];
    as_err_clear(&err);
    struct as_config *cfg = as_config_load(path, &err);
    if (cfg == NULL)
        fprintf(stderr, "autoscaler %s: %s\n", cmd, as_err_str(&err, buf, sizeof(buf)));
    return cfg;
}

/* The hosts directory into dir (--dir, else the config's, else ./hosts.d). Returns 0 or the
 * exit code. */
static int hosts_dir(const char *cmd, const struct args *a, char *dir, size_t len)
{
    if (a->dir != NULL || a->config == NULL) {
        snprintf(dir, len, "%s", a->dir ? a->dir : "hosts.d");
        return 0;
    }
    struct as_config *cfg = load(cmd, a->config);
    struct as_haproxy_opts *o = cfg ? find_opts(cmd, cfg, a->group) : NULL;
    if (o != NULL)
        snprintf(dir, len, "%s", o->hosts_dir);
    if (cfg != NULL)
        as_config_unref(cfg);
    return o != NULL ? 0 : EXIT_USAGE;
}

static int host_entry(const char *cmd, const struct args *a, struct as_host_entry *e)
{
    char why[200];
    long w = 1;
    if (a->npos != 2) {
        fprintf(stderr, "autoscaler %s: HOST and PORT are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (a->weight != NULL &&
        (a->weight[0] == '\0' || strspn(a->weight, "0123456789") != strlen(a->weight) ||
         strlen(a->weight) > 3 || as_parse_long(a->weight, &w) < 0 || w > 256)) {
        fprintf(stderr, "autoscaler %s: --weight: a number from 0 to 256\n", cmd);
        return EXIT_USAGE;
    }
    if (as_host_entry_init(e, a->pos[0], a->pos[1], (int)w, AS_HOST_MANUAL, why, sizeof(why)) < 0) {
        fprintf(stderr, "autoscaler %s: %s\n", cmd, why);
        return EXIT_USAGE;
    }
    return 0;
}

int as_cmd_add_host(int argc, char **argv)
{
    struct args a = {0};
    struct as_host_entry e;
    struct as_hosts hosts = {0};
    struct as_err err;
    char dir[4096];
    int rc;
    as_err_clear(&err);
    if (parse("add-host", argc, argv, "wdcg2", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_add, stdout);
        return 0;
    }
    if ((rc = host_entry("add-host", &a, &e)) != 0 ||
        (rc = hosts_dir("add-host", &a, dir, sizeof(dir))) != 0)
        return rc;
    if (as_hosts_load(dir, &hosts, &err) < 0) {
        char buf[AS_ERR_MAX + 300];
        fprintf(stderr, "autoscaler add-host: %s\n", as_err_str(&err, buf, sizeof(buf)));
        return EXIT_USAGE;
    }
    const struct as_host_entry *old = as_hosts_find(&hosts, e.name);
    if (old != NULL) { /* keep what the entry says of its life, change the weight */
        int w = e.weight;
        e = *old;
        e.weight = w;
    }
    as_hosts_free(&hosts);
    if (as_host_entry_write(dir, &e, &err) < 0) {
        fprintf(stderr, "autoscaler add-host: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    char addr[AS_HOST_MAX + 16];
    as_host_address(e.host, e.port, addr, sizeof(addr));
    printf("%s %s as server %s (%s/%s.host); HAProxy gets it from a running daemon, or "
           "from `autoscaler generate`\n",
           old ? "updated" : "added", addr, e.name, dir, e.name);
    return 0;
}

int as_cmd_remove_host(int argc, char **argv)
{
    struct args a = {0};
    struct as_host_entry e;
    struct as_err err;
    char dir[4096];
    int rc;
    as_err_clear(&err);
    if (parse("remove-host", argc, argv, "dcg2", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_remove, stdout);
        return 0;
    }
    if ((rc = host_entry("remove-host", &a, &e)) != 0 ||
        (rc = hosts_dir("remove-host", &a, dir, sizeof(dir))) != 0)
        return rc;
    char path[4096], addr[AS_HOST_MAX + 16];
    as_host_address(e.host, e.port, addr, sizeof(addr));
    rc = as_host_entry_path(dir, e.name, path, sizeof(path)) < 0
             ? as_err_set(&err, "%s: path too long", dir)
             : as_hosts_unlink(path, 1, &err);
    if (rc != 0) {
        if (rc > 0)
            fprintf(stderr, "autoscaler remove-host: %s is not in %s\n", addr, dir);
        else
            fprintf(stderr, "autoscaler remove-host: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    printf("removed %s (server %s) from %s; `autoscaler generate` takes it out of HAProxy\n", addr,
           e.name, dir);
    return 0;
}

/* ---- generate ---- */

struct run {
    struct as_loop *loop;
    int done, ok;
};

static void on_exit_cmd(const struct as_proc_result *r, void *arg)
{
    struct run *run = arg;
    char how[64];
    run->done = 1;
    run->ok = r->exit_code == 0 && !r->timed_out;
    if (!run->ok) {
        fwrite(r->out, 1, r->out_len, stderr);
        fwrite(r->err, 1, r->err_len, stderr);
        fprintf(stderr, "(%s)\n", as_proc_describe(r, how, sizeof(how)));
    }
    as_loop_stop(run->loop);
}

/* Runs argv ({{file}} replaced by file) and waits. Returns 1 when it exited 0; its output is
 * printed when it failed. */
static int run_cmd(char *const *tmpl, const char *file)
{
    const char *keys[] = {"file"};
    const char *values[] = {file};
    size_t n = 0;
    struct run run = {0};
    struct as_err err;
    as_err_clear(&err);
    while (tmpl[n])
        n++;
    char **argv = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; argv && i < n; i++)
        if ((argv[i] = as_template(tmpl[i], keys, values, 1)) == NULL)
            break;
    run.loop = argv ? as_loop_new() : NULL;
    if (run.loop != NULL && argv[n - 1] != NULL) {
        struct as_proc_opts po = {.argv = (const char *const *)argv, .timeout_ms = CMD_TIMEOUT_MS};
        if (as_proc_spawn(run.loop, &po, on_exit_cmd, &run, &err) == NULL)
            fprintf(stderr, "%s\n", err.msg);
        else
            while (!run.done)
                as_loop_run(run.loop);
    }
    if (run.loop != NULL)
        as_loop_free(run.loop);
    as_strv_free(argv);
    return run.ok;
}

static int read_file(const char *path, struct as_sb *sb)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n;
    if (f == NULL)
        return -1;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (sb->len + n > 4 * 1024 * 1024 || as_sb_append(sb, buf, n) < 0) {
            fclose(f);
            errno = EFBIG;
            return -1;
        }
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

/* Renders into out. Returns 0 or the exit code after printing why. */
static int render(const struct as_haproxy_opts *o, struct as_sb *out)
{
    struct as_sb tmpl = {0};
    struct as_hosts hosts = {0};
    struct as_err err;
    char buf[AS_ERR_MAX + 300];
    int rc = EXIT_USAGE;
    as_err_clear(&err);
    if (o->tmpl == NULL || o->config == NULL) {
        fprintf(stderr, "autoscaler generate: the haproxy scaler needs `template` and `config`\n");
        return EXIT_USAGE;
    }
    if (read_file(o->tmpl, &tmpl) < 0) {
        fprintf(stderr, "autoscaler generate: cannot read %s: %s\n", o->tmpl, strerror(errno));
        goto out;
    }
    if (as_hosts_load(o->hosts_dir, &hosts, &err) < 0 ||
        as_hosts_render(tmpl.buf ? tmpl.buf : "", tmpl.len, o->tmpl, &hosts,
                        (const char *const *)o->server_options, out, &err) < 0) {
        fprintf(stderr, "autoscaler generate: %s\n", as_err_str(&err, buf, sizeof(buf)));
        goto out;
    }
    rc = 0;
out:
    as_sb_free(&tmpl);
    as_hosts_free(&hosts);
    return rc;
}

/* Writes text to a new temporary file beside path into tmp, with the mode and owner of path
 * when it exists (0644 otherwise). Returns 0 or -1 with errno. */
static int write_temp(const char *path, const struct as_sb *text, char *tmp, size_t len)
{
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) + 1 : 0;
    struct stat st;
    snprintf(tmp, len, "%.*s.%s.XXXXXX", dlen, path, slash ? slash + 1 : path);
    int fd = mkstemp(tmp), rc = -1;
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < text->len) {
        ssize_t w = write(fd, text->buf + off, text->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (stat(path, &st) == 0) {
        if (fchown(fd, st.st_uid, st.st_gid) < 0 || fchmod(fd, st.st_mode & 07777) < 0)
            goto out;
    } else if (fchmod(fd, 0644) < 0) {
        goto out;
    }
    rc = fsync(fd);
out:;
    int saved = errno;
    if (close(fd) < 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    if (rc < 0) {
        unlink(tmp);
        errno = saved;
    }
    return rc;
}

/* fsync of the directory of path, so that a rename in it is durable. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) < 0)
            fprintf(stderr, "autoscaler generate: cannot sync %s: %s\n", dir, strerror(errno));
        close(fd);
    }
}

static int replace(const struct as_haproxy_opts *o, const struct as_sb *text, int reload)
{
    char tmp[4200];
    if (write_temp(o->config, text, tmp, sizeof(tmp)) < 0) {
        fprintf(stderr, "autoscaler generate: cannot write beside %s: %s\n", o->config,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    if (!run_cmd(o->check, tmp)) {
        unlink(tmp);
        fprintf(stderr, "autoscaler generate: the check failed: %s is unchanged\n", o->config);
        return EXIT_RUNTIME;
    }
    if (rename(tmp, o->config) < 0) {
        fprintf(stderr, "autoscaler generate: cannot replace %s: %s\n", o->config, strerror(errno));
        unlink(tmp);
        return EXIT_RUNTIME;
    }
    sync_dir_of(o->config);
    printf("wrote %s\n", o->config);
    if (!reload || o->reload == NULL)
        return 0;
    if (!run_cmd(o->reload, o->config)) {
        fprintf(stderr, "autoscaler generate: %s is replaced, but the reload failed\n", o->config);
        return EXIT_RUNTIME;
    }
    printf("reloaded HAProxy\n");
    return 0;
}

int as_cmd_generate(int argc, char **argv)
{
    struct args a = {0};
    struct as_sb text = {0};
    if (parse("generate", argc, argv, "cgrp", &a) < 0)
        return EXIT_USAGE;
    if (a.help) {
        fputs(usage_generate, stdout);
        return 0;
    }
    struct as_config *cfg = load("generate", a.config ? a.config : "autoscaler.yaml");
    struct as_haproxy_opts *o = cfg ? find_opts("generate", cfg, a.group) : NULL;
    int rc = o != NULL ? render(o, &text) : EXIT_USAGE;
    if (rc == 0 && a.print)
        fwrite(text.buf ? text.buf : "", 1, text.len, stdout);
    else if (rc == 0)
        rc = replace(o, &text, !a.no_reload);
    as_sb_free(&text);
    if (cfg != NULL)
        as_config_unref(cfg);
    return rc;
}

/* ---- init --selfhosted ---- */

int as_cmd_init_is_selfhosted(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--selfhosted") == 0)
            return 1;
    return 0;
}

struct starter {
    const char *name;
    const char *text; /* NULL: the key */
    mode_t mode;
};

/* A random key, base64 (44 characters and a newline), as docs/protocol.md suggests. */
static int make_key(char *out, size_t len)
{
    unsigned char raw[32];
    if (len < 46 || getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    int n = EVP_EncodeBlock((unsigned char *)out, raw, (int)sizeof(raw));
    out[n] = '\n';
    out[n + 1] = '\0';
    return 0;
}

static int write_new(const char *dir, const struct starter *f, int force)
{
    char path[4096], key[64];
    const char *text = f->text;
    snprintf(path, sizeof(path), "%s/%s", dir, f->name);
    if (text == NULL && make_key(key, sizeof(key)) < 0)
        return -1;
    text = text ? text : key;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), f->mode);
    size_t n = strlen(text);
    if (fd < 0)
        return -1;
    /* the mode first: an existing file (--force) may be readable by others */
    int ok = fchmod(fd, f->mode) == 0 && write(fd, text, n) == (ssize_t)n;
    return close(fd) == 0 && ok ? 0 : -1;
}

int as_cmd_init_selfhosted(int argc, char **argv)
{
    static const struct starter files[] = {
        {"autoscaler.yaml", as_starter_selfhosted_config, 0644},
        {"haproxy.cfg.tmpl", as_starter_selfhosted_template, 0644},
        {"provision.sh", as_starter_selfhosted_provision, 0755},
        {"deprovision.sh", as_starter_selfhosted_deprovision, 0755},
        {"agent.key", NULL, 0600},
    };
    const char *dir = NULL;
    int force = 0;
    char path[4096];
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_init, stdout);
            return 0;
        }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            force = 1;
        else if (strcmp(argv[i], "--selfhosted") == 0 && i + 1 < argc && argv[i + 1][0] != '-')
            dir = argv[++i];
        else {
            fprintf(stderr, "autoscaler init: --selfhosted DIR [--force] (unexpected '%s')\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fprintf(stderr, "autoscaler init: --selfhosted needs a directory\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < AS_ARRAY_LEN(files) && !force; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
        if (access(path, F_OK) == 0) {
            fprintf(stderr, "autoscaler init: %s exists; use --force to overwrite\n", path);
            return EXIT_USAGE;
        }
    }
    snprintf(path, sizeof(path), "%s/hosts.d", dir);
    if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || (mkdir(path, 0755) < 0 && errno != EEXIST)) {
        fprintf(stderr, "autoscaler init: cannot create %s: %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < AS_ARRAY_LEN(files); i++)
        if (write_new(dir, &files[i], force) < 0) {
            fprintf(stderr, "autoscaler init: cannot write %s/%s: %s\n", dir, files[i].name,
                    strerror(errno));
            return EXIT_RUNTIME;
        }
    printf("wrote %s/: autoscaler.yaml, haproxy.cfg.tmpl, provision.sh, deprovision.sh, "
           "agent.key (0600), hosts.d/\n"
           "next: write provision.sh and deprovision.sh, then in %s:\n"
           "  autoscaler add-host HOST PORT      each app server you have\n"
           "  autoscaler generate                render, check and load HAProxy's configuration\n"
           "  autoscaler run -c autoscaler.yaml  the master (and `autoscaler agent` on each app "
           "server)\n",
           dir, dir);
    return 0;
}
