/* A scripted HTTP server on 127.0.0.1 for the tests of util/h1 and util/http_plain: a
 * thread per connection answers every request (read up to its empty line) with the same
 * reply, a byte at a time so that every split of it is tried; it counts connections and
 * requests and keeps the last request's head. Include once, from the test file;
 * sv_start and sv_stop are the group's setup and teardown. */
#ifndef AS_TEST_SCRIPT_SERVER_H
#define AS_TEST_SCRIPT_SERVER_H

static struct {
    pthread_mutex_t mu;
    const char *reply; /* sent for each request */
    int close_after;   /* close the connection after each reply */
    int silent;        /* never reply */
    int conns, requests;
    int lfd, port, stop;
    char last[2048]; /* the last request's head */
} sv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        have = 0;
        pthread_mutex_lock(&sv.mu);
        sv.requests++;
        snprintf(sv.last, sizeof(sv.last), "%.*s", (int)(end + 4 - buf), buf);
        const char *reply = sv.reply;
        int close_after = sv.close_after, silent = sv.silent;
        pthread_mutex_unlock(&sv.mu);
        if (silent)
            continue;
        for (const char *p = reply; *p; p++) /* a byte at a time: every split is tried */
            if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
                break;
        if (close_after)
            break;
    }
    close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(sv.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&sv.mu);
        int stop = sv.stop;
        sv.conns++;
        pthread_mutex_unlock(&sv.mu);
        if (stop) {
            close(fd);
            return NULL;
        }
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static pthread_t acc;

static int sv_start(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    sv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (sv.lfd < 0 || bind(sv.lfd, (struct sockaddr *)&sin, len) < 0 || listen(sv.lfd, 16) < 0 ||
        getsockname(sv.lfd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    sv.port = ntohs(sin.sin_port);
    return pthread_create(&acc, NULL, acceptor, NULL);
}

static int sv_stop(void **state)
{
    (void)state;
    pthread_mutex_lock(&sv.mu);
    sv.stop = 1;
    pthread_mutex_unlock(&sv.mu);
    shutdown(sv.lfd, SHUT_RDWR);
    close(sv.lfd);
    pthread_join(acc, NULL);
    return 0;
}

static void script(const char *reply, int close_after, int silent)
{
    pthread_mutex_lock(&sv.mu);
    sv.reply = reply;
    sv.close_after = close_after;
    sv.silent = silent;
    sv.conns = sv.requests = 0;
    pthread_mutex_unlock(&sv.mu);
}

/* The last request's head, copied into out. */
__attribute__((unused)) static void sv_last(char *out, size_t len)
{
    pthread_mutex_lock(&sv.mu);
    snprintf(out, len, "%s", sv.last);
    pthread_mutex_unlock(&sv.mu);
}

static int sv_get(const int *f)
{
    pthread_mutex_lock(&sv.mu);
    int n = *f;
    pthread_mutex_unlock(&sv.mu);
    return n;
}

#endif
