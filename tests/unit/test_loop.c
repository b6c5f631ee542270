/* The event loop: timer order and rescheduling, cancellation, fd readiness, signals, children. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/util.h"

static char order[64];

static int64_t mark(struct as_loop *loop, void *arg)
{
    (void)loop;
    strncat(order, (const char *)arg, sizeof(order) - strlen(order) - 1);
    return AS_TIMER_STOP;
}

static void run_until(struct as_loop *loop, int (*done)(void), int64_t max_ms)
{
    int64_t deadline = as_mono_ms() + max_ms;
    while (!done() && as_mono_ms() < deadline)
        as_loop_once(loop, 20);
}

static int order_len4(void)
{
    return strlen(order) >= 4;
}

static void test_timer_order(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    assert_non_null(loop);
    order[0] = '\0';
    as_loop_add_timer(loop, 30, mark, "c");
    as_loop_add_timer(loop, 10, mark, "a");
    struct as_timer *x = as_loop_add_timer(loop, 20, mark, "X");
    as_loop_add_timer(loop, 10, mark, "b"); /* same deadline: FIFO */
    as_loop_add_timer(loop, 40, mark, "d");
    as_loop_cancel_timer(loop, x);
    run_until(loop, order_len4, 2000);
    assert_string_equal(order, "abcd");
    as_loop_free(loop);
}

static int ticks;

static int64_t seen_lateness = -1;

static int64_t note_lateness(struct as_loop *loop, void *arg)
{
    (void)arg;
    seen_lateness = as_loop_timer_lateness(loop);
    return AS_TIMER_STOP;
}

static void test_timer_lateness(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    assert_non_null(loop);
    as_loop_add_timer(loop, 10, note_lateness, NULL);
    usleep(80 * 1000); /* the loop is busy elsewhere: the timer runs about 70 ms late */
    as_loop_once(loop, 0);
    assert_true(seen_lateness >= 60 && seen_lateness < 1000);
    assert_int_equal(as_loop_timer_lateness(loop), 0); /* outside a callback */
    seen_lateness = -1;
    as_loop_add_timer(loop, 30, note_lateness, NULL);
    while (seen_lateness < 0)
        as_loop_once(loop, 100);
    assert_true(seen_lateness < 20); /* on time: the wait ends when it is due */
    as_loop_free(loop);
}

static int64_t repeat(struct as_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return ++ticks < 5 ? 5 : AS_TIMER_STOP;
}

static int ticks5(void)
{
    return ticks >= 5;
}

static struct as_timer *self_timer;

static int64_t cancel_self(struct as_loop *loop, void *arg)
{
    (void)arg;
    ticks++;
    as_loop_cancel_timer(loop, self_timer); /* stops after this run */
    return 1;
}

static void test_repeat_and_self_cancel(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    ticks = 0;
    int64_t t0 = as_mono_ms();
    as_loop_add_timer(loop, 0, repeat, NULL);
    run_until(loop, ticks5, 2000);
    assert_int_equal(ticks, 5);
    assert_true(as_mono_ms() - t0 >= 20); /* four 5 ms waits */
    ticks = 0;
    self_timer = as_loop_add_timer(loop, 0, cancel_self, NULL);
    for (int i = 0; i < 10; i++)
        as_loop_once(loop, 5);
    assert_int_equal(ticks, 1);
    as_loop_free(loop);
}

static int got_read;

static void on_read(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)arg;
    char c;
    if ((events & AS_READ) && read(fd, &c, 1) == 1)
        got_read = c;
    as_loop_watch_fd(loop, fd, 0, NULL, NULL);
}

static int got_read_done(void)
{
    return got_read != 0;
}

static void test_fd(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    got_read = 0;
    assert_int_equal(as_loop_watch_fd(loop, p[0], AS_READ, on_read, NULL), 0);
    assert_int_equal(write(p[1], "z", 1), 1);
    run_until(loop, got_read_done, 2000);
    assert_int_equal(got_read, 'z');
    close(p[0]);
    close(p[1]);
    as_loop_free(loop);
}

/* A watched descriptor closed behind the loop's back (curl closes its sockets itself) and its
 * number reused: changing or removing the stale watch works, and the new one is watched. */
