/* hiredis' asynchronous API on our loop, with guards against a misbehaving server
 * (redis_loop.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/loop.h"
#include "util/redis_loop.h"

#if HIREDIS_MAJOR >= 1
typedef size_t nelem_t;
#else
typedef int nelem_t;
#endif

struct io {
    struct as_loop *loop;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int fd, events;
    int in_cb; /* inside on_fd: free at its end, not in cleanup */
    int dead;  /* cleaned up */
    long objects;
    const redisReplyObjectFunctions *base; /* the reader's own */
    char reason[96];                       /* why the adapter closed the connection */
};

static void on_fd(struct as_loop *loop, int fd, int events, void *arg);

static void update(struct io *io, int events)
{
    if (io == NULL || io->dead || events == io->events)
        return;
    io->events = events;
    /* On failure the connection goes unwatched; its owner's timeout ends the wait. */
    as_loop_watch_fd(io->loop, io->fd, events, on_fd, io);
}

static void add_read(void *p)
{
    struct io *io = p;
    update(io, io ? io->events | AS_READ : 0);
}

static void del_read(void *p)
{
    struct io *io = p;
    update(io, io ? io->events & ~AS_READ : 0);
}

static void add_write(void *p)
{
    struct io *io = p;
    update(io, io ? io->events | AS_WRITE : 0);
}

static void del_write(void *p)
{
    struct io *io = p;
    update(io, io ? io->events & ~AS_WRITE : 0);
}

static void cleanup(void *p)
{
    struct io *io = p;
    if (io == NULL || io->dead)
        return;
    if (io->events)
        as_loop_watch_fd(io->loop, io->fd, 0, NULL, NULL);
    io->events = 0;
    io->dead = 1;
    redisAsyncContext *ac = io->ac;
    io->ac = NULL;
    /* hiredis may run the commands' callbacks after this hook: they find the reason in the
     * context's own error text. */
    if (io->reason[0]) {
        ac->c.err = REDIS_ERR_OTHER;
        snprintf(ac->c.errstr, sizeof(ac->c.errstr), "%s", io->reason);
        ac->err = ac->c.err;
        ac->errstr = ac->c.errstr;
    }
    /* Nothing may reach io from now on: hiredis keeps calling hooks that are set. */
    ac->c.reader->fn = (redisReplyObjectFunctions *)io->base;
    ac->c.reader->privdata = NULL;
    memset(&ac->ev, 0, sizeof(ac->ev));
    if (!io->in_cb)
        free(io);
}

/* ---- the reply guard: hiredis' own object functions, with limits ---- */

/* Whether the object task is about to create may be: counts it, and refuses a reply no
 * command waits for and one of too many elements (the reader then fails, and hiredis closes
 * the connection). */
static int admit(const redisReadTask *task, long more)
{
    struct io *io = task->privdata;
    if (io == NULL || io->dead)
        return 1;
    if (task->parent == NULL) {
        io->objects = 0;
        int guarded = io->ac && !(io->ac->c.flags & (REDIS_SUBSCRIBED | REDIS_MONITORING));
        if (guarded && io->ac->replies.head == NULL && task->type != REDIS_REPLY_ERROR) {
            snprintf(io->reason, sizeof(io->reason),
                     "the server sent a reply no command asked for");
            return 0;
        }
    }
    /* Each element is counted once, when its array says how many it holds. */
    io->objects += (task->parent == NULL ? 1 : 0) + (more > 0 ? more : 0);
    if (io->objects <= AS_REDIS_MAX_OBJECTS)
        return 1;
    snprintf(io->reason, sizeof(io->reason), "a reply of more than %ld elements",
             AS_REDIS_MAX_OBJECTS);
    return 0;
}

static const redisReplyObjectFunctions *base_of(const redisReadTask *task)
{
    return ((const struct io *)task->privdata)->base;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    return admit(task, 0) ? base_of(task)->createString(task, str, len) : NULL;
}

static void *create_array(const redisReadTask *task, nelem_t n)
{
    long more = (long)n;
    return admit(task, more) ? base_of(task)->createArray(task, n) : NULL;
}

static void *create_integer(const redisReadTask *task, long long v)
{
    return admit(task, 0) ? base_of(task)->createInteger(task, v) : NULL;
}

static void *create_nil(const redisReadTask *task)
{
    return admit(task, 0) ? base_of(task)->createNil(task) : NULL;
}

#if HIREDIS_MAJOR >= 1
static void *create_double(const redisReadTask *task, double v, char *str, size_t len)
{
    return admit(task, 0) ? base_of(task)->createDouble(task, v, str, len) : NULL;
}

static void *create_bool(const redisReadTask *task, int v)
{
    return admit(task, 0) ? base_of(task)->createBool(task, v) : NULL;
}
#endif

static redisReplyObjectFunctions guarded_fns = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
#if HIREDIS_MAJOR >= 1
    .createDouble = create_double,
    .createBool = create_bool,
#endif
    .freeObject = freeReplyObject,
};

/* ---- events ---- */

/* Closes ac with a reason of the adapter's own (outside hiredis' callbacks). */
static void close_with(struct io *io, const char *reason)
{
    snprintf(io->reason, sizeof(io->reason), "%s", reason);
    redisAsyncFree(io->ac);
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    struct io *io = arg;
    io->in_cb = 1;
    /* The loop reports an error or a hang-up as both; hiredis wants only what it asked for. */
    if ((events & AS_WRITE) && (io->events & AS_WRITE) && !io->dead)
        redisAsyncHandleWrite(io->ac);
    if ((events & AS_READ) && (io->events & AS_READ) && !io->dead)
        redisAsyncHandleRead(io->ac);
    if (!io->dead) {
        const redisReader *r = io->ac->c.reader;
        if (r->len - r->pos > (size_t)AS_REDIS_MAX_BUFFER)
            close_with(io, "a reply larger than 16 MiB");
    }
    io->in_cb = 0;
    if (io->dead)
        free(io);
}

int as_redis_attach(struct as_loop *loop, redisAsyncContext *ac)
{
    if (ac->ev.data != NULL || ac->c.reader == NULL)
        return -1;
    struct io *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return -1;
    *io = (struct io){.loop = loop, .ac = ac, .fd = ac->c.fd, .base = ac->c.reader->fn};
    ac->c.reader->fn = &guarded_fns;
    ac->c.reader->privdata = io;
    ac->ev.data = io;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}

const char *as_redis_error(const redisAsyncContext *ac)
{
    const struct io *io = ac->ev.data;
    if (io != NULL && io->reason[0])
        return io->reason;
    if (ac->c.err)
        return ac->c.errstr;
    return "connection closed";
}

redisReader *as_redis_reader_new(void)
{
    redisReader *r = redisReaderCreate();
    struct io *io = calloc(1, sizeof(*io));
    if (r == NULL || io == NULL) {
        if (r)
            redisReaderFree(r);
        free(io);
        return NULL;
    }
    io->base = r->fn;
    r->fn = &guarded_fns;
    r->privdata = io;
    return r;
}

const char *as_redis_reader_error(const redisReader *r)
{
    const struct io *io = r->privdata;
    return io && io->reason[0] ? io->reason : r->errstr;
}

void as_redis_reader_free(redisReader *r)
{
    if (r == NULL)
        return;
    free(r->privdata);
    redisReaderFree(r);
}
