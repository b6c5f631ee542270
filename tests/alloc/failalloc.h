/* Allocation-failure injection for tests/alloc: the test is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=free, so
 * every call to those from the test and from libascore goes through the counters below; jansson's
 * and libcurl's allocations are routed through them by fa_install(). libyaml (a shared library, out
 * of --wrap's reach, with no allocator hook) and what glibc allocates for itself (stdio, opendir,
 * pthread_create) are not counted.
 *
 * Only the thread that called fa_install counts: the writer thread's allocations (and
 * libmicrohttpd's, in the test's server) stay out of the count, so a run's sequence of
 * allocation points is the same from one run to the next. */
#ifndef AS_TEST_FAILALLOC_H
#define AS_TEST_FAILALLOC_H

#include <stddef.h>

enum fa_mode {
    FA_ONCE,   /* only the Nth allocation fails, later ones succeed (curl's torture test) */
    FA_ALWAYS, /* the Nth and every later one fail */
};

/* Routes jansson's and libcurl's allocators here (curl_global_init_mem): call it first, before
 * anything calls curl_global_init, on the thread whose allocations are to count. */
void fa_install(void);

/* Between fa_track(1) and fa_track(0), every block the counted thread allocates is kept in
 * a set until it is freed (by any thread: free is wrapped too), whether counting is on or
 * not: fa_live tells what a run left behind. fa_track(1) empties the set. */
void fa_track(int on);

/* Counting starts (fa_begin) and stops (fa_end) around the part of a run under test; fail_at 0
 * counts without failing. fa_end returns how many allocations were counted. */
void fa_begin(long fail_at, enum fa_mode mode);
long fa_end(void);

/* Whether the armed failure has been injected in this run (the Nth allocation was reached). */
int fa_injected(void);

/* Counting is paused and resumed around the test's own bookkeeping inside a run. */
void fa_pause(void);
void fa_resume(void);

/* Between fa_spare(1) and fa_spare(0) (nesting), allocations are neither counted nor failed:
 * for a call whose failure has a known bug that the test cannot fix. */
void fa_spare(int on);

/* Likewise for libcurl's own allocations only (the callbacks it calls still count). */
void fa_spare_curl(int on);

/* How many blocks of the set are not freed; the numbers of the first max of those allocations
 * go to ords (the blocks allocated while counting was off or spared are numbered -1, -2, ...
 * in their order). */
size_t fa_live(long *ords, size_t max);

/* The next runs print the stack of each allocation numbered in ords (borrowed). */
void fa_stacks_at(const long *ords, size_t n);

/* When set, a stack trace is printed where the Nth allocation fails (reproducing one N). */
extern int fa_trace;

#endif
