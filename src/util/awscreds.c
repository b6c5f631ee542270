/* AWS credentials: configuration, environment, shared credentials file (see awscreds.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/awscreds.h"
#include "util/log.h"

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        wipe(s, strlen(s));
        free(s);
    }
}

void as_awscreds_free(struct as_awscreds *c)
{
    if (c == NULL)
        return;
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

static int set(char **field, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d == NULL)
        return -1;
    wipe_free(*field);
    *field = d;
    return 0;
}

/* ---- the shared credentials file ---- */

static int blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && blank((unsigned char)**s))
        (*s)++;
    while (*e > *s && blank((unsigned char)(*e)[-1]))
        (*e)--;
}

static int key_is(const char *k, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(k, name, n) == 0;
}

/* Keys that make a profile get its credentials some other way. */
static const char *const indirect_keys[] = {
    "role_arn",    "source_profile", "credential_process",      "sso_start_url",
    "sso_session", "sso_account_id", "web_identity_token_file", "credential_source",
};

struct ini {
    const char *profile;
    int in_profile, found;
    const char *indirect; /* the first such key of the profile */
    size_t indirect_len;
    struct as_awscreds *out;
};

static int section(struct ini *st, const char *s, const char *e, const char *file, int lineno,
                   struct as_err *err)
{
    if (e[-1] != ']')
        return as_err_set(err, "%s:%d: a section header without ']'", file, lineno);
    s++, e--;
    trim(&s, &e);
    if (s == e)
        return as_err_set(err, "%s:%d: an empty section name", file, lineno);
    st->in_profile =
        strlen(st->profile) == (size_t)(e - s) && strncmp(s, st->profile, (size_t)(e - s)) == 0;
    st->found |= st->in_profile;
    return 0;
}

static int property(struct ini *st, const char *s, const char *e, const char *file, int lineno,
                    struct as_err *err)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (eq == NULL)
        return as_err_set(err, "%s:%d: neither a [section] nor 'key = value'", file, lineno);
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
    trim(&ks, &ke);
    trim(&vs, &ve);
    if (ks == ke)
        return as_err_set(err, "%s:%d: a value without a key", file, lineno);
    if (!st->in_profile)
        return 0;
    size_t kn = (size_t)(ke - ks), vn = (size_t)(ve - vs);
    int rc = 0;
    if (key_is(ks, kn, "aws_access_key_id"))
        rc = set(&st->out->access_key_id, vs, vn);
    else if (key_is(ks, kn, "aws_secret_access_key"))
        rc = set(&st->out->secret_access_key, vs, vn);
    else if (key_is(ks, kn, "aws_session_token") || key_is(ks, kn, "aws_security_token"))
        rc = set(&st->out->session_token, vs, vn);
    for (size_t i = 0; i < sizeof(indirect_keys) / sizeof(indirect_keys[0]); i++)
        if (st->indirect == NULL && key_is(ks, kn, indirect_keys[i]))
            st->indirect = indirect_keys[i];
    return rc < 0 ? as_err_set(err, "out of memory") : 0;
}

/* One line [s, e) (no '\n'); indented lines after a property continue it (nested values). */
static int line(struct ini *st, const char *s, const char *e, const char *file, int lineno,
                int *seen_section, struct as_err *err)
{
    int indented = s < e && blank((unsigned char)*s);
    if (memchr(s, '\0', (size_t)(e - s)) != NULL)
        return as_err_set(err, "%s:%d: a NUL byte", file, lineno);
    trim(&s, &e);
    if (s == e || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        *seen_section = 1;
        return section(st, s, e, file, lineno, err);
    }
    if (!*seen_section)
        return as_err_set(err, "%s:%d: a value before any [section]", file, lineno);
    if (indented)
        return 0;
    return property(st, s, e, file, lineno, err);
}

static int profile_complete(const struct ini *st, const char *file, struct as_err *err)
{
    const struct as_awscreds *c = st->out;
    const char *p = st->profile;
    if (!st->found)
        return as_err_set(err, "no profile '%s' in %s", p, file);
    if (c->access_key_id == NULL && c->secret_access_key == NULL && st->indirect != NULL)
        return as_err_set(err,
                          "profile '%s' of %s gets its keys through %s, which is not supported: "
                          "give it aws_access_key_id and aws_secret_access_key",
                          p, file, st->indirect);
    if (c->access_key_id == NULL || c->access_key_id[0] == '\0')
        return as_err_set(err, "profile '%s' of %s has no aws_access_key_id", p, file);
    if (c->secret_access_key == NULL || c->secret_access_key[0] == '\0')
        return as_err_set(err, "profile '%s' of %s has no aws_secret_access_key", p, file);
    return 0;
}

int as_awscreds_parse(const char *text, size_t len, const char *profile, const char *file,
                      struct as_awscreds *out, struct as_err *err)
{
    struct ini st = {.profile = profile, .out = out};
    int lineno = 0, seen_section = 0;
    memset(out, 0, sizeof(*out));
    for (const char *s = text, *end = text + len; s < end; lineno++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (line(&st, s, e, file, lineno + 1, &seen_section, err) < 0)
            goto fail;
        s = nl ? nl + 1 : end;
    }
    if (profile_complete(&st, file, err) < 0)
        goto fail;
    if (out->session_token && out->session_token[0] == '\0') {
        free(out->session_token);
        out->session_token = NULL;
    }
    snprintf(out->source, sizeof(out->source), "profile '%s' of %s", profile, file);
    return 0;
fail:
    as_awscreds_free(out);
    return -1;
}

