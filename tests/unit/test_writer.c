/* The writer thread: a write lands whole and is reported on the loop thread; queued writes to
 * one path coalesce; durable writes go first and are fsync'd; missing directories are
 * created; failures (not a directory, name too long, ENOSPC, read-only, EIO) leave the old
 * file whole and no temporary file; links planted at the temporary name are not followed;
 * EINTR and short writes are retried; forget, flush and free keep their contracts; the thread
 * blocks every signal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/util.h"
#include "util/writer.h"

struct fixture {
    char dir[64];
    struct as_loop *loop;
};

static int setup(void **state)
{
    static struct fixture f;
    snprintf(f.dir, sizeof(f.dir), "/tmp/as-writer-XXXXXX");
    if (mkdtemp(f.dir) == NULL)
        return -1;
    f.loop = as_loop_new();
    *state = &f;
    umask(022);
    return f.loop ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "%s/mnt", f->dir);
    umount2(cmd, MNT_DETACH); /* left mounted by a failed tmpfs case */
    as_loop_free(f->loop);
    as_writer_sys_set(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static char *dup_text(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static const char *path_in(const struct fixture *f, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < len);
    return buf;
}

static void assert_file(const char *path, const char *want)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char got[1 << 20];
    size_t n = fread(got, 1, sizeof(got) - 1, fp);
    fclose(fp);
    got[n] = '\0';
    assert_int_equal(n, strlen(want));
    assert_string_equal(got, want);
}

/* Counts the files in dir whose name ends in ".tmp". */
static int tmp_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        n += len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0;
    }
    closedir(d);
    return n;
}

/* What the callbacks saw, in the order they ran. */
struct log {
    int calls, ok, fail;
    char order[256];
    char error[512];
    int off_thread; /* a callback ran on another thread than the loop's */
};

static pthread_t loop_thread;

struct cb_arg {
    struct log *log;
    char tag;
};

static void record(int ok, const char *error, void *arg)
{
    struct cb_arg *a = arg;
    struct log *l = a->log;
    l->calls++;
    if (ok) {
        l->ok++;
        assert_null(error);
    } else {
        l->fail++;
        assert_non_null(error);
        snprintf(l->error, sizeof(l->error), "%s", error);
    }
    size_t n = strlen(l->order);
    if (n + 1 < sizeof(l->order)) {
        l->order[n] = a->tag;
        l->order[n + 1] = '\0';
    }
    if (!pthread_equal(pthread_self(), loop_thread))
        l->off_thread = 1;
}

static void run_until(struct as_loop *loop, const int *count, int want)
{
    int64_t deadline = as_mono_ms() + 10000;
    while (*count < want && as_mono_ms() < deadline)
        as_loop_once(loop, 20);
    assert_int_equal(*count, want);
}

struct hook_log {
    int calls;
    char path[512];
};

static void on_error(const char *path, const char *error, void *arg)
{
    struct hook_log *h = arg;
    assert_non_null(error);
    h->calls++;
    snprintf(h->path, sizeof(h->path), "%s", path);
}

static struct as_writer *writer(struct fixture *f)
{
    loop_thread = pthread_self();
    struct as_writer *w = as_writer_new(f->loop);
    assert_non_null(w);
    return w;
}

/* ---- cases ---- */

static void test_write_lands(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256];
    path_in(f, "g.json", path, sizeof(path));
    assert_true(as_writer_put(w, path, dup_text("{\"v\":1}\n"), 8, 0, record, &a) > 0);
    run_until(f->loop, &l.calls, 1); /* through the eventfd, not flush */
    assert_int_equal(l.ok, 1);
    assert_false(l.off_thread);
    assert_file(path, "{\"v\":1}\n");
    assert_int_equal(tmp_files(f->dir), 0);
    /* a second write replaces the file whole */
    assert_true(as_writer_put(w, path, dup_text("{\"v\":22}\n"), 9, 0, record, &a) > 0);
    run_until(f->loop, &l.calls, 2);
    assert_file(path, "{\"v\":22}\n");
    struct as_writer_stats st;
    as_writer_stats(w, &st);
    assert_int_equal(st.puts, 2);
    assert_int_equal(st.written, 2);
    assert_int_equal(st.failed, 0);
    assert_int_equal(as_writer_pending(w), 0);
    as_writer_free(w);
}

