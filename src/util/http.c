#include "util/http.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "util/http_plain.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/util.h"

#define LANE_BUCKETS 256
#define HOST_BUCKETS 64
/* Easy handles kept for reuse (a load test makes thousands of calls a second). */
#define IDLE_EASY_MAX 256

/* Every owner's calls to one origin: how many are in curl, and the lanes whose oldest call
 * waits for one of them to end, in the order of their turns. */
struct host {
    struct host *next; /* hash chain */
    unsigned hash;
    size_t running;
    size_t lanes;              /* lanes to this origin: the last one to go frees the host */
    struct lane *first, *last; /* lanes waiting for their turn */
    size_t nturns;             /* ... and how many */
    char origin[];             /* scheme://host:port */
};

/* One owner's calls to one origin: how many are in curl, and the FIFO of those waiting. */
struct lane {
    struct lane *next; /* hash chain */
    char *owner;       /* NULL: the anonymous owner */
    struct host *host; /* of its origin */
    unsigned hash;
    size_t running;
    struct as_http_call *head, *tail;
    int in_turn;                        /* in its host's turns: its head waits for the host */
    struct lane *prev_turn, *next_turn; /* ... and its neighbours there */
};

struct as_http {
    struct as_loop *loop;
    CURLM *multi;
    struct as_timer *timer; /* curl's own timer */
    struct as_plain *plain; /* plain http GETs without curl (util/http_plain.h) */
    int plain_on;
    size_t active;
    long total_max;
    size_t host_max;                  /* calls in curl per origin, all owners together */
    uint64_t host_waits;              /* calls that waited for their origin's bound */
    uint64_t plain_calls, curl_calls; /* started */
    struct lane *lanes[LANE_BUCKETS];
    struct host *hosts[HOST_BUCKETS];
    CURL *idle[IDLE_EASY_MAX]; /* reset easy handles, ready for the next call */
    size_t nidle;
    /* The origin of the last URL parsed, by the text up to the end of its authority. */
    char *origin_key, *origin;
};

enum call_state { CALL_IDLE, CALL_QUEUED, CALL_RUNNING };

struct as_http_call {
    struct as_http *http;
    CURL *easy; /* NULL: the call goes without curl */
    /* Without curl: the request to send, and the transfer once it runs. With curl: the
     * origin whose address the call is to tell the plain client (porigin), or NULL. */
    char *request;
    size_t request_len;
    struct as_plain_origin *porigin;
    struct as_plain_xfer *xfer;
    struct curl_slist *headers;
    char *body_copy;
    struct as_sb resp;
    size_t max_body, max_in_flight;
    char *want_header; /* req.header, copied */
    int truncated, discard;
    int waited_host;  /* counted in host_waits */
    int free_of_host; /* a load generator's: the host's bound neither holds nor counts it */
    enum call_state state;
    int64_t started, timeout_ms;
    int64_t started_us;
    struct as_timer *deadline;
    const char *fail; /* set: the deadline timer fires now and reports this error */
    struct lane *lane;
    struct as_http_call *next; /* in the lane's FIFO */
    as_http_cb cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
};

static int64_t on_deadline(struct as_loop *loop, void *arg);
static void launch(struct as_http_call *c);
static void on_plain_done(const struct as_plain_result *res, void *arg);

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- lanes: one owner's calls to one origin ---- */

#define FNV_BASIS 2166136261u

