/* The self-hosted mode's pool, hosts.d/ (docs/selfhosted.md, docs/scalers/haproxy.md): one
 * file per HAProxy server, one per provision in flight, and the template that renders the
 * HAProxy configuration from them. Written by `autoscaler add-host` and by the `haproxy`
 * scaler, read by both and by `autoscaler generate`. Nothing read from a file, a command's
 * output or a command line reaches HAProxy unless as_host_check and as_port_check accepted
 * it: a host is a DNS name or an IP literal, a port a number, so no space, newline, '#',
 * quote, ';' or option can inject configuration or a second Runtime API command.
 *
 * A server, hosts.d/NAME.host (NAME: as_host_server_name), is `key=value` lines:
 *
 *     # one server of the HAProxy pool
 *     host=app1.example.com
 *     port=8080
 *     weight=1
 *     origin=manual                 manual (add-host) | provisioned (the scaler)
 *     added=1700000000000           Unix ms
 *     id=p1700000000000-1a2b3c4d    the provision that made it (provisioned servers only)
 *     state=draining                draining | deprovisioning; absent: active
 *     since=1700000300000           Unix ms the drain (or the deprovisioning) started
 *
 * A provision in flight, hosts.d/ID.provision, is written before the provision command
 * starts and removed once its server's entry is written:
 *
 *     id=p1700000000000-1a2b3c4d
 *     started=1700000000000
 *
 * Blank lines and lines starting with '#' are ignored; any other line must be one of the
 * keys, each at most once; host and port (an entry), id (a provision) are required. */
#ifndef AS_CONFIG_HOSTS_H
#define AS_CONFIG_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/util.h"

#define AS_HOST_MAX 254       /* a canonical host and its NUL: 253 for a name */
#define AS_HOST_NAME_MAX 264  /* a server name: host, '_', port */
#define AS_HOSTS_MAX 4096     /* entries (and provisions) a hosts.d may hold */
#define AS_HOST_FILE_MAX 4096 /* bytes an entry file may have */
#define AS_HOST_WEIGHT_MAX 256
#define AS_PROV_ID_MAX 40 /* a provision id and its NUL */

enum as_host_origin { AS_HOST_MANUAL = 0, AS_HOST_PROVISIONED };
enum as_host_state { AS_HOST_ACTIVE = 0, AS_HOST_DRAINING, AS_HOST_DEPROVISIONING };

struct as_host_entry {
    char host[AS_HOST_MAX];      /* canonical: a lowercase name, or an IP literal (IPv6 bare) */
    int port;                    /* 1..65535 */
    int weight;                  /* 0..256, HAProxy's range; default 1 */
    int origin;                  /* enum as_host_origin */
    int state;                   /* enum as_host_state */
    int64_t added_ms, since_ms;  /* Unix ms; 0 unknown */
    char id[AS_PROV_ID_MAX];     /* the provision that made it; "" none */
    char name[AS_HOST_NAME_MAX]; /* as_host_server_name(host, port) */
};

/* A provision in flight (or left by a daemon that died while it ran). */
struct as_host_prov {
    char id[AS_PROV_ID_MAX];
    int64_t started_ms; /* Unix ms */
};

/* Checks a host as given on a command line, in a file or by a provisioning command, and
 * writes its canonical form into canon (AS_HOST_MAX bytes): an IPv4 literal in dotted quad
 * form (no leading zeros), an IPv6 literal (optionally in brackets) as inet_ntop writes it,
 * or a DNS name (RFC 1123 labels of letters, digits and '-', 1 to 63 bytes each, not starting
 * or ending with '-', at most 253 bytes, a last label that is not all digits), lowercased.
 * Returns 0, or -1 with why (a sentence without the host). */
int as_host_check(const char *host, char *canon, char *why, size_t why_len);

/* Checks a port: decimal digits only, no sign or leading zero, 1..65535. Returns 0 and *port,
 * or -1 with why. */
int as_port_check(const char *s, int *port, char *why, size_t why_len);

/* The HAProxy server name of a canonical host and port: the host with ':' written as '_',
 * then '_' and the port ("app1.example.com_8080", "10.0.0.5_8080", "2001_db8__1_8080").
 * A name never holds '_', an IPv6 literal always does, so two hosts never share a name. */
void as_host_server_name(const char *host, int port, char *out, size_t len);

/* HOST:PORT as HAProxy reads an address: "[v6]:port" for an IPv6 literal. */
void as_host_address(const char *host, int port, char *out, size_t len);