static void test_coalesce(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'c'};
    char path[256], text[32];
    path_in(f, "g.json", path, sizeof(path));
    as_writer_hold(w, 1);
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "version %d\n", i);
        assert_true(as_writer_put(w, path, dup_text(text), strlen(text), 0, record, &a) > 0);
    }
    assert_int_equal(as_writer_pending(w), 1);
    as_writer_hold(w, 0);
    run_until(f->loop, &l.calls, 100);
    assert_int_equal(l.ok, 100);
    assert_file(path, "version 99\n");
    struct as_writer_stats st;
    as_writer_stats(w, &st);
    assert_int_equal(st.puts, 100);
    assert_int_equal(st.coalesced, 99);
    assert_int_equal(st.written, 1);
    as_writer_free(w);
}

static int fsyncs;

static int counting_fsync(int fd)
{
    fsyncs++; /* the writer thread only, read after flush */
    return fsync(fd);
}

static void test_durable_first(void **state)
{
    struct fixture *f = *state;
    as_writer_sys_set(&(struct as_writer_sys){.fsync = counting_fsync});
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg n1 = {&l, '1'}, n2 = {&l, '2'}, n3 = {&l, '3'}, d1 = {&l, 'A'}, d2 = {&l, 'B'};
    char p[5][256];
    const char *names[] = {"n1", "n2", "n3", "d1", "d2"};
    for (int i = 0; i < 5; i++)
        path_in(f, names[i], p[i], sizeof(p[i]));
    as_writer_hold(w, 1);
    as_writer_put(w, p[0], dup_text("x"), 1, 0, record, &n1);
    as_writer_put(w, p[1], dup_text("x"), 1, 0, record, &n2);
    as_writer_put(w, p[3], dup_text("x"), 1, 1, record, &d1);
    as_writer_put(w, p[2], dup_text("x"), 1, 0, record, &n3);
    as_writer_put(w, p[4], dup_text("x"), 1, 1, record, &d2);
    fsyncs = 0;
    as_writer_flush(w);
    assert_string_equal(l.order, "AB123");
    assert_int_equal(fsyncs, 4); /* file and directory of each durable write, none else */
    as_writer_free(w);
}

/* A durable put coalesced into a queued non-durable write makes it durable and moves it
 * ahead of the other non-durable writes. */
static void test_coalesce_durable(void **state)
{
    struct fixture *f = *state;
    as_writer_sys_set(&(struct as_writer_sys){.fsync = counting_fsync});
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'}, b = {&l, 'b'}, a2 = {&l, 'A'};
    char pa[256], pb[256];
    path_in(f, "a", pa, sizeof(pa));
    path_in(f, "b", pb, sizeof(pb));
    as_writer_hold(w, 1);
    as_writer_put(w, pb, dup_text("b1"), 2, 0, record, &b);
    as_writer_put(w, pa, dup_text("a1"), 2, 0, record, &a);
    as_writer_put(w, pa, dup_text("a2"), 2, 1, record, &a2);
    fsyncs = 0;
    as_writer_flush(w);
    assert_string_equal(l.order, "aAb");
    assert_int_equal(fsyncs, 2);
    assert_file(pa, "a2");
    /* and a non-durable put does not make a queued durable write non-durable */
    as_writer_hold(w, 1);
    as_writer_put(w, pa, dup_text("a3"), 2, 1, NULL, NULL);
    as_writer_put(w, pa, dup_text("a4"), 2, 0, NULL, NULL);
    fsyncs = 0;
    as_writer_flush(w);
    assert_int_equal(fsyncs, 2);
    assert_file(pa, "a4");
    as_writer_free(w);
}