static void test_fd_closed_and_reused(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    int p[2], q[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(as_loop_watch_fd(loop, p[0], AS_READ, on_read, NULL), 0);
    int fd = p[0];
    close(p[0]); /* leaves the epoll set; the table still has it */
    assert_int_equal(pipe(q), 0);
    if (q[0] != fd) { /* the lowest free number is normally the one just closed */
        assert_int_equal(dup2(q[0], fd), fd);
        close(q[0]);
        q[0] = fd;
    }
    got_read = 0;
    assert_int_equal(as_loop_watch_fd(loop, fd, AS_READ | AS_WRITE, on_read, NULL), 0); /* MOD */
    assert_int_equal(as_loop_watch_fd(loop, fd, AS_READ, on_read, NULL), 0);
    assert_int_equal(write(q[1], "y", 1), 1);
    run_until(loop, got_read_done, 2000);
    assert_int_equal(got_read, 'y');
    assert_int_equal(as_loop_watch_fd(loop, fd, AS_READ, on_read, NULL), 0);
    close(fd); /* closed again, then the stale watch removed: not an error */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(as_loop_watch_fd(loop, fd, 0, NULL, NULL), 0);
    close(p[0]);
    close(p[1]);
    close(q[1]);
    as_loop_free(loop);
}

/* Two descriptors ready in one epoll batch: the first's callback closes the second and opens
 * a new descriptor with its number, watched by someone else. The batch's event for the old one
 * must not reach the new watcher (it has nothing to read). */
static int batch_b[2], spurious;

static void on_new(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
    spurious++;
}

static void on_first(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    as_loop_watch_fd(loop, fd, 0, NULL, NULL);
    int old = batch_b[0];
    close(old); /* leaves the epoll set; its event may still be in this batch */
    int q[2];
    assert_int_equal(pipe(q), 0);
    if (q[0] != old) {
        assert_int_equal(dup2(q[0], old), old);
        close(q[0]);
    }
    batch_b[0] = old;
    close(batch_b[1]);
    batch_b[1] = q[1];
    assert_int_equal(as_loop_watch_fd(loop, old, AS_READ, on_new, &spurious), 0);
}

static void on_second(struct as_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)arg;
    fail_msg("the old descriptor's callback ran after it was closed");
}

static void test_fd_reused_within_a_batch(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    int a[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(batch_b), 0);
    assert_true(a[0] < batch_b[0]); /* epoll reports them in this order (both ready) */
    assert_int_equal(as_loop_watch_fd(loop, a[0], AS_READ, on_first, NULL), 0);
    assert_int_equal(as_loop_watch_fd(loop, batch_b[0], AS_READ, on_second, NULL), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(batch_b[1], "y", 1), 1);
    spurious = 0;
    as_loop_once(loop, 100);
    as_loop_once(loop, 50);
    assert_int_equal(spurious, 0);
    as_loop_watch_fd(loop, batch_b[0], 0, NULL, NULL);
    close(a[0]);
    close(a[1]);
    close(batch_b[0]);
    close(batch_b[1]);
    as_loop_free(loop);
}

static int got_signal, child_status = -1;

static void on_sig(struct as_loop *loop, int signo, void *arg)
{
    (void)loop;
    (void)arg;
    got_signal = signo;
}

static void on_child(struct as_loop *loop, pid_t pid, int status, void *arg)
{
    (void)loop;
    (void)pid;
    (void)arg;
    child_status = status;
}

static int signal_done(void)
{
    return got_signal != 0;
}

static int child_done(void)
{
    return child_status != -1;
}

static void test_signals_and_children(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    got_signal = 0;
    assert_int_equal(as_loop_on_signal(loop, SIGUSR1, on_sig, NULL), 0);
    kill(getpid(), SIGUSR1); /* blocked, delivered through the loop */
    run_until(loop, signal_done, 2000);
    assert_int_equal(got_signal, SIGUSR1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    assert_int_equal(as_loop_watch_child(loop, pid, on_child, NULL), 0);
    run_until(loop, child_done, 5000);
    assert_true(WIFEXITED(child_status));
    assert_int_equal(WEXITSTATUS(child_status), 7);
    assert_int_equal(kill(pid, 0), -1); /* reaped */
    as_loop_free(loop);
}

/* Many timers: the heap keeps deadlines ordered (thousands of groups). */
static int64_t last_fire;
static int heap_ok = 1, fired;

static int64_t check_order(struct as_loop *loop, void *arg)
{
    (void)loop;
    int64_t when = (int64_t)(intptr_t)arg;
    if (when < last_fire)
        heap_ok = 0;
    last_fire = when;
    fired++;
    return AS_TIMER_STOP;
}

static int all_fired(void)
{
    return fired == 3000;
}

static void test_many_timers(void **state)
{
    (void)state;
    struct as_loop *loop = as_loop_new();
    struct as_timer *cancel[1000];
    srand(1);
    for (int i = 0; i < 4000; i++) {
        int64_t d = rand() % 50;
        struct as_timer *t = as_loop_add_timer(loop, d, check_order, (void *)(intptr_t)d);
        if (i % 4 == 0)
            cancel[i / 4] = t;
    }
    for (int i = 0; i < 1000; i++)
        as_loop_cancel_timer(loop, cancel[i]);
    run_until(loop, all_fired, 5000);
    assert_int_equal(fired, 3000);
    assert_true(heap_ok);
    as_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_repeat_and_self_cancel),
        cmocka_unit_test(test_timer_lateness),
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_fd_closed_and_reused),
        cmocka_unit_test(test_fd_reused_within_a_batch),
        cmocka_unit_test(test_signals_and_children),
        cmocka_unit_test(test_many_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
