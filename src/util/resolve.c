/* Threaded name resolution (resolve.h). The loop side and the thread share one block,
 * reference-counted: the last to let go closes the eventfd and frees it, so the thread never
 * writes to a descriptor number that was closed and reused. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/resolve.h"

struct as_resolve {
    pthread_mutex_t mu;
    int refs; /* the loop side and the thread */
    int efd;
    struct as_loop *loop;
    as_resolve_cb cb;
    void *arg;
    char host[254];
    /* the answer, written by the thread under mu */
    char addr[AS_RESOLVE_ADDR_MAX];
    char error[128];
};

int as_resolve_is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void release(struct as_resolve *r)
{
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left > 0)
        return;
    close(r->efd);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* The first IPv4 address of list, else its first IPv6 one, into out. Returns 0 or -1. */
static int pick(const struct addrinfo *list, char *out, size_t len)
{
    for (int family = AF_INET; family != 0; family = family == AF_INET ? AF_INET6 : 0)
        for (const struct addrinfo *a = list; a; a = a->ai_next) {
            if (a->ai_family != family)
                continue;
            const void *ip =
                family == AF_INET
                    ? (const void *)&((const struct sockaddr_in *)a->ai_addr)->sin_addr
                    : (const void *)&((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
            if (inet_ntop(family, ip, out, (socklen_t)len) != NULL)
                return 0;
        }
    return -1;
}

static void *resolver_main(void *arg)
{
    struct as_resolve *r = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    char addr[AS_RESOLVE_ADDR_MAX] = "";
    int rc = getaddrinfo(r->host, NULL, &hints, &list);
    if (rc == 0 && pick(list, addr, sizeof(addr)) < 0)
        rc = EAI_NONAME;
    if (list)
        freeaddrinfo(list);
    pthread_mutex_lock(&r->mu);
    memcpy(r->addr, addr, sizeof(addr));
    if (rc != 0)
        strncpy(r->error, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc),
                sizeof(r->error) - 1);
    pthread_mutex_unlock(&r->mu);
    uint64_t one = 1;
    ssize_t n = write(r->efd, &one, sizeof(one));
    (void)n; /* an eventfd write of 1 cannot fail here */
    release(r);
    return NULL;
}

static void on_done(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct as_resolve *r = arg;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        return; /* not yet */
    as_loop_watch_fd(loop, fd, 0, NULL, NULL);
    char addr[AS_RESOLVE_ADDR_MAX], error[128];
    pthread_mutex_lock(&r->mu);
    memcpy(addr, r->addr, sizeof(addr));
    memcpy(error, r->error, sizeof(error));
    pthread_mutex_unlock(&r->mu);
    as_resolve_cb cb = r->cb;
    void *cb_arg = r->arg;
    release(r); /* before cb, which may start another resolution */
    cb(addr[0] ? addr : NULL, addr[0] ? NULL : error, cb_arg);
}

static int spawn(struct as_resolve *r)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, resolver_main, r);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        errno = rc;
    return rc == 0 ? 0 : -1;
}

struct as_resolve *as_resolve_start(struct as_loop *loop, const char *host, as_resolve_cb cb,
                                    void *arg)
{
    if (strlen(host) >= sizeof(((struct as_resolve *)0)->host)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    struct as_resolve *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->refs = 2;
    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0 || pthread_mutex_init(&r->mu, NULL) != 0) {
        int saved = r->efd < 0 ? errno : ENOMEM;
        if (r->efd >= 0)
            close(r->efd);
        free(r);
        errno = saved;
        return NULL;
    }
    strcpy(r->host, host);
    if (as_loop_watch_fd(loop, r->efd, AS_READ, on_done, r) < 0) {
        r->refs = 1;
        release(r);
        errno = ENOMEM;
        return NULL;
    }
    if (spawn(r) < 0) {
        int saved = errno;
        as_loop_watch_fd(loop, r->efd, 0, NULL, NULL);
        r->refs = 1;
        release(r);
        errno = saved;
        return NULL;
    }
    return r;
}

void as_resolve_cancel(struct as_resolve *r)
{
    if (r == NULL)
        return;
    as_loop_watch_fd(r->loop, r->efd, 0, NULL, NULL);
    release(r);
}