static unsigned fnv(unsigned h, const char *s) /* FNV-1a */
{
    for (const char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static unsigned lane_hash(const char *owner, const char *origin)
{
    unsigned h = fnv(FNV_BASIS, owner ? owner : "");
    h = (h ^ (owner ? 1u : 2u)) * 16777619u; /* NULL and "" are different owners */
    return fnv(h, origin);
}

static int same_owner(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The host of origin, created without lanes if there is none. NULL on ENOMEM. */
static struct host *host_get(struct as_http *http, const char *origin)
{
    unsigned h = fnv(FNV_BASIS, origin);
    struct host **slot = &http->hosts[h % HOST_BUCKETS];
    for (struct host *o = *slot; o != NULL; o = o->next)
        if (o->hash == h && strcmp(o->origin, origin) == 0)
            return o;
    size_t n = strlen(origin) + 1;
    struct host *o = calloc(1, sizeof(*o) + n);
    if (o == NULL)
        return NULL;
    memcpy(o->origin, origin, n);
    o->hash = h;
    o->next = *slot;
    *slot = o;
    return o;
}

/* Frees the host once no lane leads to it (nothing of it runs or waits then). */
static void host_put(struct as_http *http, struct host *o)
{
    if (o->lanes > 0)
        return;
    struct host **p = &http->hosts[o->hash % HOST_BUCKETS];
    while (*p != o)
        p = &(*p)->next;
    *p = o->next;
    free(o);
}

static void lane_free(struct as_http *http, struct lane *l)
{
    struct host *o = l->host;
    free(l->owner);
    free(l);
    o->lanes--;
    host_put(http, o);
}

/* The lane of (owner, origin), created empty if there is none. NULL on ENOMEM. */
static struct lane *lane_get(struct as_http *http, const char *owner, const char *origin)
{
    unsigned h = lane_hash(owner, origin);
    struct lane **slot = &http->lanes[h % LANE_BUCKETS];
    for (struct lane *l = *slot; l != NULL; l = l->next)
        if (l->hash == h && same_owner(l->owner, owner) && strcmp(l->host->origin, origin) == 0)
            return l;
    struct host *o = host_get(http, origin);
    struct lane *l = o ? calloc(1, sizeof(*l)) : NULL;
    if (l != NULL && owner != NULL)
        l->owner = as_strdup(owner);
    if (l == NULL || (owner != NULL && l->owner == NULL)) {
        free(l);
        if (o != NULL)
            host_put(http, o);
        return NULL;
    }
    l->host = o;
    o->lanes++;
    l->hash = h;
    l->next = *slot;
    *slot = l;
    return l;
}

/* Frees the lane once nothing runs or waits in it. */
static void lane_put(struct as_http *http, struct lane *l)
{
    if (l->running > 0 || l->head != NULL)
        return;
    assert(!l->in_turn); /* lane_sync takes a lane without waiting calls out of its turns */
    struct lane **p = &http->lanes[l->hash % LANE_BUCKETS];
    while (*p != l)
        p = &(*p)->next;
    *p = l->next;
    lane_free(http, l);
}

static void lane_push(struct lane *l, struct as_http_call *c)
{
    c->next = NULL;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    c->state = CALL_QUEUED;
}

static void lane_unlink(struct lane *l, struct as_http_call *c)
{
    struct as_http_call **p = &l->head, *prev = NULL;
    while (*p != c) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = c->next;
    if (l->tail == c)
        l->tail = prev;
    c->next = NULL;
    c->state = CALL_IDLE;
}

/* ---- turns: lanes waiting for their host, served one call each in turn ---- */

static void turn_push(struct host *o, struct lane *l)
{
    l->next_turn = NULL;
    l->prev_turn = o->last;
    if (o->last != NULL)
        o->last->next_turn = l;
    else
        o->first = l;
    o->last = l;
    o->nturns++;
    l->in_turn = 1;
}

static void turn_unlink(struct host *o, struct lane *l)
{
    if (l->prev_turn != NULL)
        l->prev_turn->next_turn = l->next_turn;
    else
        o->first = l->next_turn;
    if (l->next_turn != NULL)
        l->next_turn->prev_turn = l->prev_turn;
    else
        o->last = l->prev_turn;
    l->prev_turn = l->next_turn = NULL;
    o->nturns--;
    l->in_turn = 0;
}

/* Whether the lane's oldest waiting call may run as far as its owner's limit goes. */
static int lane_ready(const struct lane *l)
{
    return l->head != NULL && l->running < l->head->max_in_flight;
}

/* Puts the lane at the end of its host's turns once its oldest call may run but for the host,
 * takes it out when there is no such call any more. The caller then runs host_pump. */
static void lane_sync(struct as_http *http, struct lane *l)
{
    struct host *o = l->host;
    size_t ahead = 0;                                /* lanes served before this one */
    while (lane_ready(l) && l->head->free_of_host) { /* the host's bound is not theirs */
        struct as_http_call *c = l->head;
        lane_unlink(l, c);
        launch(c);
    }
    if (!lane_ready(l)) {
        if (l->in_turn)
            turn_unlink(o, l);
        return;
    }
    if (!l->in_turn) {
        ahead = o->nturns;
        turn_push(o, l);
    }
    /* host_pump gives each lane ahead one of the free slots first: none may be left. A lane
     * already in its turns has its host full (host_pump leaves none waiting otherwise). */
    if (!l->head->waited_host && o->running + ahead >= http->host_max) {
        l->head->waited_host = 1;
        http->host_waits++;
    }
}

/* "scheme://host:port" of url, or url itself when curl cannot parse it (the transfer then
 * fails with curl's own error). NULL on ENOMEM; caller frees. */
static char *origin_of(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 5;
        out = malloc(n);
        if (out != NULL)
            snprintf(out, n, "%s://%s:%s", scheme, host, port);
    } else {
        out = as_strdup(url);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* The origin of url, from the cache when url's text up to the end of its authority is the
 * last one's. Borrowed until the next call; NULL on ENOMEM. */
static const char *origin_cached(struct as_http *http, const char *url)
{
    const char *p = strstr(url, "://");
    size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strlen(url);
    if (http->origin_key && strlen(http->origin_key) == n && memcmp(http->origin_key, url, n) == 0)
        return http->origin;
    char *key = strndup(url, n), *origin = origin_of(url);
    if (key == NULL || origin == NULL) {
        free(key);
        free(origin);
        return NULL;
    }
    free(http->origin_key);
    free(http->origin);
    http->origin_key = key;
    http->origin = origin;
    return origin;
}

static CURL *easy_get(struct as_http *http)
{
    if (http->nidle == 0)
        return curl_easy_init();
    CURL *e = http->idle[--http->nidle];
    curl_easy_reset(e);
    return e;
}

/* Keeps an easy handle (out of the multi handle) for the next call, or frees it. */
static void easy_put(struct as_http *http, CURL *e)
{
    if (e != NULL && http->nidle < IDLE_EASY_MAX)
        http->idle[http->nidle++] = e;
    else
        curl_easy_cleanup(e);
}

/* ---- a call's way through its lane and curl ---- */

/* Reports why as soon as the loop runs (or, without memory for that, at the deadline). */
static void fail_soon(struct as_http_call *c, const char *why)
{
    c->fail = why;
    struct as_timer *t = as_loop_add_timer(c->http->loop, 0, on_deadline, c);
    if (t == NULL)
        return;
    as_loop_cancel_timer(c->http->loop, c->deadline);
    c->deadline = t;
}

/* Hands c to curl with what is left of its deadline. */
static void launch(struct as_http_call *c)
{
    struct as_http *http = c->http;
    int64_t left = c->started + c->timeout_ms - as_mono_ms();
    if (left < 1)
        left = 1; /* the deadline timer is due and ends the call */
    c->state = CALL_RUNNING;
    c->lane->running++;
    c->lane->host->running += !c->free_of_host;
    if (c->request != NULL) {
        http->plain_calls++;
        c->xfer = as_plain_start(http->plain, c->porigin, c->request, c->request_len,
                                 c->want_header, c->max_body, c->discard, on_plain_done, c);
        if (c->xfer == NULL)
            fail_soon(c, "cannot start the request"); /* and release() ends its run */
        return;
    }
    http->curl_calls++;
    if (curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)left) != CURLE_OK ||
        curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left) != CURLE_OK ||
        curl_multi_add_handle(http->multi, c->easy) != CURLM_OK) {
        /* curl may keep a half-added handle; and the call leaves its lane, which another
         * call's end may free (an empty lane lingers until reused or as_http_free). */
        curl_multi_remove_handle(http->multi, c->easy);
        c->state = CALL_IDLE;
        c->lane->running--;
        c->lane->host->running -= !c->free_of_host;
        c->lane = NULL;
        fail_soon(c, "cannot start the request");
    }
}

/* Gives the host's free slots to the lanes waiting for it, in turn: a lane's oldest call
 * starts and the lane goes to the end of the turns, so an owner with many calls waiting
 * takes one slot while each of the others takes one. */
static void host_pump(struct as_http *http, struct host *o)
{
    while (o->first != NULL && o->running < http->host_max) {
        struct lane *l = o->first;
        struct as_http_call *c = l->head;
        turn_unlink(o, l);
        lane_unlink(l, c);
        launch(c);
        lane_sync(http, l);
    }
}

/* Puts c at the end of its lane's FIFO and starts what the lane and its host have room for. */
static void enqueue(struct as_http_call *c, const char *owner)
{
    struct lane *l = c->lane;
    lane_push(l, c);
    lane_sync(c->http, l);
    host_pump(c->http, l->host);
    if (c->state == CALL_QUEUED)
        AS_LOG(AS_DEBUG, "http: %s has %zu calls in flight to %s (all owners: %zu); one more waits",
               owner ? owner : "(anonymous)", l->running, l->host->origin, l->host->running);
}

/* Takes c out of curl or out of its lane's FIFO, and lets the next waiting call run. */
static void release(struct as_http_call *c)
{
    struct lane *l = c->lane;
    if (l == NULL)
        return;
    if (c->state == CALL_RUNNING) {
        if (c->request != NULL) {
            as_plain_abort(c->xfer); /* NULL once it ended */
            c->xfer = NULL;
        } else {
            curl_multi_remove_handle(c->http->multi, c->easy);
        }
        l->running--;
        l->host->running -= !c->free_of_host;
    } else if (c->state == CALL_QUEUED) {
        lane_unlink(l, c);
    }
    c->state = CALL_IDLE;
    c->lane = NULL;
    lane_sync(c->http, l);
    host_pump(c->http, l->host);
    lane_put(c->http, l);
}

static void call_free(struct as_http_call *c)
{
    as_loop_cancel_timer(c->http->loop, c->deadline);
    release(c);
    if (c->easy != NULL)
        easy_put(c->http, c->easy);
    free(c->request);
    curl_slist_free_all(c->headers);
    free(c->body_copy);
    free(c->want_header);
    as_sb_free(&c->resp);
    c->http->active--;
    free(c);
}

/* Runs the callback once with r (which may borrow c's buffers) and frees c. */
static void complete(struct as_http_call *c, struct as_http_resp *r)
{
    r->elapsed_ms = as_mono_ms() - c->started;
    r->elapsed_us = mono_us() - c->started_us;
    release(c);
    c->cb(r, c->arg);
    call_free(c);
}

static const char *timeout_text(struct as_http_call *c)
{
    snprintf(c->errbuf, sizeof(c->errbuf), "timeout after %lld ms", (long long)c->timeout_ms);
    return c->errbuf;
}

static int64_t on_deadline(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_http_call *c = arg;
    c->deadline = NULL; /* the loop drops it: AS_TIMER_STOP */
    struct as_http_resp r = {.body = "", .error = c->fail, .total_us = -1};
    if (c->fail == NULL) {
        r.timed_out = 1;
        r.error = timeout_text(c);
    }
    complete(c, &r);
    return AS_TIMER_STOP;
}

/* The value of the header the caller asked for, when it came exactly once. */
static void find_header(struct as_http_call *c, struct as_http_resp *r)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c->easy, c->want_header, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return;
    r->header_count = h->amount;
    if (h->amount == 1)
        r->header = h->value;
}

