#include "core/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AS_STATE_VERSION 1
#define AS_STAMPS_MAX 100000 /* a bound on what a file may ask us to allocate */

/* ---- JSON ---- */

static json_t *stamps_json(const struct as_stamps *s, int with_outdated)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++) {
        json_t *e = with_outdated ? json_pack("[I,i,b]", (json_int_t)s->v[i].t, s->v[i].value,
                                              s->v[i].outdated)
                                  : json_pack("[I,i]", (json_int_t)s->v[i].t, s->v[i].value);
        if (e == NULL || json_array_append_new(a, e) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *as_state_to_json(const struct as_group_cfg *g, const struct as_group_state *st)
{
    json_t *scales = json_array(), *policy = json_object();
    for (int i = 0; scales && i < st->nscales && i < 32; i++)
        json_array_append_new(scales, json_integer(st->scales[i]));
    json_t *doc = json_pack(
        "{s:i, s:s, s:b, s:o, s:o, s:o, s:I, s:i, s:I, s:o, s:s}", "version", AS_STATE_VERSION,
        "group", g->name, "seeded", st->seeded, "recommendations", stamps_json(&st->recs, 0),
        "scale_up_events", stamps_json(&st->up, 1), "scale_down_events", stamps_json(&st->down, 1),
        "last_scale_ms", (json_int_t)st->last_scale_ms, "failures", st->failures, "idle_since_ms",
        (json_int_t)st->idle_since_ms, "scales", scales, "policy_type", g->policy->name);
    json_t *history = json_array(); /* oldest first */
    for (size_t i = st->history.n; history && i-- > 0;) {
        const struct as_event *e = as_history_get(st, i);
        json_array_append_new(history, json_pack("[I,i,i,s]", (json_int_t)e->t, e->from, e->to,
                                                 e->reason ? e->reason : ""));
    }
    if (doc != NULL && history != NULL) {
        json_object_set_new(doc, "history", history);
        json_object_set_new(doc, "idle", json_boolean(st->idle));
        json_object_set_new(doc, "last_up_ms", json_integer(st->scaled_up ? st->last_up_ms : -1));
    } else {
        json_decref(history);
    }
    if (doc != NULL && policy != NULL && g->policy->save &&
        g->policy->save(g->policy_cfg, st->policy, policy) == 0)
        json_object_set(doc, "policy", policy);
    json_decref(policy);
    return doc;
}

static int stamps_from(const json_t *a, struct as_stamps *s, int with_outdated)
{
    if (!json_is_array(a) || json_array_size(a) > AS_STAMPS_MAX)
        return -1;
    size_t n = json_array_size(a);
    s->v = n ? calloc(n, sizeof(*s->v)) : NULL;
    if (n && s->v == NULL)
        return -1;
    s->n = s->cap = n;
    for (size_t i = 0; i < n; i++) {
        json_int_t t;
        int v, outdated = 0;
        int rc = with_outdated ? json_unpack(json_array_get(a, i), "[I,i,b]", &t, &v, &outdated)
                               : json_unpack(json_array_get(a, i), "[I,i]", &t, &v);
        if (rc != 0 || v < 0)
            return -1;
        s->v[i] = (struct as_stamp){(int64_t)t, v, outdated};
    }
    return 0;
}

int as_state_from_json(const struct as_group_cfg *g, const json_t *doc, struct as_group_state *st,
                       struct as_err *err)
{
    json_int_t last, idle;
    int version, seeded, failures;
    json_t *recs, *up, *down, *scales;
    const char *group;
    json_error_t jerr;
    if (json_unpack_ex((json_t *)doc, &jerr, 0,
                       "{s:i, s:s, s:b, s:o, s:o, s:o, s:I, s:i, s:I, s:o}", "version", &version,
                       "group", &group, "seeded", &seeded, "recommendations", &recs,
                       "scale_up_events", &up, "scale_down_events", &down, "last_scale_ms", &last,
                       "failures", &failures, "idle_since_ms", &idle, "scales", &scales) != 0)
        return as_err_set(err, "%s", jerr.text);
    if (version != AS_STATE_VERSION || strcmp(group, g->name) != 0 || !json_is_array(scales))
        return as_err_set(err, "written for another version or group");
    if (stamps_from(recs, &st->recs, 0) < 0 || stamps_from(up, &st->up, 1) < 0 ||
        stamps_from(down, &st->down, 1) < 0) {
        as_group_state_free(st);
        return as_err_set(err, "malformed recommendations or scale events");
    }
    st->seeded = seeded;
    st->last_scale_ms = last;
    st->failures = failures < 0 ? 0 : failures;
    st->idle_since_ms = idle;
    for (size_t i = 0; i < json_array_size(scales) && i < 32; i++)
        st->scales[st->nscales++] = json_integer_value(json_array_get(scales, i));
    st->idle = json_is_true(json_object_get(doc, "idle"));
    json_t *last_up = json_object_get(doc, "last_up_ms");
    if (json_is_integer(last_up) && json_integer_value(last_up) >= 0) {
        st->scaled_up = 1;
        st->last_up_ms = json_integer_value(last_up);
    }
    json_t *history = json_object_get(doc, "history");
    for (size_t i = 0; json_is_array(history) && i < json_array_size(history); i++) {
        json_int_t t;
        int from, to;
        const char *reason;
        if (json_unpack(json_array_get(history, i), "[I,i,i,s]", &t, &from, &to, &reason) == 0)
            as_history_append(g, st, t, from, to, reason);
    }
    st->last_reason[0] = '\0';
    /* The policy's own state only if the same policy wrote it, and only if it reads back. */
    const json_t *policy = json_object_get(doc, "policy");
    const json_t *type = json_object_get(doc, "policy_type");
    if (policy && g->policy->load && json_is_string(type) &&
        strcmp(json_string_value(type), g->policy->name) == 0 &&
        g->policy->load(g->policy_cfg, st->policy, policy) < 0)
        memset(st->policy, 0, sizeof(st->policy));
    return 0;
}

/* ---- files ---- */

static int state_path(char *buf, size_t len, const char *dir, const char *group, const char *ext)
{
    int n = snprintf(buf, len, "%s/%s.%s", dir, group, ext);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int as_state_dir_init(const char *dir, struct as_err *err)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return as_err_set(err, "state_dir is too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return as_err_set(err, "cannot create %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0750) < 0 && errno != EEXIST)
        return as_err_set(err, "cannot create %s: %s", path, strerror(errno));
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int as_state_save(const char *dir, const struct as_group_cfg *g, const struct as_group_state *st,
                  int durable, struct as_err *err)
{
    char tmp[4096], path[4096];
    int rc = -1, fd = -1;
    char *text = NULL;
    json_t *doc = as_state_to_json(g, st);
    if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
        as_err_set(err, "out of memory");
        goto out;
    }
    if (state_path(tmp, sizeof(tmp), dir, g->name, "json.tmp") < 0 ||
        state_path(path, sizeof(path), dir, g->name, "json") < 0) {
        as_err_set(err, "state path too long");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 ||
        (durable && fsync(fd) < 0) || close(fd) < 0) {
        as_err_set(err, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        as_err_set(err, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    int dfd = durable ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) { /* make the rename itself durable */
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(text);
    json_decref(doc);
    return rc;
}

int as_state_load(const char *dir, const struct as_group_cfg *g, struct as_group_state *st,
                  struct as_err *err)
{
    char path[4096];
    json_error_t jerr;
    if (state_path(path, sizeof(path), dir, g->name, "json") < 0)
        return as_err_set(err, "state path too long");
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return as_err_set(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    struct as_err e;
    as_err_clear(&e);
    int rc = as_state_from_json(g, doc, st, &e);
    json_decref(doc);
    if (rc < 0)
        return as_err_set(err, "%s: %s", path, e.msg);
    return 1;
}
