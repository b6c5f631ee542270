#include "util/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/util.h"

struct as_timer {
    int64_t when;
    uint64_t seq; /* FIFO order among equal deadlines */
    size_t index; /* position in the heap */
    as_timer_fn fn;
    void *arg;
    int cancelled;
};

#define SIGNAL_EVENT UINT64_MAX /* epoll data of the signalfd (no fd_watch has it) */

struct fd_watch {
    int fd, events;
    uint32_t gen; /* this registration's number, carried in its epoll events */
    as_fd_fn fn;
    void *arg;
};

struct child_watch {
    pid_t pid;
    as_child_fn fn;
    void *arg;
};

struct as_loop {
    int epfd, sigfd;
    int stop;
    int64_t now;
    uint64_t seq;
    uint32_t fd_gen; /* the last fd_watch.gen given */
    struct as_timer **heap;
    size_t nheap, capheap;
    struct fd_watch *fds; /* indexed by fd */
    size_t capfds;
    struct child_watch *children;
    size_t nchildren, capchildren;
    as_signal_fn sig_fn[65];
    void *sig_arg[65];
    struct as_timer *firing;
};

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};

static void blocked_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < AS_ARRAY_LEN(handled_signals); i++)
        sigaddset(set, handled_signals[i]);
}

void as_loop_child_sigmask(void *out)
{
    sigemptyset((sigset_t *)out);
}

struct as_loop *as_loop_new(void)
{
    struct as_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    sigset_t set;
    blocked_set(&set);
    signal(SIGPIPE, SIG_IGN);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        goto fail;
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SIGNAL_EVENT};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->sigfd, &ev) < 0)
        goto fail;
    loop->now = as_mono_ms();
    return loop;
fail:
    if (loop->epfd > 0)
        close(loop->epfd);
    free(loop);
    return NULL;
}

void as_loop_free(struct as_loop *loop)
{
    if (loop == NULL)
        return;
    for (size_t i = 0; i < loop->nheap; i++)
        free(loop->heap[i]);
    free(loop->heap);
    free(loop->fds);
    free(loop->children);
    close(loop->sigfd);
    close(loop->epfd);
    free(loop);
}

int64_t as_loop_now(const struct as_loop *loop)
{
    return loop->now;
}

void as_loop_stop(struct as_loop *loop)
{
    loop->stop = 1;
}

/* ---- timer heap ---- */