/* Tells the plain client where curl found the call's origin. */
static void learn(struct as_http_call *c)
{
    char *ip = NULL;
    long port = 0;
    if (curl_easy_getinfo(c->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
        curl_easy_getinfo(c->easy, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK)
        as_plain_learn(c->http->plain, c->porigin, ip, port);
}

/* The end of a call that went without curl. */
static void on_plain_done(const struct as_plain_result *res, void *arg)
{
    struct as_http_call *c = arg;
    c->xfer = NULL; /* freed by the plain client after this returns */
    struct as_http_resp r = {
        .ok = res->ok,
        .status = res->ok ? res->status : 0,
        .reply = res->ok ? res->status : 0,
        .body = res->body,
        .len = res->len,
        .truncated = res->truncated,
        .error = res->error,
        .total_us = res->total_us,
        .header = res->header,
        .header_count = res->header_count,
        .curl_code = res->code,
    };
    complete(c, &r);
}

static void check_done(struct as_http *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct as_http_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode code = msg->data.result;
        struct as_http_resp r = {0};
        r.ok = code == CURLE_OK && !c->truncated;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
        r.reply = r.status;
        r.curl_code = (int)code;
        if (code != CURLE_OK)
            r.status = 0;
        r.body = c->resp.buf ? c->resp.buf : "";
        r.len = c->resp.len;
        r.truncated = c->truncated;
        r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        r.total_us = -1;
        curl_off_t us;
        if (r.ok && curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
            r.total_us = (int64_t)us;
        if (r.ok && c->want_header)
            find_header(c, &r);
        if (r.ok && c->porigin != NULL)
            learn(c);
        r.error = c->truncated   ? "response body larger than the limit"
                  : r.timed_out  ? timeout_text(c)
                  : c->errbuf[0] ? c->errbuf
                                 : curl_easy_strerror(code);
        complete(c, &r); /* r borrows c's buffers: freed afterwards */
    }
}

static void on_fd(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct as_http *http = arg;
    int flags =
        ((events & AS_READ) ? CURL_CSELECT_IN : 0) | ((events & AS_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(http->multi, fd, flags, &running);
    check_done(http);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct as_http *http = userp;
    int events = what == CURL_POLL_REMOVE ? 0
                 : what == CURL_POLL_IN   ? AS_READ
                 : what == CURL_POLL_OUT  ? AS_WRITE
                                          : AS_READ | AS_WRITE;
    if (as_loop_watch_fd(http->loop, s, events, on_fd, http) < 0)
        AS_LOG(AS_ERROR, "http: cannot watch socket %d", s);
    return 0;
}

static int64_t on_timer(struct as_loop *loop, void *arg)
{
    (void)loop;
    struct as_http *http = arg;
    http->timer = NULL;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
    return AS_TIMER_STOP;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct as_http *http = userp;
    as_loop_cancel_timer(http->loop, http->timer);
    http->timer = NULL;
    if (timeout_ms >= 0) {
        http->timer = as_loop_add_timer(http->loop, timeout_ms, on_timer, http);
        /* -1 would mark the whole multi handle dead; each call's own deadline still holds */
        if (http->timer == NULL)
            AS_LOG(AS_ERROR, "http: out of memory for curl's timer");
    }
    return 0;
}

/* AS_HTTP_TOTAL_MAX, or fewer so that 256 descriptors stay free for everything else. */
static long total_cap(void)
{
    struct rlimit rl;
    long cap = AS_HTTP_TOTAL_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)cap + 256)
        cap = (long)rl.rlim_cur - 256;
    return cap < 64 ? 64 : cap;
}

struct as_http *as_http_new(struct as_loop *loop)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        global_done = 1;
    }
    struct as_http *http = calloc(1, sizeof(*http));
    if (http == NULL)
        return NULL;
    http->loop = loop;
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        free(http);
        return NULL;
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    http->host_max = AS_HTTP_HOST_MAX;
    /* No per-host cap in curl (lanes and hosts do that, per owner and for all owners); a
     * total one as a safety net. */
    http->total_max = total_cap();
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, http->total_max);
    /* Keep as many idle connections as may be open. curl's default keeps 4 per transfer in
     * flight: thousands of groups polling one host at staggered ticks have a few in flight at
     * a time, so the cache overflowed and about one fetch in five connected anew
     * (tests/integration/test_http_reuse.py, docs/performance.md). */
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, http->total_max);
    /* The plain client's connections count apart from curl's: half the cap each. */
    http->plain = as_plain_new(loop, http->total_max / 2);
    if (http->plain == NULL) {
        curl_multi_cleanup(http->multi);
        free(http);
        return NULL;
    }
    http->plain_on = 1;
    return http;
}

