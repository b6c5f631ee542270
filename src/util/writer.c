#include "util/writer.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/util.h"

/* A chained hash table whose nodes are embedded first in their owners. */
struct hnode {
    struct hnode *next;
    uint64_t hash;
};

struct htab {
    struct hnode **b;
    size_t nb, n; /* nb: a power of two */
};

/* One callback of a put, in its item's list (put order) and, until it runs or is forgotten,
 * in the tickets table. */
struct cbrec {
    struct hnode hn; /* hash = ticket */
    as_writer_cb done;
    void *arg;
    struct cbrec *next;
};

/* One write: in the paths table while queued (a later put to the path replaces its data),
 * then in progress on the thread, then in the done list until the loop reports it. */
struct item {
    struct hnode hn;  /* hash of path */
    char *path, *tmp; /* one allocation: "PATH\0PATH.tmp\0" */
    char *data;
    size_t len;
    int durable;
    struct item *prev, *next;
    struct cbrec *cbs, **cbs_tail;
    int ok;
    char *error; /* set by the thread on failure; NULL then means out of memory */
};

struct queue {
    struct item *head, *tail;
};

struct as_writer {
    struct as_loop *loop;
    int efd;
    pthread_t thread;
    pthread_mutex_t mu;    /* guards everything below but the counters */
    pthread_cond_t work;   /* the thread waits: something to write, hold released, stop */
    pthread_cond_t finish; /* flush waits: a write finished */
    struct queue durable, normal, done;
    struct item *busy; /* in progress on the thread */
    struct htab paths, tickets;
    uint64_t next_ticket;
    int hold, stop;
    int depth; /* inside a callback or the error hook */
    as_writer_error_fn on_error;
    void *on_error_arg;
    atomic_size_t pending;
    atomic_uint_least64_t puts, coalesced, written, failed;
};

static struct as_writer_sys sys = {write, fsync};

void as_writer_sys_set(const struct as_writer_sys *s)
{
    sys.write = s && s->write ? s->write : write;
    sys.fsync = s && s->fsync ? s->fsync : fsync;
}

/* ---- the tables and queues (under the mutex) ---- */

static int htab_init(struct htab *t)
{
    t->nb = 64;
    t->n = 0;
    t->b = calloc(t->nb, sizeof(*t->b));
    return t->b ? 0 : -1;
}

/* Doubles the buckets when full; on ENOMEM the chains just grow longer. */
static void htab_add(struct htab *t, struct hnode *n)
{
    if (t->n >= t->nb) {
        struct hnode **b = calloc(t->nb * 2, sizeof(*b));
        if (b != NULL) {
            for (size_t i = 0; i < t->nb; i++)
                for (struct hnode *x = t->b[i], *next; x; x = next) {
                    next = x->next;
                    x->next = b[x->hash & (t->nb * 2 - 1)];
                    b[x->hash & (t->nb * 2 - 1)] = x;
                }
            free(t->b);
            t->b = b;
            t->nb *= 2;
        }
    }
    struct hnode **head = &t->b[n->hash & (t->nb - 1)];
    n->next = *head;
    *head = n;
    t->n++;
}