static void test_missing_dir_created(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256], dir[256];
    path_in(f, "x/y/z/g.json", path, sizeof(path));
    as_writer_put(w, path, dup_text("data"), 4, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.ok, 1);
    assert_file(path, "data");
    struct stat sb;
    assert_int_equal(stat(path_in(f, "x/y/z", dir, sizeof(dir)), &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0750);
    assert_int_equal(stat(path_in(f, "x", dir, sizeof(dir)), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0750);
    /* a relative path works too (its directory is the current one) */
    char cwd[256];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    as_writer_put(w, "rel/g.json", dup_text("r"), 1, 1, record, &a);
    as_writer_put(w, "top.json", dup_text("t"), 1, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(l.ok, 3);
    assert_file(path_in(f, "rel/g.json", path, sizeof(path)), "r");
    assert_file(path_in(f, "top.json", path, sizeof(path)), "t");
    as_writer_free(w);
}

/* Whatever sits at PATH.tmp (a crash's leftover, a symbolic or a hard link to another file)
 * is replaced, never written through. */
static void test_tmp_links_not_followed(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char victim[256], path[256], tmp[300];
    FILE *fp = fopen(path_in(f, "victim", victim, sizeof(victim)), "w");
    assert_non_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    path_in(f, "g.json", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(symlink(victim, tmp), 0);
    as_writer_put(w, path, dup_text("one"), 3, 0, record, &a);
    as_writer_flush(w);
    assert_int_equal(link(victim, tmp), 0);
    as_writer_put(w, path, dup_text("two"), 3, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.ok, 2);
    assert_file(path, "two");
    assert_file(victim, "precious\n");
    assert_int_equal(tmp_files(f->dir), 0);
    as_writer_free(w);
}

/* A directory that cannot be created (a component is a regular file: chmod does not stop
 * root): reported to the callback and the hook, also for a put without callback. */
static void test_unwritable_dir(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct hook_log h = {0};
    struct cb_arg a = {&l, 'a'};
    char file[256], path[256], under[256];
    FILE *fp = fopen(path_in(f, "plain", file, sizeof(file)), "w");
    assert_non_null(fp);
    fclose(fp);
    as_writer_on_error(w, on_error, &h);
    path_in(f, "plain/sub/g.json", path, sizeof(path));
    as_writer_put(w, path, dup_text("data"), 4, 1, record, &a);
    as_writer_put(w, path_in(f, "plain/g.json", under, sizeof(under)), dup_text("d"), 1, 0, NULL,
                  NULL);
    as_writer_flush(w);
    assert_int_equal(l.fail, 1);
    assert_non_null(strstr(l.error, "Not a directory"));
    assert_non_null(strstr(l.error, f->dir));
    assert_int_equal(h.calls, 2);
    assert_string_equal(h.path, under);
    struct as_writer_stats st;
    as_writer_stats(w, &st);
    assert_int_equal(st.failed, 2);
    assert_int_equal(tmp_files(f->dir), 0);
    as_writer_free(w);
}

static int too_long;

static void expect_too_long(int ok, const char *error, void *arg)
{
    (void)arg;
    assert_false(ok);
    assert_non_null(strstr(error, "File name too long"));
    too_long++;
}

static void test_name_too_long(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    char name[300], path[512];
    too_long = 0;
    /* 252 characters: a valid name, but NAME.tmp is not */
    memset(name, 'n', 252);
    name[252] = '\0';
    path_in(f, name, path, sizeof(path));
    as_writer_put(w, path, dup_text("d"), 1, 0, expect_too_long, NULL);
    memset(name, 'n', 290);
    name[290] = '\0';
    path_in(f, name, path, sizeof(path));
    as_writer_put(w, path, dup_text("d"), 1, 0, expect_too_long, NULL);
    /* longer than PATH_MAX as a whole */
    static char deep[6000];
    int n = snprintf(deep, sizeof(deep), "%s", f->dir);
    while (n < 5000)
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "/dddddddddddddddddddd");
    snprintf(deep + n, sizeof(deep) - (size_t)n, "/g.json");
    as_writer_put(w, deep, dup_text("d"), 1, 1, expect_too_long, NULL);
    as_writer_flush(w);
    assert_int_equal(too_long, 3);
    assert_int_equal(tmp_files(f->dir), 0);
    as_writer_free(w);
}

/* ---- injected system calls: EINTR, short writes, ENOSPC, EIO ---- */

static int write_calls;

static ssize_t flaky_write(int fd, const void *buf, size_t n)
{
    if (write_calls++ % 2 == 0) {
        errno = EINTR;
        return -1;
    }
    return write(fd, buf, n < 7 ? n : 7);
}

static int fsync_calls;

static int flaky_fsync(int fd)
{
    if (fsync_calls++ % 2 == 0) {
        errno = EINTR;
        return -1;
    }
    return fsync(fd);
}

static void test_eintr_and_short_writes(void **state)
{
    struct fixture *f = *state;
    as_writer_sys_set(&(struct as_writer_sys){.write = flaky_write, .fsync = flaky_fsync});
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256];
    static char text[5001];
    for (size_t i = 0; i < 5000; i++)
        text[i] = (char)('a' + i % 26);
    write_calls = fsync_calls = 0;
    as_writer_put(w, path_in(f, "g.json", path, sizeof(path)), dup_text(text), 5000, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.ok, 1);
    assert_file(path, text);
    assert_true(write_calls >= 2 * 5000 / 7);
    assert_int_equal(fsync_calls, 4);
    as_writer_free(w);
}

static size_t full_after; /* bytes the "disk" still takes */

static ssize_t full_write(int fd, const void *buf, size_t n)
{
    if (full_after == 0) {
        errno = ENOSPC;
        return -1;
    }
    ssize_t k = write(fd, buf, n < full_after ? n : full_after);
    if (k > 0)
        full_after -= (size_t)k;
    return k;
}

static int eio_fsync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static void test_injected_failures(void **state)
{
    struct fixture *f = *state;
    as_writer_sys_set(&(struct as_writer_sys){.write = full_write, .fsync = eio_fsync});
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256];
    path_in(f, "g.json", path, sizeof(path));
    full_after = 1000;
    as_writer_put(w, path, dup_text("old\n"), 4, 0, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.ok, 1);
    full_after = 10; /* before the put: the thread reads it */
    as_writer_put(w, path, dup_text("a much longer new state\n"), 24, 0, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.fail, 1);
    assert_non_null(strstr(l.error, "No space left"));
    assert_file(path, "old\n");
    assert_int_equal(tmp_files(f->dir), 0);
    full_after = 1000; /* room again, but fsync fails */
    as_writer_put(w, path, dup_text("new\n"), 4, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.fail, 2);
    assert_non_null(strstr(l.error, "Input/output error"));
    assert_file(path, "old\n");
    assert_int_equal(tmp_files(f->dir), 0);
    as_writer_free(w);
}