void as_http_free(struct as_http *http)
{
    if (http == NULL)
        return;
    as_loop_cancel_timer(http->loop, http->timer);
    curl_multi_cleanup(http->multi);
    as_plain_free(http->plain);
    while (http->nidle > 0)
        curl_easy_cleanup(http->idle[--http->nidle]);
    free(http->origin_key);
    free(http->origin);
    for (size_t i = 0; i < LANE_BUCKETS; i++) /* none left once every call ended */
        while (http->lanes[i] != NULL) {
            struct lane *l = http->lanes[i];
            http->lanes[i] = l->next;
            lane_free(http, l); /* and its host with the last lane to it */
        }
    free(http);
}

void as_http_set_host_max(struct as_http *http, size_t max)
{
    http->host_max = max > 0 ? max : AS_HTTP_HOST_MAX;
    for (size_t i = 0; i < HOST_BUCKETS; i++) /* a larger bound starts waiting calls now */
        for (struct host *o = http->hosts[i]; o != NULL; o = o->next)
            host_pump(http, o);
}

void as_http_set_plain(struct as_http *http, int on)
{
    http->plain_on = on;
}

void as_http_calls(const struct as_http *http, uint64_t *plain, uint64_t *curl)
{
    *plain = http->plain_calls;
    *curl = http->curl_calls;
}

