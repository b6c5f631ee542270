/* The counting allocators of failalloc.h. */
#include "failalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void __real_free(void *p);

int fa_trace;

static struct {
    int tracking, on;
    long count, fail_at;
    long quiet; /* blocks tracked while not counting (numbered -1, -2, ...) */
    enum fa_mode mode;
} fa;

static __thread int counted_thread, spared;

/* The blocks a run allocated and has not freed yet (any thread may free them). */
static struct {
    pthread_mutex_t mu;
    struct entry {
        void *p;  /* NULL empty, TOMB a removed entry */
        long ord; /* its allocation's number in the run */
    } * slot;
    size_t cap, n, used;
} live = {.mu = PTHREAD_MUTEX_INITIALIZER};
static char tomb;
#define TOMB ((void *)&tomb)

static size_t slot_of(const void *p, size_t cap)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL) & (cap - 1);
}

static void live_grow(void)
{
    size_t cap = live.cap ? live.cap * 2 : 4096;
    struct entry *slot = __real_calloc(cap, sizeof(*slot));
    if (slot == NULL)
        abort();
    for (size_t i = 0; i < live.cap; i++) {
        if (live.slot[i].p == NULL || live.slot[i].p == TOMB)
            continue;
        size_t j = slot_of(live.slot[i].p, cap);
        while (slot[j].p != NULL)
            j = (j + 1) & (cap - 1);
        slot[j] = live.slot[i];
    }
    __real_free(live.slot);
    live.slot = slot;
    live.cap = cap;
    live.used = live.n;
}

static void live_add(void *p, long ord)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&live.mu);
    if ((live.used + 1) * 2 > live.cap)
        live_grow();
    size_t i = slot_of(p, live.cap);
    while (live.slot[i].p != NULL && live.slot[i].p != TOMB)
        i = (i + 1) & (live.cap - 1);
    if (live.slot[i].p == NULL)
        live.used++;
    live.slot[i] = (struct entry){p, ord};
    live.n++;
    pthread_mutex_unlock(&live.mu);
}

static void live_remove(void *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&live.mu);
    for (size_t i = live.cap ? slot_of(p, live.cap) : 0; live.cap && live.slot[i].p != NULL;
         i = (i + 1) & (live.cap - 1))
        if (live.slot[i].p == p) {
            live.slot[i].p = TOMB;
            live.n--;
            break;
        }
    pthread_mutex_unlock(&live.mu);
}

size_t fa_live(long *ords, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&live.mu);
    for (size_t i = 0; i < live.cap; i++)
        if (live.slot[i].p != NULL && live.slot[i].p != TOMB && n++ < max)
            ords[n - 1] = live.slot[i].ord;
    pthread_mutex_unlock(&live.mu);
    return n;
}

static void live_clear(void)
{
    pthread_mutex_lock(&live.mu);
    if (live.cap)
        memset(live.slot, 0, live.cap * sizeof(*live.slot));
    live.n = live.used = 0;
    pthread_mutex_unlock(&live.mu);
}

static void trace(void)
{
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_print_stack_trace();
#else
    void *frames[64];
    backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
#endif
}

static const long *stack_ords;
static size_t nstack_ords;

void fa_stacks_at(const long *ords, size_t n)
{
    stack_ords = ords;
    nstack_ords = n;
}

/* Counts one allocation; 1 when it is to fail. */
static int hit(void)
{
    if (!fa.on || !counted_thread || spared)
        return 0;
    long n = ++fa.count;
    if (fa.fail_at == 0 || n < fa.fail_at || (n > fa.fail_at && fa.mode == FA_ONCE))
        return 0;
    if (n == fa.fail_at && fa_trace) {
        fprintf(stderr, "failalloc: allocation %ld fails here:\n", n);
        trace();
    }
    errno = ENOMEM;
    return 1;
}

/* Keeps p in the live set when it was allocated by a counted call. */
static void *track(void *p)
{
    if (!fa.tracking || !counted_thread || p == NULL)
        return p;
    long ord = fa.on && !spared ? fa.count : -++fa.quiet;
    for (size_t i = 0; i < nstack_ords; i++)
        if (stack_ords[i] == ord) {
            fprintf(stderr, "failalloc: allocation %ld, never freed, was made here:\n", ord);
            trace();
        }
    live_add(p, ord);
    return p;
}

void *__wrap_malloc(size_t n)
{
    return hit() ? NULL : track(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return hit() ? NULL : track(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (n > 0 && hit())
        return NULL;
    void *q = __real_realloc(p, n);
    if (q != NULL || n == 0)
        live_remove(p);
    return track(q);
}

char *__wrap_strdup(const char *s)
{
    return hit() ? NULL : track(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
    return hit() ? NULL : track(__real_strndup(s, n));
}

void __wrap_free(void *p)
{
    live_remove(p);
    __real_free(p);
}

/* jansson's allocator. */
static void *lib_malloc(size_t n)
{
    return __wrap_malloc(n);
}

static void lib_free(void *p)
{
    free(p);
}

/* libcurl's: spared (neither counted nor failed) while curl_spared. */
static __thread int curl_spared;

static void *curl_malloc(size_t n)
{
    if (curl_spared)
        return track(__real_malloc(n));
    return __wrap_malloc(n);
}

static void *curl_realloc(void *p, size_t n)
{
    if (curl_spared) {
        void *q = __real_realloc(p, n);
        if (q != NULL || n == 0)
            live_remove(p);
        return track(q);
    }
    return __wrap_realloc(p, n);
}

static char *curl_strdup(const char *s)
{
    return curl_spared ? track(__real_strdup(s)) : __wrap_strdup(s);
}

static void *curl_calloc(size_t n, size_t size)
{
    return curl_spared ? track(__real_calloc(n, size)) : __wrap_calloc(n, size);
}

void fa_spare_curl(int on)
{
    curl_spared += on ? 1 : -1;
}

void fa_install(void)
{
    counted_thread = 1;
    json_set_alloc_funcs(lib_malloc, lib_free);
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_malloc, lib_free, curl_realloc, curl_strdup,
                             curl_calloc) != CURLE_OK) {
        fprintf(stderr, "failalloc: curl_global_init_mem failed\n");
        _exit(1);
    }
}

void fa_track(int on)
{
    if (on) {
        live_clear();
        fa.quiet = 0;
    }
    fa.tracking = on;
}

void fa_begin(long fail_at, enum fa_mode mode)
{
    fa.count = 0;
    fa.fail_at = fail_at;
    fa.mode = mode;
    fa.on = 1;
}

long fa_end(void)
{
    fa.on = 0;
    return fa.count;
}

int fa_injected(void)
{
    return fa.fail_at > 0 && fa.count >= fa.fail_at;
}

void fa_spare(int on)
{
    spared += on ? 1 : -1;
}

void fa_pause(void)
{
    counted_thread = 0;
}

void fa_resume(void)
{
    counted_thread = 1;
}