/* Splits and checks "HOST:PORT" (a provisioning command's output; "[v6]:PORT" for IPv6) into
 * *e (origin, weight, state and times left as they are; name set). Returns 0 or -1 with why. */
int as_host_parse_pair(const char *text, struct as_host_entry *e, char *why, size_t why_len);

/* Fills *e from host and port (checked), weight and origin; state active, added now. Returns 0
 * or -1 with why. */
int as_host_entry_init(struct as_host_entry *e, const char *host, const char *port, int weight,
                       int origin, char *why, size_t why_len);

/* Parses an entry file's text (len bytes, any content). Returns 0, or -1 with why and the
 * 1-based line at fault in *line (0: the file as a whole). */
int as_host_entry_parse(const char *text, size_t len, struct as_host_entry *e, int *line, char *why,
                        size_t why_len);

/* The entry file's text, appended to sb. Returns 0 or -1 on ENOMEM. */
int as_host_entry_format(const struct as_host_entry *e, struct as_sb *sb);

/* Whether s is a provision id: 1 to 39 of a-z 0-9 '-', starting with a letter or digit. */
int as_prov_id_ok(const char *s);

/* A new provision id, "p<Unix ms>-<8 random hex digits>", into out (AS_PROV_ID_MAX bytes). */
void as_prov_id_new(char *out);

/* Parses a provision file's text, as as_host_entry_parse. Returns 0 or -1 with why. */
int as_host_prov_parse(const char *text, size_t len, struct as_host_prov *p, int *line, char *why,
                       size_t why_len);

/* The provision file's text, appended to sb. Returns 0 or -1 on ENOMEM. */
int as_host_prov_format(const struct as_host_prov *p, struct as_sb *sb);

/* The pool: every entry of a directory, sorted by name, and every provision, sorted by id. */
struct as_hosts {
    struct as_host_entry *v;
    size_t n;
    struct as_host_prov *prov;
    size_t nprov;
};

/* Reads every DIR/<name>.host and DIR/<id>.provision (other files, dot files and the
 * writers' temporary files are left alone). A missing directory is an empty pool. A file
 * that does not parse, or whose name is not its server name (its id), fails the whole load
 * with err naming the file and line. Replaces *out (as_hosts_free first). Returns 0 or -1. */
int as_hosts_load(const char *dir, struct as_hosts *out, struct as_err *err);

void as_hosts_free(struct as_hosts *h);

/* The entry named name, or NULL. */
const struct as_host_entry *as_hosts_find(const struct as_hosts *h, const char *name);

/* DIR/NAME.host (DIR/ID.provision) into buf. Returns 0, or -1 when it does not fit. */
int as_host_entry_path(const char *dir, const char *name, char *buf, size_t len);
int as_host_prov_path(const char *dir, const char *id, char *buf, size_t len);

/* Writes the entry atomically and durably (DIR/.NAME.host.tmp, fsync, rename, fsync of DIR;
 * DIR is created, mode 0755, if missing). Blocking: for the command line. Returns 0 or -1. */
int as_host_entry_write(const char *dir, const struct as_host_entry *e, struct as_err *err);

/* Removes a file of the pool (a path from as_host_entry_path or as_host_prov_path); durable:
 * the directory is fsync'ed too. Returns 0, 1 when there was no such file, or -1 with err. */
int as_hosts_unlink(const char *path, int durable, struct as_err *err);

/* ---- the template (docs/selfhosted.md, "The template") ----
 *
 * The text is copied as is, except placeholders: `{{servers}}`, alone on its line after
 * optional blanks, becomes one line per entry that is not being deprovisioned, each with that
 * indentation: `server NAME ADDRESS weight W OPTIONS` (OPTIONS: opts joined by spaces); a
 * draining entry is written with weight 0, so that a reload sends it no new traffic before
 * the daemon drains it again. Every other "{{" is an error, so a typo is not passed on to
 * HAProxy. */

/* Renders tmpl (len bytes) into out. name is for errors ("haproxy.cfg.tmpl:12: ..."); opts
 * is NULL-terminated (may be NULL). Returns 0, or -1 with err. */
int as_hosts_render(const char *tmpl, size_t len, const char *name, const struct as_hosts *hosts,
                    const char *const *opts, struct as_sb *out, struct as_err *err);

/* Whether s is one word HAProxy reads as a server keyword or argument, and the Runtime API
 * as part of one command: 1 to 128 of A-Z a-z 0-9 . _ : / @ = + , - %. */
int as_host_option_ok(const char *s);

#endif