uint64_t as_http_host_waits(const struct as_http *http)
{
    return http->host_waits;
}

int as_http_url_ok(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

size_t as_http_active(const struct as_http *http)
{
    return http->active;
}

long as_http_total_max(const struct as_http *http)
{
    return http->total_max;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct as_http_call *c = arg;
    size_t n = size * nmemb;
    if (c->discard)
        return n;
    if (c->resp.len + n > c->max_body) {
        c->truncated = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return as_sb_append(&c->resp, data, n) == 0 ? n : 0;
}

/* PEM text handed to curl, which copies it. */
static int set_blob(CURL *e, CURLoption opt, const char *pem)
{
    struct curl_blob blob = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
    return curl_easy_setopt(e, opt, &blob) == CURLE_OK ? 0 : 1;
}

/* A client certificate and key (files or PEM text) and a CA bundle given as text. */
static int setup_tls_identity(CURL *e, const struct as_http_req *req)
{
    int rc = 0;
    if (req->cert_file)
        rc |= curl_easy_setopt(e, CURLOPT_SSLCERT, req->cert_file) != CURLE_OK;
    if (req->key_file)
        rc |= curl_easy_setopt(e, CURLOPT_SSLKEY, req->key_file) != CURLE_OK;
    if (req->cert_pem)
        rc |= set_blob(e, CURLOPT_SSLCERT_BLOB, req->cert_pem) |
              (curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK);
    if (req->key_pem)
        rc |= set_blob(e, CURLOPT_SSLKEY_BLOB, req->key_pem) |
              (curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK);
    if (req->ca_pem)
        rc |= set_blob(e, CURLOPT_CAINFO_BLOB, req->ca_pem);
    return rc;
}

static int setup(struct as_http_call *c, const struct as_http_req *req)
{
    CURL *e = c->easy;
    const char *method = req->method ? req->method : "GET";
    int rc = 0;
    rc |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* curl's receive buffer, kept with each easy handle (in flight and idle): 16 KiB by
     * default, 6 MB at 10,000 groups; our answers are mostly a few hundred bytes, and a large
     * one only takes more reads. */
    rc |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    rc |=
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, req->protocols ? req->protocols : "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "autoscaler/" AS_VERSION);
    rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (req->insecure) {
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->ca_file)
        rc |= curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    rc |= setup_tls_identity(e, req);
    if (strcmp(method, "GET") != 0)
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (req->body) {
        c->body_copy = strdup(req->body);
        if (c->body_copy == NULL)
            return -1;
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body_copy);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(c->body_copy));
    }
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(c->headers, req->headers[i]);
        if (h == NULL)
            return -1;
        c->headers = h;
    }
    if (req->body) { /* no "Expect: 100-continue" round trip */
        struct curl_slist *h = curl_slist_append(c->headers, "Expect:");
        if (h == NULL)
            return -1;
        c->headers = h;
    }
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    if (rc == 0 && req->configure != NULL)
        rc = req->configure(e, req->configure_arg);
    return rc == 0 ? 0 : -1;
}