static void htab_del(struct htab *t, struct hnode *n)
{
    for (struct hnode **p = &t->b[n->hash & (t->nb - 1)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            t->n--;
            return;
        }
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = as_fnv1a(AS_FNV_BASIS, s, strlen(s));
    return h ^ (h >> 29);
}

static struct item *path_find(struct as_writer *w, const char *path, uint64_t h)
{
    for (struct hnode *n = w->paths.b[h & (w->paths.nb - 1)]; n; n = n->next)
        if (n->hash == h && strcmp(((struct item *)n)->path, path) == 0)
            return (struct item *)n;
    return NULL;
}

static struct cbrec *ticket_find(struct as_writer *w, uint64_t ticket)
{
    for (struct hnode *n = w->tickets.b[ticket & (w->tickets.nb - 1)]; n; n = n->next)
        if (n->hash == ticket)
            return (struct cbrec *)n;
    return NULL;
}

static void queue_push(struct queue *q, struct item *it)
{
    it->next = NULL;
    it->prev = q->tail;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}

static void queue_remove(struct queue *q, struct item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    it->prev = it->next = NULL;
}

static struct item *queue_pop(struct queue *q)
{
    struct item *it = q->head;
    if (it)
        queue_remove(q, it);
    return it;
}

static struct item *item_new(const char *path, uint64_t h)
{
    size_t n = strlen(path);
    struct item *it = calloc(1, sizeof(*it));
    char *names = malloc(2 * n + 6);
    if (it == NULL || names == NULL) {
        free(it);
        free(names);
        return NULL;
    }
    memcpy(names, path, n + 1);
    memcpy(names + n + 1, path, n);
    memcpy(names + 2 * n + 1, ".tmp", 5);
    it->path = names;
    it->tmp = names + n + 1;
    it->hn.hash = h;
    it->cbs_tail = &it->cbs;
    return it;
}

static void item_free(struct item *it)
{
    for (struct cbrec *c = it->cbs, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(it->path);
    free(it->data);
    free(it->error);
    free(it);
}

/* ---- the writer thread: one write, no lock held ---- */

/* Records why the write failed (the message is built here, the loop logs it). Returns -1. */
static int fail(struct item *it, const char *what, const char *file, int e)
{
    char cause[128];
    if (strerror_r(e, cause, sizeof(cause)) != 0)
        snprintf(cause, sizeof(cause), "error %d", e);
    size_t n = strlen(what) + strlen(file) + strlen(cause) + 4;
    free(it->error);
    it->error = malloc(n);
    if (it->error != NULL)
        snprintf(it->error, n, "%s %s: %s", what, file, cause);
    it->ok = 0;
    return -1;
}

/* The directory part of path into buf ("." when none). Returns 0, or -1 with errno. */
static int dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (n == 0)
        memcpy(buf, ".", 2);
    else {
        memcpy(buf, path, n);
        buf[n] = '\0';
    }
    return 0;
}

/* mkdir -p dir, mode 0750. Returns 0, or -1 with errno. */
static int mkdirs(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(dir, 0750);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(dir, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

/* A new file: whatever was left at that name (a crash's leftover, or a symbolic or hard link
 * planted there) is unlinked, never followed or truncated. */
static int open_retry(const char *file)
{
    int fd;
    unlink(file); /* ENOENT as a rule; any other failure makes the open fail */
    do
        fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/* Creates PATH.tmp, and the directory first when it is missing. */
static int open_tmp(struct item *it)
{
    char dir[PATH_MAX];
    int fd = open_retry(it->tmp);
    if (fd < 0 && errno == ENOENT) {
        if (dir_of(it->path, dir, sizeof(dir)) < 0 || mkdirs(dir) < 0)
            return fail(it, "cannot create the directory of", it->path, errno);
        fd = open_retry(it->tmp);
    }
    return fd < 0 ? fail(it, "cannot create", it->tmp, errno) : fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = sys.write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0) { /* no progress on a regular file: do not spin */
            errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int sync_fd(int fd)
{
    int rc;
    do
        rc = sys.fsync(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* Makes the rename itself durable. */
static int sync_dir(struct item *it)
{
    char dir[PATH_MAX];
    if (dir_of(it->path, dir, sizeof(dir)) < 0)
        return fail(it, "cannot sync the directory of", it->path, errno);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || sync_fd(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail(it, "cannot sync directory", dir, e);
    }
    close(fd);
    return 0;
}

static void write_item(struct item *it)
{
    it->ok = 1;
    int fd = open_tmp(it);
    if (fd < 0)
        return;
    if (write_all(fd, it->data, it->len) < 0 || (it->durable && sync_fd(fd) < 0)) {
        fail(it, "cannot write", it->tmp, errno);
        close(fd);
        unlink(it->tmp);
        return;
    }
    /* Linux closes the descriptor even when close reports EINTR: never retry it. */
    if (close(fd) < 0 && errno != EINTR) {
        fail(it, "cannot write", it->tmp, errno);
        unlink(it->tmp);
        return;
    }
    if (rename(it->tmp, it->path) < 0) {
        fail(it, "cannot rename over", it->path, errno);
        unlink(it->tmp);
        return;
    }
    if (it->durable)
        sync_dir(it);
}

/* Next write to start (durable first), or NULL when none may start. Under the mutex. */
static struct item *next_item(struct as_writer *w)
{
    if (w->hold)
        return NULL;
    struct item *it = queue_pop(&w->durable);
    if (it == NULL)
        it = queue_pop(&w->normal);
    if (it != NULL)
        htab_del(&w->paths, &it->hn); /* from now on a put to its path queues a new write */
    return it;
}

static void *thread_main(void *arg)
{
    struct as_writer *w = arg; /* every signal blocked: see as_writer_new */
    as_thread_background(5);   /* the loop first; a durable write still waits only on disk */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct item *it = next_item(w);
        if (it == NULL) {
            if (w->stop)
                break;
            pthread_cond_wait(&w->work, &w->mu);
            continue;
        }
        w->busy = it;
        pthread_mutex_unlock(&w->mu);
        write_item(it);
        pthread_mutex_lock(&w->mu);
        w->busy = NULL;
        atomic_fetch_add(it->ok ? &w->written : &w->failed, 1);
        atomic_fetch_sub(&w->pending, 1);
        int wake = w->done.head == NULL; /* else the loop has not drained it yet */
        queue_push(&w->done, it);
        pthread_cond_broadcast(&w->finish);
        if (wake) { /* outside the lock: the loop never waits for a system call of ours */
            pthread_mutex_unlock(&w->mu);
            uint64_t one = 1;
            ssize_t rc = write(w->efd, &one, sizeof(one)); /* never blocks: a counter */
            (void)rc;
            pthread_mutex_lock(&w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the loop side ---- */

/* Reports one finished write: the error hook, then the callbacks in put order. */
static void deliver_item(struct as_writer *w, struct item *it)
{
    const char *err = it->ok ? NULL : it->error ? it->error : "out of memory";
    w->depth++;
    pthread_mutex_lock(&w->mu);
    as_writer_error_fn hook = w->on_error;
    void *hook_arg = w->on_error_arg;
    pthread_mutex_unlock(&w->mu);
    if (!it->ok && hook != NULL)
        hook(it->path, err, hook_arg);
    for (;;) {
        pthread_mutex_lock(&w->mu); /* a callback may forget the tickets that follow */
        struct cbrec *c = it->cbs;
        if (c != NULL) {
            it->cbs = c->next;
            if (c->done != NULL)
                htab_del(&w->tickets, &c->hn);
        }
        pthread_mutex_unlock(&w->mu);
        if (c == NULL)
            break;
        if (c->done != NULL)
            c->done(it->ok, err, c->arg);
        free(c);
    }
    w->depth--;
    item_free(it);
}

static void deliver_all(struct as_writer *w)
{
    for (;;) {
        pthread_mutex_lock(&w->mu);
        struct item *it = queue_pop(&w->done);
        pthread_mutex_unlock(&w->mu);
        if (it == NULL)
            return;
        deliver_item(w, it);
    }
}

static void on_wake(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    uint64_t n;
    ssize_t rc = read(fd, &n, sizeof(n)); /* resets the counter; EAGAIN when already read */
    (void)rc;
    deliver_all(arg);
}

static void writer_destroy(struct as_writer *w)
{
    if (w->efd >= 0) {
        as_loop_watch_fd(w->loop, w->efd, 0, NULL, NULL);
        close(w->efd);
    }
    pthread_cond_destroy(&w->finish);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->mu);
    free(w->paths.b);
    free(w->tickets.b);
    free(w);
}

struct as_writer *as_writer_new(struct as_loop *loop)
{
    struct as_writer *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->loop = loop;
    w->next_ticket = 1;
    w->efd = -1;
    if (pthread_mutex_init(&w->mu, NULL) != 0 || pthread_cond_init(&w->work, NULL) != 0 ||
        pthread_cond_init(&w->finish, NULL) != 0 || htab_init(&w->paths) < 0 ||
        htab_init(&w->tickets) < 0)
        goto fail;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0)
        goto fail;
    if (as_loop_watch_fd(loop, w->efd, AS_READ, on_wake, w) < 0) {
        close(w->efd);
        w->efd = -1;
        goto fail;
    }
    /* The thread starts with every signal blocked: none is ever delivered to it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, thread_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    return w;
fail:
    writer_destroy(w);
    return NULL;
}

uint64_t as_writer_put(struct as_writer *w, const char *path, char *data, size_t len, int durable,
                       as_writer_cb done, void *arg)
{
    assert(w != NULL && path != NULL && path[0] != '\0' && (data != NULL || len == 0));
    uint64_t h = hash_str(path), ticket = 0;
    struct cbrec *c = NULL;
    if (done != NULL && (c = calloc(1, sizeof(*c))) == NULL)
        goto out;
    pthread_mutex_lock(&w->mu);
    struct item *it = path_find(w, path, h);
    if (it == NULL) {
        if ((it = item_new(path, h)) == NULL) {
            pthread_mutex_unlock(&w->mu);
            goto out;
        }
        htab_add(&w->paths, &it->hn);
        queue_push(durable ? &w->durable : &w->normal, it);
        atomic_fetch_add(&w->pending, 1);
    } else {
        free(it->data);
        atomic_fetch_add(&w->coalesced, 1);
        if (durable && !it->durable) { /* jumps ahead with the other durable writes */
            queue_remove(&w->normal, it);
            queue_push(&w->durable, it);
        }
    }
    it->data = data;
    it->len = len;
    it->durable |= durable != 0;
    data = NULL;
    ticket = w->next_ticket++;
    if (c != NULL) {
        c->hn.hash = ticket;
        c->done = done;
        c->arg = arg;
        htab_add(&w->tickets, &c->hn);
        *it->cbs_tail = c;
        it->cbs_tail = &c->next;
        c = NULL;
    }
    atomic_fetch_add(&w->puts, 1);
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
out:
    free(c);
    free(data);
    return ticket;
}

void *as_writer_forget(struct as_writer *w, uint64_t ticket)
{
    void *arg = NULL;
    pthread_mutex_lock(&w->mu);
    struct cbrec *c = ticket ? ticket_find(w, ticket) : NULL;
    if (c != NULL) {
        htab_del(&w->tickets, &c->hn);
        c->done = NULL; /* the record is freed when its write is reported */
        arg = c->arg;
    }
    pthread_mutex_unlock(&w->mu);
    return arg;
}

void as_writer_on_error(struct as_writer *w, as_writer_error_fn fn, void *arg)
{
    pthread_mutex_lock(&w->mu);
    w->on_error = fn;
    w->on_error_arg = arg;
    pthread_mutex_unlock(&w->mu);
}

void as_writer_hold(struct as_writer *w, int hold)
{
    pthread_mutex_lock(&w->mu);
    w->hold = hold;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

void as_writer_flush(struct as_writer *w)
{
    assert(w->depth == 0); /* not from a callback: it would wait for itself */
    pthread_mutex_lock(&w->mu);
    w->hold = 0;
    pthread_cond_signal(&w->work);
    for (;;) {
        if (w->done.head != NULL) {
            pthread_mutex_unlock(&w->mu);
            deliver_all(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        if (w->durable.head == NULL && w->normal.head == NULL && w->busy == NULL)
            break;
        pthread_cond_wait(&w->finish, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

void as_writer_free(struct as_writer *w)
{
    if (w == NULL)
        return;
    as_writer_flush(w);
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    writer_destroy(w);
}

size_t as_writer_pending(const struct as_writer *w)
{
    return atomic_load(&w->pending);
}

void as_writer_stats(const struct as_writer *w, struct as_writer_stats *out)
{
    out->puts = atomic_load(&w->puts);
    out->coalesced = atomic_load(&w->coalesced);
    out->written = atomic_load(&w->written);
    out->failed = atomic_load(&w->failed);
    out->pending = atomic_load(&w->pending);
}
