/* The worker list file `autoscaler workers` reads (scalers/process_list.h): rejected or read,
 * never a crash, a leak or a huge allocation; a list that reads is written and read back the
 * same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scalers/process_list.h"

static int same(const struct as_worker_list *a, const struct as_worker_list *b)
{
    if (strcmp(a->group, b->group) != 0 || a->daemon_pid != b->daemon_pid ||
        a->daemon_start != b->daemon_start || a->instance != b->instance ||
        a->updated_ms != b->updated_ms || a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct as_worker_entry *x = &a->w[i], *y = &b->w[i];
        if (x->id != y->id || x->pid != y->pid || x->state != y->state || x->cpu != y->cpu ||
            strcmp(x->task, y->task) != 0 || x->started_ms != y->started_ms ||
            x->since_ms != y->since_ms || x->stopping != y->stopping || x->garbage != y->garbage)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct as_worker_list l, back;
    struct as_err err;
    as_err_clear(&err);
    if (as_worker_list_parse((const char *)data, size, &l, &err) < 0) {
        if (err.msg[0] == '\0')
            abort(); /* a rejection says why */
        return 0;
    }
    for (size_t i = 0; i < l.n; i++)
        if (l.w[i].state > AS_WSTATE_BUSY || l.w[i].cpu > AS_CPU_BUSY ||
            strnlen(l.w[i].task, AS_STATUS_TASK_MAX) >= AS_STATUS_TASK_MAX)
            abort();
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fuzz-process-list-%ld.workers", (long)getpid());
    if (as_worker_list_write(path, &l) < 0 || as_worker_list_read(path, &back, &err) < 0)
        abort();
    if (!same(&l, &back))
        abort();
    unlink(path);
    as_worker_list_free(&back);
    as_worker_list_free(&l);
    return 0;
}