struct as_http_call *as_http_start(struct as_http *http, const struct as_http_req *req,
                                   as_http_cb cb, void *arg)
{
    if (req->timeout_ms <= 0)
        return NULL;
    struct as_http_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->http = http;
    c->cb = cb;
    c->arg = arg;
    c->max_body = req->max_body ? req->max_body : AS_HTTP_BODY_MAX;
    c->max_in_flight = req->max_in_flight ? req->max_in_flight : AS_HTTP_OWNER_HOST_MAX;
    c->discard = req->discard_body;
    c->free_of_host = req->load_generator;
    /* The clock now, not the loop's cached time: the caller may have been busy since. */
    c->started = as_mono_ms();
    c->started_us = mono_us();
    c->timeout_ms = req->timeout_ms;
    http->active++;
    if (req->header != NULL && (c->want_header = strdup(req->header)) == NULL)
        goto fail;
    const char *origin = origin_cached(http, req->url);
    c->lane = origin ? lane_get(http, req->owner, origin) : NULL;
    if (c->lane == NULL)
        goto fail;
    if (http->plain_on)
        c->request =
            as_plain_request(http->plain, req, c->lane->host->origin, &c->porigin, &c->request_len);
    if (c->request == NULL && ((c->easy = easy_get(http)) == NULL || setup(c, req) < 0))
        goto fail;
    c->deadline = as_loop_add_timer(
        http->loop, c->started + c->timeout_ms - as_loop_now(http->loop), on_deadline, c);
    if (c->deadline == NULL)
        goto fail;
    enqueue(c, req->owner);
    return c;
fail:
    call_free(c);
    return NULL;
}

void as_http_cancel(struct as_http_call *call)
{
    if (call != NULL)
        call_free(call);
}