/* A real full disk and a read-only one: a 64 KiB tmpfs (needs root and mount rights). */
static void test_tmpfs_full_and_readonly(void **state)
{
    struct fixture *f = *state;
    char mnt[256], path[256];
    path_in(f, "mnt", mnt, sizeof(mnt));
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        fprintf(stderr, "SKIP tmpfs_full_and_readonly: cannot mount a tmpfs: %s\n",
                strerror(errno));
        skip();
    }
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    snprintf(path, sizeof(path), "%s/g.json", mnt);
    as_writer_put(w, path, dup_text("old state\n"), 10, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.ok, 1);
    size_t big = 256 * 1024;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, 'x', big);
    as_writer_put(w, path, data, big, 1, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.fail, 1);
    assert_non_null(strstr(l.error, "No space left"));
    assert_file(path, "old state\n");
    assert_int_equal(tmp_files(mnt), 0);
    assert_int_equal(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
    as_writer_put(w, path, dup_text("new state\n"), 10, 0, record, &a);
    as_writer_flush(w);
    assert_int_equal(l.fail, 2);
    assert_non_null(strstr(l.error, "Read-only file system"));
    assert_file(path, "old state\n");
    as_writer_free(w);
    assert_int_equal(umount(mnt), 0);
}

/* ---- forget, flush, free ---- */

static uint64_t later_ticket;
static struct as_writer *forget_w;

static void forget_later(int ok, const char *error, void *arg)
{
    record(ok, error, arg);
    as_writer_forget(forget_w, later_ticket);
}

static void test_forget(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'}, b = {&l, 'b'}, c = {&l, 'c'}, d = {&l, 'd'};
    char path[256];
    path_in(f, "g.json", path, sizeof(path));
    as_writer_hold(w, 1);
    uint64_t ta = as_writer_put(w, path, dup_text("1"), 1, 0, record, &a);
    uint64_t tb = as_writer_put(w, path, dup_text("2"), 1, 0, record, &b);
    assert_true(ta > 0 && tb > ta);
    assert_ptr_equal(as_writer_forget(w, ta), &a); /* the owner may free its arg */
    assert_null(as_writer_forget(w, ta));
    /* c's callback forgets d's, the next one of the same write */
    forget_w = w;
    as_writer_put(w, path, dup_text("3"), 1, 0, forget_later, &c);
    later_ticket = as_writer_put(w, path, dup_text("4"), 1, 0, record, &d);
    assert_null(as_writer_forget(w, 0));
    uint64_t te = as_writer_put(w, path, dup_text("5"), 1, 0, NULL, NULL);
    assert_true(te > later_ticket);
    assert_null(as_writer_forget(w, te)); /* no callback to forget */
    as_writer_hold(w, 0);
    run_until(f->loop, &l.calls, 2);
    as_writer_flush(w);
    assert_string_equal(l.order, "bc");
    assert_file(path, "5");
    assert_null(as_writer_forget(w, tb)); /* already ran: nothing to forget */
    as_writer_free(w);
}

