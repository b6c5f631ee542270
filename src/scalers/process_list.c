/* The worker list file of a process pool: see process_list.h. */
#include "scalers/process_list.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/json.h"
#include "util/proc.h"

#define LIST_MAX_BYTES (16 * 1024 * 1024) /* a larger file is not ours */

int as_worker_list_path(char *buf, size_t len, const char *state_dir, const char *group)
{
    int n = snprintf(buf, len, "%s/%s.workers", state_dir, group);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* ---- writing ---- */

static const char *const cpu_names[] = {"", "idle", "busy"}; /* enum as_cpu_seen */

static json_t *worker_json(const struct as_worker_entry *w)
{
    return json_pack("{s:i, s:I, s:s, s:s, s:I, s:I, s:s, s:b, s:I}", "id", w->id, "pid",
                     (json_int_t)w->pid, "status", as_wstate_name(w->state), "task", w->task,
                     "started", (json_int_t)w->started_ms, "since", (json_int_t)w->since_ms, "cpu",
                     cpu_names[w->cpu], "stopping", w->stopping, "garbage", (json_int_t)w->garbage);
}

json_t *as_worker_list_json(const struct as_worker_list *l)
{
    json_t *workers = json_array();
    json_t *doc = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:I}", "format", AS_WORKER_LIST_FORMAT,
                            "group", l->group, "daemon", "pid", (json_int_t)l->daemon_pid, "start",
                            (json_int_t)l->daemon_start, "instance", (json_int_t)l->instance,
                            "updated", (json_int_t)l->updated_ms);
    int rc = workers == NULL || doc == NULL ? -1 : 0;
    for (size_t i = 0; i < l->n && rc == 0; i++)
        rc = json_array_append_new(workers, worker_json(&l->w[i]));
    if (rc == 0 && json_object_set(doc, "workers", workers) == 0) {
        json_decref(workers);
        return doc;
    }
    json_decref(workers);
    json_decref(doc);
    return NULL;
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

int as_worker_list_write(const char *path, const struct as_worker_list *l)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    json_t *doc = as_worker_list_json(l);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int rc = -1, saved = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        rc = write_all(fd, text, strlen(text));
        rc = write_all(fd, "\n", rc == 0 ? 1 : 0) < 0 ? -1 : rc;
        saved = errno;
        if (close(fd) < 0 && rc == 0)
            saved = errno, rc = -1;
        if (rc == 0 && rename(tmp, path) < 0)
            saved = errno, rc = -1;
        if (rc < 0)
            unlink(tmp);
    } else {
        saved = errno;
    }
    free(text);
    errno = saved;
    return rc;
}

/* ---- reading ---- */

/* A whole number in [min, max] at key of obj; missing is an error. */
static int get_int(json_t *obj, const char *key, double min, double max, double *out,
                   struct as_err *err)
{
    json_t *v = json_object_get(obj, key);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(d >= min && d <= max) || d != floor(d))
        return as_err_set(err, "'%s' is missing or not a whole number in range", key);
    *out = d;
    return 0;
}

static int get_str(json_t *obj, const char *key, char *buf, size_t len, struct as_err *err)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL || strlen(s) >= len)
        return as_err_set(err, "'%s' is missing, not a string or too long", key);
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

/* "cpu": optional (a file of the first writer has none). */
static int get_cpu(json_t *obj, enum as_cpu_seen *out, struct as_err *err)
{
    json_t *v = json_object_get(obj, "cpu");
    const char *s = json_string_value(v);
    *out = AS_CPU_UNSAMPLED;
    if (v == NULL)
        return 0;
    for (size_t i = 0; s != NULL && i < sizeof(cpu_names) / sizeof(cpu_names[0]); i++)
        if (strcmp(s, cpu_names[i]) == 0) {
            *out = (enum as_cpu_seen)i;
            return 0;
        }
    return as_err_set(err, "'cpu' is not \"\", \"idle\" or \"busy\"");
}