/* Reads a regular file of at most AS_AWSCREDS_FILE_MAX bytes without waiting; *missing is set
 * when it does not exist. The caller wipes and frees the result. */
static char *read_file(const char *path, size_t *len, int *missing, struct as_err *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    *missing = fd < 0 && errno == ENOENT;
    if (fd < 0) {
        as_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        as_err_set(err, "%s is not a regular file", path);
        goto out;
    }
    buf = malloc(AS_AWSCREDS_FILE_MAX + 1);
    if (buf == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, AS_AWSCREDS_FILE_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) > AS_AWSCREDS_FILE_MAX) {
            if (n < 0 || got > AS_AWSCREDS_FILE_MAX) {
                as_err_set(err, n < 0 ? "cannot read %s" : "%s is larger than 64 KiB", path);
                wipe(buf, got > AS_AWSCREDS_FILE_MAX ? AS_AWSCREDS_FILE_MAX + 1 : got);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    *len = got;
out:
    close(fd);
    return buf;
}

/* The shared credentials file's path into buf. */
static int file_path(const struct as_awscreds_opts *o, char *buf, size_t len, struct as_err *err)
{
    const char *f = o->file && o->file[0] ? o->file : getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    int n;
    if (f && f[0] && strncmp(f, "~/", 2) != 0)
        n = snprintf(buf, len, "%s", f);
    else if (home == NULL || home[0] == '\0')
        return as_err_set(err, "HOME is not set: no shared credentials file to read");
    else
        n = snprintf(buf, len, "%s/%s", home, f && f[0] ? f + 2 : ".aws/credentials");
    if (n < 0 || (size_t)n >= len)
        return as_err_set(err, "the shared credentials file's path is too long");
    return 0;
}

static int from_file(const struct as_awscreds_opts *o, const char *profile, int explicit_profile,
                     struct as_awscreds *out, struct as_err *err)
{
    char path[1024];
    size_t len = 0;
    int missing;
    if (file_path(o, path, sizeof(path), err) < 0)
        return -1;
    char *text = read_file(path, &len, &missing, err);
    if (text == NULL && missing && !explicit_profile)
        return as_err_set(err,
                          "no AWS credentials: none in the configuration, AWS_ACCESS_KEY_ID is "
                          "not set, and %s does not exist (instance and container credentials "
                          "are not fetched)",
                          path);
    if (text == NULL)
        return -1;
    int rc = as_awscreds_parse(text, len, profile, path, out, err);
    wipe(text, len);
    free(text);
    return rc;
}

static int given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Keys from the configuration or the environment (names say which, for errors). */
static int from_pair(const char *id, const char *secret, const char *token, const char *id_name,
                     const char *secret_name, const char *source, struct as_awscreds *out,
                     struct as_err *err)
{
    if (!given(id) || !given(secret))
        return as_err_set(err, "%s is set but %s is not", given(id) ? id_name : secret_name,
                          given(id) ? secret_name : id_name);
    out->access_key_id = strdup(id);
    out->secret_access_key = strdup(secret);
    out->session_token = given(token) ? strdup(token) : NULL;
    if (out->access_key_id == NULL || out->secret_access_key == NULL ||
        (given(token) && out->session_token == NULL)) {
        as_awscreds_free(out);
        return as_err_set(err, "out of memory");
    }
    snprintf(out->source, sizeof(out->source), "%s", source);
    return 0;
}

static int find(const struct as_awscreds_opts *o, struct as_awscreds *out, struct as_err *err)
{
    if (given(o->access_key_id) || given(o->secret_access_key))
        return from_pair(o->access_key_id, o->secret_access_key, o->session_token, "access_key_id",
                         "secret_access_key", "configuration", out, err);
    if (given(o->profile))
        return from_file(o, o->profile, 1, out, err);
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (given(id) || given(secret))
        return from_pair(id, secret, getenv("AWS_SESSION_TOKEN"), "AWS_ACCESS_KEY_ID",
                         "AWS_SECRET_ACCESS_KEY", "environment", out, err);
    const char *profile = getenv("AWS_PROFILE");
    return from_file(o, given(profile) ? profile : "default", given(profile), out, err);
}

int as_awscreds_resolve(const struct as_awscreds_opts *o, struct as_awscreds *out,
                        struct as_err *err)
{
    memset(out, 0, sizeof(*out));
    if (find(o, out, err) < 0)
        return -1;
    /* They did not come through a configuration reference, so the log does not know them. */
    if (as_log_secret(out->secret_access_key, strlen(out->secret_access_key)) < 0 ||
        (out->session_token && as_log_secret(out->session_token, strlen(out->session_token)) < 0)) {
        as_awscreds_free(out);
        return as_err_set(err, "out of memory");
    }
    return 0;
}