static int before(const struct as_timer *a, const struct as_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_set(struct as_loop *loop, size_t i, struct as_timer *t)
{
    loop->heap[i] = t;
    t->index = i;
}

static void sift_up(struct as_loop *loop, size_t i)
{
    struct as_timer *t = loop->heap[i];
    while (i > 0 && before(t, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct as_loop *loop, size_t i)
{
    struct as_timer *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->nheap)
            break;
        if (c + 1 < loop->nheap && before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!before(loop->heap[c], t))
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

static int heap_push(struct as_loop *loop, struct as_timer *t)
{
    /* A timer that is firing is out of the heap and goes back in when its callback returns:
     * keep its slot, so that re-inserting it never needs memory (it cannot fail and free a
     * timer whose owner still holds the handle). */
    if (loop->nheap + 1 + (loop->firing != NULL) > loop->capheap) {
        size_t cap = loop->capheap ? loop->capheap * 2 : 16;
        struct as_timer **h = realloc(loop->heap, cap * sizeof(*h));
        if (h == NULL)
            return -1;
        loop->heap = h;
        loop->capheap = cap;
    }
    t->seq = loop->seq++;
    heap_set(loop, loop->nheap++, t);
    sift_up(loop, loop->nheap - 1);
    return 0;
}

static void heap_remove(struct as_loop *loop, struct as_timer *t)
{
    size_t i = t->index;
    struct as_timer *last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    heap_set(loop, i, last);
    sift_down(loop, i);
    sift_up(loop, last->index);
}

struct as_timer *as_loop_add_timer(struct as_loop *loop, int64_t delay_ms, as_timer_fn fn,
                                   void *arg)
{
    struct as_timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->when = loop->now + (delay_ms > 0 ? delay_ms : 0);
    t->fn = fn;
    t->arg = arg;
    if (heap_push(loop, t) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void as_loop_cancel_timer(struct as_loop *loop, struct as_timer *t)
{
    if (t == NULL)
        return;
    if (t == loop->firing) {
        t->cancelled = 1;
        return;
    }
    heap_remove(loop, t);
    free(t);
}

void *as_loop_timer_arg(const struct as_timer *t)
{
    return t->arg;
}

int64_t as_loop_timer_lateness(const struct as_loop *loop)
{
    const struct as_timer *t = loop->firing;
    return t != NULL && loop->now > t->when ? loop->now - t->when : 0;
}

static void run_timers(struct as_loop *loop)
{
    /* Only timers due at the start of this pass run, so a 0 ms timer cannot starve I/O. */
    int64_t now = loop->now;
    uint64_t seq_limit = loop->seq;
    while (loop->nheap > 0 && loop->heap[0]->when <= now && loop->heap[0]->seq < seq_limit) {
        struct as_timer *t = loop->heap[0];
        heap_remove(loop, t);
        loop->firing = t;
        int64_t next = t->fn(loop, t->arg);
        loop->firing = NULL;
        if (next < 0 || t->cancelled) {
            free(t);
            continue;
        }
        t->when = loop->now + next;
        if (heap_push(loop, t) < 0) {
            AS_LOG(AS_ERROR, "loop: out of memory rescheduling a timer");
            free(t);
        }
    }
}

/* ---- file descriptors ---- */

int as_loop_watch_fd(struct as_loop *loop, int fd, int events, as_fd_fn fn, void *arg)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= loop->capfds) {
        size_t cap = loop->capfds ? loop->capfds : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct fd_watch *w = realloc(loop->fds, cap * sizeof(*w));
        if (w == NULL)
            return -1;
        memset(w + loop->capfds, 0, (cap - loop->capfds) * sizeof(*w));
        loop->fds = w;
        loop->capfds = cap;
    }
    struct fd_watch *w = &loop->fds[fd];
    int op = events == 0 ? EPOLL_CTL_DEL : w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (events == 0 && w->events == 0)
        return 0;
    /* A new watcher of the number (a new registration, or another owner) gets a new
     * generation: an event already queued for the old descriptor in this batch of epoll_wait
     * then never reaches it. */
    uint32_t gen = w->gen;
    if (op == EPOLL_CTL_ADD || w->fn != fn || w->arg != arg)
        gen = ++loop->fd_gen;
    struct epoll_event ev = {.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd};
    ev.events = ((events & AS_READ) ? EPOLLIN : 0u) | ((events & AS_WRITE) ? EPOLLOUT : 0u);
    /* A descriptor closed while watched left the epoll set by itself, and its number may have
     * been reused since: our table can be stale in either direction. */
    int rc = epoll_ctl(loop->epfd, op, fd, &ev);
    if (rc < 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
        gen = ++loop->fd_gen; /* the old descriptor is gone: this is a new one */
        ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
        rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
    } else if (rc < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0 && !(op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)))
        return -1;
    *w = (struct fd_watch){.fd = fd, .events = events, .gen = gen, .fn = fn, .arg = arg};
    return 0;
}

/* ---- signals and children ---- */

int as_loop_on_signal(struct as_loop *loop, int signo, as_signal_fn fn, void *arg)
{
    if (signo <= 0 || signo > 64 || signo == SIGCHLD)
        return -1;
    loop->sig_fn[signo] = fn;
    loop->sig_arg[signo] = arg;
    return 0;
}

int as_loop_watch_child(struct as_loop *loop, pid_t pid, as_child_fn fn, void *arg)
{
    if (loop->nchildren == loop->capchildren) {
        size_t cap = loop->capchildren ? loop->capchildren * 2 : 16;
        struct child_watch *c = realloc(loop->children, cap * sizeof(*c));
        if (c == NULL)
            return -1;
        loop->children = c;
        loop->capchildren = cap;
    }
    loop->children[loop->nchildren++] = (struct child_watch){pid, fn, arg};
    return 0;
}

void as_loop_unwatch_child(struct as_loop *loop, pid_t pid)
{
    for (size_t i = 0; i < loop->nchildren; i++)
        if (loop->children[i].pid == pid) {
            loop->children[i] = loop->children[--loop->nchildren];
            return;
        }
}

static void reap_children(struct as_loop *loop)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < loop->nchildren; i++) {
            if (loop->children[i].pid != pid)
                continue;
            struct child_watch w = loop->children[i];
            loop->children[i] = loop->children[--loop->nchildren];
            w.fn(loop, pid, status, w.arg);
            break;
        }
    }
}

static void read_signals(struct as_loop *loop)
{
    struct signalfd_siginfo si;
    int chld = 0;
    while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int s = (int)si.ssi_signo;
        if (s == SIGCHLD)
            chld = 1;
        else if (s > 0 && s <= 64 && loop->sig_fn[s])
            loop->sig_fn[s](loop, s, loop->sig_arg[s]);
    }
    if (chld)
        reap_children(loop);
}

/* ---- the loop ---- */

void as_loop_once(struct as_loop *loop, int64_t max_wait_ms)
{
    loop->now = as_mono_ms();
    int64_t wait = max_wait_ms;
    if (loop->nheap > 0) {
        int64_t due = loop->heap[0]->when - loop->now;
        if (due < wait || wait < 0)
            wait = due < 0 ? 0 : due;
    }
    struct epoll_event evs[64];
    int n = epoll_wait(loop->epfd, evs, 64, wait > 2000000000 ? 2000000000 : (int)wait);
    loop->now = as_mono_ms();
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == SIGNAL_EVENT) {
            read_signals(loop);
            continue;
        }
        int fd = (int)(uint32_t)evs[i].data.u64;
        uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
        if ((size_t)fd >= loop->capfds || loop->fds[fd].events == 0 || loop->fds[fd].gen != gen)
            continue; /* removed, or the number reused, by an earlier callback in this batch */
        struct fd_watch w = loop->fds[fd];
        int got = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            got |= AS_READ;
        if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            got |= AS_WRITE;
        w.fn(loop, fd, got, w.arg);
    }
    run_timers(loop);
}

int as_loop_run(struct as_loop *loop)
{
    loop->stop = 0;
    while (!loop->stop)
        as_loop_once(loop, -1);
    return 0;
}