static int parse_worker(json_t *j, struct as_worker_entry *w, struct as_err *err)
{
    char status[16];
    double id = 0, pid = 0, started = 0, since = 0, garbage = 0;
    json_t *stopping = json_object_get(j, "stopping");
    if (!json_is_object(j))
        return as_err_set(err, "a worker is not an object");
    if (get_int(j, "id", 0, 1e9, &id, err) < 0 || get_int(j, "pid", 0, 1e9, &pid, err) < 0 ||
        get_int(j, "started", 0, 1e15, &started, err) < 0 ||
        get_int(j, "since", 0, 1e15, &since, err) < 0 ||
        get_int(j, "garbage", 0, 9e15, &garbage, err) < 0 ||
        get_str(j, "status", status, sizeof(status), err) < 0 ||
        get_str(j, "task", w->task, sizeof(w->task), err) < 0)
        return -1;
    if (!json_is_boolean(stopping))
        return as_err_set(err, "'stopping' is missing or not a boolean");
    if (get_cpu(j, &w->cpu, err) < 0)
        return -1;
    w->state = strcmp(status, "BUSY") == 0   ? AS_WSTATE_BUSY
               : strcmp(status, "FREE") == 0 ? AS_WSTATE_FREE
                                             : AS_WSTATE_UNKNOWN;
    if (w->state == AS_WSTATE_UNKNOWN && strcmp(status, "unknown") != 0)
        return as_err_set(err, "unknown status '%s'", status);
    w->id = (int)id, w->pid = (long)pid, w->started_ms = (int64_t)started;
    w->since_ms = (int64_t)since, w->garbage = (unsigned long long)garbage;
    w->stopping = json_is_true(stopping);
    return 0;
}

static int parse_list(json_t *doc, struct as_worker_list *l, struct as_err *err)
{
    json_t *d = json_object_get(doc, "daemon"), *ws = json_object_get(doc, "workers");
    const char *format = json_string_value(json_object_get(doc, "format"));
    double pid = 0, start = 0, instance = 0, updated = 0;
    if (format == NULL || strcmp(format, AS_WORKER_LIST_FORMAT) != 0)
        return as_err_set(err, "not a worker list (format is not \"" AS_WORKER_LIST_FORMAT "\")");
    if (!json_is_object(d))
        return as_err_set(err, "'daemon' is missing or not an object");
    if (get_str(doc, "group", l->group, sizeof(l->group), err) < 0 ||
        get_int(d, "pid", 1, 1e9, &pid, err) < 0 || get_int(d, "start", 0, 9e15, &start, err) < 0 ||
        get_int(d, "instance", 0, 9e15, &instance, err) < 0 ||
        get_int(doc, "updated", 0, 1e15, &updated, err) < 0)
        return -1;
    l->daemon_pid = (long)pid, l->daemon_start = (unsigned long long)start;
    l->instance = (unsigned long)instance, l->updated_ms = (int64_t)updated;
    if (!json_is_array(ws))
        return as_err_set(err, "'workers' is missing or not a list");
    l->w = calloc(json_array_size(ws) + 1, sizeof(*l->w));
    if (l->w == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; i < json_array_size(ws); i++, l->n++)
        if (parse_worker(json_array_get(ws, i), &l->w[i], err) < 0)
            return -1;
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = malloc(LIST_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, LIST_MAX_BYTES + 1, f) : 0;
    int bad = buf == NULL || ferror(f) || n > LIST_MAX_BYTES;
    int saved = buf == NULL ? ENOMEM : ferror(f) ? EIO : EFBIG;
    fclose(f);
    if (bad) {
        free(buf);
        errno = saved;
        return NULL;
    }
    *len = n;
    return buf;
}

int as_worker_list_parse(const char *text, size_t len, struct as_worker_list *l, struct as_err *err)
{
    *l = (struct as_worker_list){0};
    json_t *doc = as_json_load(text, len, err);
    int rc = doc != NULL && json_is_object(doc) ? parse_list(doc, l, err) : -1;
    if (doc != NULL && !json_is_object(doc))
        as_err_set(err, "not a JSON object");
    json_decref(doc);
    if (rc < 0)
        as_worker_list_free(l);
    return rc;
}

int as_worker_list_read(const char *path, struct as_worker_list *l, struct as_err *err)
{
    *l = (struct as_worker_list){0};
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text == NULL) {
        int saved = errno;
        as_err_set(err, "%s: %s", path, strerror(saved));
        errno = saved;
        return -1;
    }
    int rc = as_worker_list_parse(text, len, l, err);
    free(text);
    if (rc < 0)
        errno = EINVAL;
    return rc;
}

void as_worker_list_free(struct as_worker_list *l)
{
    free(l->w);
    l->w = NULL;
    l->n = 0;
}

int as_worker_list_live(const struct as_worker_list *l)
{
    struct as_proc_stat st;
    return as_proc_stat((pid_t)l->daemon_pid, &st) == 0 && st.state != 'Z' &&
           st.start_ticks == l->daemon_start;
}
