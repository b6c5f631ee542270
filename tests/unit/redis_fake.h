/* A scripted Redis server on 127.0.0.1 for the redis tests, driven by the test's own loop:
 * it accepts connections, parses the commands the client sends (RESP arrays of bulk strings)
 * and answers each through a handler that writes raw RESP bytes, so a test can send anything,
 * well-formed or not. Header-only. */
#ifndef AS_TEST_REDIS_FAKE_H
#define AS_TEST_REDIS_FAKE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/loop.h"

#define FAKE_CONNS 16
#define FAKE_ARGS 16

struct fake;

/* Answers one command: appends reply bytes with fake_reply(), or nothing (no answer). */
typedef void (*fake_handler)(struct fake *f, int argc, char **argv);

struct fake_conn {
    struct fake *f;
    int fd; /* -1: closed */
    char in[1 << 16];
    size_t inlen;
};

struct fake {
    struct as_loop *loop;
    int lfd, port;
    struct fake_conn conns[FAKE_CONNS];
    struct fake_conn *cur; /* the connection of the command being answered */
    fake_handler handler;
    void *data;      /* for the handler */
    int accepts;     /* connections accepted */
    int commands;    /* commands received */
    int close_after; /* close the connection after answering (once) */
    char seen[4096]; /* the commands received, "AUTH pw|SELECT 3|LLEN a|" */
};

static void fake_reply(struct fake *f, const char *bytes, size_t len)
{
    if (f->cur == NULL || f->cur->fd < 0)
        return;
    while (len > 0) {
        ssize_t n = send(f->cur->fd, bytes, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* a test's replies are small: the socket buffer takes them */
        bytes += n;
        len -= (size_t)n;
    }
}

static void fake_replys(struct fake *f, const char *s)
{
    fake_reply(f, s, strlen(s));
}

static void fake_close(struct fake *f, struct fake_conn *c)
{
    if (c->fd < 0)
        return;
    as_loop_watch_fd(f->loop, c->fd, 0, NULL, NULL);
    close(c->fd);
    c->fd = -1;
    c->inlen = 0;
}

/* Parses one "*N\r\n$L\r\n...\r\n" command at buf; returns bytes used, 0 if incomplete. */
static size_t fake_parse(char *buf, size_t len, int *argc, char **argv)
{
    char *end = buf + len, *p = buf;
    if (len < 4 || *p != '*')
        return 0;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return 0;
    int n = atoi(p + 1);
    p = nl + 1;
    *argc = 0;
    for (int i = 0; i < n; i++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || *p != '$')
            return 0;
        size_t l = (size_t)atol(p + 1);
        p = nl + 1;
        if ((size_t)(end - p) < l + 2)
            return 0;
        if (*argc < FAKE_ARGS)
            argv[(*argc)++] = p;
        p[l] = '\0'; /* over the \r */
        p += l + 2;
    }
    return (size_t)(p - buf);
}

static void fake_on_conn(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    (void)fd;
    struct fake_conn *c = arg;
    struct fake *f = c->f;
    ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
    if (n <= 0) {
        fake_close(f, c);
        return;
    }
    c->inlen += (size_t)n;
    for (;;) {
        int argc;
        char *argv[FAKE_ARGS];
        size_t used = fake_parse(c->in, c->inlen, &argc, argv);
        if (used == 0)
            break;
        f->commands++;
        for (int i = 0; i < argc; i++) {
            strncat(f->seen, argv[i], sizeof(f->seen) - strlen(f->seen) - 1);
            strncat(f->seen, i + 1 < argc ? " " : "|", sizeof(f->seen) - strlen(f->seen) - 1);
        }
        f->cur = c;
        if (f->handler)
            f->handler(f, argc, argv);
        f->cur = NULL;
        if (c->fd < 0)
            return;
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        if (f->close_after) {
            f->close_after = 0;
            fake_close(f, c);
            return;
        }
    }
}

static void fake_on_accept(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    struct fake *f = arg;
    int cfd = accept(fd, NULL, NULL);
    if (cfd < 0)
        return;
    for (int i = 0; i < FAKE_CONNS; i++)
        if (f->conns[i].fd < 0) {
            f->conns[i].fd = cfd;
            f->conns[i].inlen = 0;
            f->accepts++;
            as_loop_watch_fd(loop, cfd, AS_READ, fake_on_conn, &f->conns[i]);
            return;
        }
    close(cfd);
}

/* Listens on 127.0.0.1 (a free port, in f->port). Returns 0 or -1. */
static int fake_start(struct fake *f, struct as_loop *loop, fake_handler handler)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->handler = handler;
    for (int i = 0; i < FAKE_CONNS; i++) {
        f->conns[i].fd = -1;
        f->conns[i].f = f;
    }
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(f->lfd, 16) < 0 || getsockname(f->lfd, (struct sockaddr *)&a, &alen) < 0)
        return -1;
    f->port = ntohs(a.sin_port);
    return as_loop_watch_fd(loop, f->lfd, AS_READ, fake_on_accept, f);
}

/* Closes every connection and the listener. */
static void fake_stop(struct fake *f)
{
    if (f->loop == NULL)
        return; /* never started */
    for (int i = 0; i < FAKE_CONNS; i++)
        fake_close(f, &f->conns[i]);
    if (f->lfd >= 0) {
        as_loop_watch_fd(f->loop, f->lfd, 0, NULL, NULL);
        close(f->lfd);
        f->lfd = -1;
    }
}

/* Open connections. */
static int fake_open(const struct fake *f)
{
    int n = 0;
    for (int i = 0; i < FAKE_CONNS; i++)
        n += f->conns[i].fd >= 0;
    return n;
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    return ntohs(a.sin_port);
}

#endif
