/* The nomad scaler's readers of Nomad's answers and its URL builder: the group's count in Read
 * Job Scale Status and in Read Job, the group's allocations in List Job Allocations, the
 * reason of a plain-text error and whether it is permanent, and the job's URL. The first byte
 * picks the group and the status; the rest is the body (and, up to its first NUL, the job ID
 * and namespace put into a URL). Invariants: a count read is >= 0 and an error always has a
 * message; allocations kept are at most max, with NUL-terminated IDs, readiness 0 or 1 and an
 * age of -1 or more; the reason fits its buffer; a URL's job part holds only unreserved bytes
 * and %XX escapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/nomad.h"

static const char *const groups[] = {"web", "cache", "a/b~c", "", "TaskGroups", "~1"};
static const long statuses[] = {200, 307, 400, 403, 404, 408, 409, 425, 429, 500, 503, 0};

static void check_count(enum as_nomad_read read, const char *body, size_t len, const char *group)
{
    int n = -7, permanent = -1;
    struct as_err err;
    as_err_clear(&err);
    int rc = as_nomad_count(read, body, len, group, &n, &permanent, &err);
    if (rc == 0 ? n < 0 || permanent != 0
                : err.msg[0] == '\0' || (permanent != 0 && permanent != 1))
        abort();
}

static void check_allocs(const char *body, size_t len, const char *group, size_t max)
{
    struct as_nomad_allocs a = {0};
    struct as_err err;
    as_err_clear(&err);
    if (as_nomad_allocs(body, len, group, max, &a, &err) < 0) {
        if (a.n != 0 || a.v != NULL || err.msg[0] == '\0')
            abort();
        return;
    }
    if (a.n > max || (a.n > 0 && a.v == NULL))
        abort();
    for (size_t i = 0; i < a.n; i++)
        if (strnlen(a.v[i].id, sizeof(a.v[i].id)) >= sizeof(a.v[i].id) ||
            (a.v[i].not_ready != 0 && a.v[i].not_ready != 1) || a.v[i].created_ms < -1)
            abort();
    as_nomad_allocs_free(&a);
}

static void check_url(const char *job, const char *ns)
{
    char *url = as_nomad_url("http://127.0.0.1:4646/", job, "/scale", ns[0] ? ns : NULL, NULL);
    if (url == NULL)
        return;
    const char *want = "http://127.0.0.1:4646/v1/job/";
    if (strncmp(url, want, strlen(want)) != 0)
        abort();
    for (const char *p = url + strlen(want); *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("-._~%/?=", *p) != NULL))
            abort();
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *group = groups[data[0] % (sizeof(groups) / sizeof(groups[0]))];
    long status = statuses[(data[0] >> 3) % (sizeof(statuses) / sizeof(statuses[0]))];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    check_count(AS_NOMAD_READ_SCALE, body, len, group);
    check_count(AS_NOMAD_READ_JOB, body, len, group);
    check_allocs(body, len, group, 1 + data[0] % 4);
    check_allocs(body, len, group, 4096);

    char buf[200];
    size_t caps[] = {sizeof(buf), 1, 9};
    for (size_t i = 0; i < 3; i++) {
        as_nomad_reason(status, body, len, buf, caps[i]);
        if (strnlen(buf, caps[i]) >= caps[i])
            abort();
    }
    int perm = as_nomad_permanent(status, body, len);
    if (perm != 0 && perm != 1)
        abort();

    char *text = malloc(len + 1);
    if (text == NULL)
        return 0;
    memcpy(text, body, len);
    text[len] = '\0';
    size_t jl = strlen(text);
    check_url(text, jl < len ? text + jl + 1 : "");
    free(text);
    return 0;
}