struct chain {
    struct as_writer *w;
    char path[256];
    int left;
    struct log *log;
};

static void chain_next(int ok, const char *error, void *arg)
{
    struct chain *c = arg;
    (void)error;
    c->log->calls++;
    c->log->ok += ok;
    if (c->left-- > 0)
        as_writer_put(c->w, c->path, dup_text("again"), 5, 0, chain_next, c);
}

static void test_flush_waits(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256], name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "d%d/g%d.json", i % 7, i);
        as_writer_put(w, path_in(f, name, path, sizeof(path)), dup_text(name), strlen(name),
                      i % 10 == 0, record, &a);
    }
    /* a callback that queues the next write: flush waits for those too */
    struct chain c = {.w = w, .left = 3, .log = &l};
    path_in(f, "chain", c.path, sizeof(c.path));
    as_writer_put(w, c.path, dup_text("first"), 5, 0, chain_next, &c);
    as_writer_flush(w);
    assert_int_equal(l.calls, 204);
    assert_int_equal(l.ok, 204);
    assert_int_equal(as_writer_pending(w), 0);
    assert_file(path_in(f, "d3/g199.json", path, sizeof(path)), "d3/g199.json");
    assert_file(c.path, "again");
    as_writer_free(w);
}

static void test_free_completes(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256], name[32];
    as_writer_hold(w, 1);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "g%d.json", i);
        as_writer_put(w, path_in(f, name, path, sizeof(path)), dup_text(name), strlen(name), 0,
                      record, &a);
    }
    assert_int_equal(as_writer_pending(w), 50);
    as_writer_free(w);
    assert_int_equal(l.ok, 50);
    assert_file(path_in(f, "g49.json", path, sizeof(path)), "g49.json");
    as_writer_free(NULL);
}

/* Thousands of paths (the table grows), each put twice while held: one write each. */
static void test_many_paths(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    struct log l = {0};
    struct cb_arg a = {&l, 'a'};
    char path[256], name[32];
    as_writer_hold(w, 1);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3000; i++) {
            snprintf(name, sizeof(name), "g%d-%d", i, round);
            path_in(f, name, path, sizeof(path));
            path[strlen(path) - 2] = '\0'; /* drop "-round" from the path, keep it in data */
            as_writer_put(w, path, dup_text(name), strlen(name), 0, record, &a);
        }
    assert_int_equal(as_writer_pending(w), 3000);
    as_writer_flush(w);
    assert_int_equal(l.ok, 6000);
    struct as_writer_stats st;
    as_writer_stats(w, &st);
    assert_int_equal(st.written, 3000);
    assert_int_equal(st.coalesced, 3000);
    assert_file(path_in(f, "g2999", path, sizeof(path)), "g2999-1");
    as_writer_free(w);
}

/* SigBlk of every other thread of this process (the writer's) has the signals the loop takes
 * and the ones it does not (SIGALRM, SIGPIPE, SIGWINCH). */
static void test_thread_blocks_signals(void **state)
{
    struct fixture *f = *state;
    struct as_writer *w = writer(f);
    char path[256];
    /* once a write is done the thread runs its own code (glibc starts a thread with every
     * signal blocked, and sets the mask it inherited only then) */
    as_writer_put(w, path_in(f, "g.json", path, sizeof(path)), dup_text("x"), 1, 0, NULL, NULL);
    as_writer_flush(w);
    long self = syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int others = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || atol(e->d_name) == self)
            continue;
        char file[300], line[256];
        unsigned long long blk = 0;
        snprintf(file, sizeof(file), "/proc/self/task/%s/status", e->d_name);
        FILE *fp = fopen(file, "r");
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
            if (sscanf(line, "SigBlk: %llx", &blk) == 1)
                break;
        fclose(fp);
        const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGALRM, SIGPIPE, SIGWINCH};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            assert_true(blk & (1ULL << (sigs[i] - 1)));
        others++;
    }
    closedir(d);
    assert_true(others >= 1);
    as_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_lands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_links_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eintr_and_short_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injected_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmpfs_full_and_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_blocks_signals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
