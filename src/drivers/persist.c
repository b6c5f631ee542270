#include "drivers/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AS_STATE_FILE_MAX (16 * 1024 * 1024)

int as_persist_path(char *buf, size_t len, const char *dir, const char *group)
{
    int n = snprintf(buf, len, "%s/%s.json", dir, group);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int as_persist_dir_init(const char *dir, struct as_err *err)
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
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return as_err_set(err, "%s is not a directory", path);
    return 0;
}

int as_persist_dir_check(const char *dir, struct as_err *err)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return as_err_set(err, "state_dir is too long");
    for (;;) { /* up to the nearest part that exists: it must be a writable directory */
        struct stat st;
        if (stat(path, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return as_err_set(err, "state_dir %s: %s is not a directory", dir, path);
            if (access(path, W_OK | X_OK) < 0)
                return as_err_set(err, "state_dir %s: cannot write in %s: %s", dir, path,
                                  strerror(errno));
            return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return as_err_set(err, "state_dir %s: %s: %s", dir, path, strerror(errno));
        char *slash = strrchr(path, '/');
        if (slash == NULL)
            snprintf(path, sizeof(path), "."); /* relative: the working directory */
        else if (slash == path)
            path[1] = '\0';
        else
            *slash = '\0';
    }
}

char *as_persist_text(const struct as_group_cfg *g, const struct as_group_state *st, int64_t now_ms,
                      int64_t wall_ms, size_t *len)
{
    json_t *doc = as_state_to_json(g, st, now_ms, wall_ms);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (out == NULL) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

/* The whole file, from a regular file only (a FIFO or a device never blocks us). Returns
 * NULL with err, or with errno ENOENT and no err when there is no file. */
static char *read_state(const char *path, size_t *len, struct as_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            as_err_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > AS_STATE_FILE_MAX) {
        as_err_set(err, "%s: not a regular file of at most 16 MiB", path);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (buf == NULL || got != (size_t)st.st_size) {
        as_err_set(err, "%s: %s", path, buf ? "short read" : "out of memory");
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[got] = '\0';
    *len = got;
out:
    close(fd);
    return buf;
}

int as_persist_load(const char *dir, const struct as_group_cfg *g, struct as_group_state *st,
                    struct as_restore *r, struct as_err *err)
{
    char path[4096];
    size_t len;
    json_error_t jerr;
    if (as_persist_path(path, sizeof(path), dir, g->name) < 0)
        return as_err_set(err, "state path too long");
    as_err_clear(err);
    char *text = read_state(path, &len, err);
    if (text == NULL)
        return err->msg[0] ? -1 : 0;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (doc == NULL)
        return as_err_set(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    struct as_err e;
    as_err_clear(&e);
    int rc = as_state_from_json(g, doc, st, r, &e);
    json_decref(doc);
    if (rc < 0)
        return as_err_set(err, "%s: %s", path, e.msg);
    return 1;
}
