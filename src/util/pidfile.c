/* The pid file of a process pool and the sweep of what an earlier instance left: see
 * pidfile.h for the rules. */
#include "util/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/loop.h"
#include "util/proc.h"
#include "util/util.h"

#define HEADER "autoscaler process pool"
#define MAX_ENTRIES 100000 /* a longer file is not ours */

/* An entry of the earlier instance, and what the last probe found of it. */
struct leftover {
    pid_t pid, sid;
    unsigned long long start;
    int slot;
    int here;                 /* anything of it is left */
    int leader;               /* the leader itself runs */
    int reused;               /* the pid names another process now */
    int ours;                 /* handed over by a pool of this daemon, which still stops it */
    pid_t pgid;               /* the leader's process group now */
    int64_t term_ms, kill_ms; /* when SIGTERM and SIGKILL were sent; 0: not yet */
};

struct as_pidfile {
    struct as_loop *loop;
    char *path, *who;
    int64_t grace_ms;
    char boot[40];            /* the kernel's boot id */
    struct as_proc_stat self; /* the daemon: its start time and session */
    unsigned long serial;     /* this instance, in the owner line */
    struct leftover *left;
    int nleft;
    struct as_timer *sweep;
    as_pidfile_swept_fn swept;
    void *arg;
    int off;      /* no pid file is kept (no /proc, or another daemon owns the file) */
    int handover; /* the file was written by this daemon: a reload replaced the pool */
    int failed;   /* the last write failed */
};

struct header {
    char boot[40];
    long pid;                 /* the daemon that wrote it */
    unsigned long long start; /* its start time */
    unsigned long serial;
};

static unsigned long instances; /* handles opened in this process, for the owner line */

/* ---- the file ---- */

/* Opens a pid file and reads its header. Returns the stream at the first entry; NULL with
 * errno ENOENT (no file) or EINVAL (not a pid file). */
static FILE *open_file(const char *path, struct header *h)
{
    char line[3][128];
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    for (int i = 0; i < 3; i++)
        if (fgets(line[i], sizeof(line[i]), f) == NULL)
            line[i][0] = '\0';
    if (strcmp(line[0], HEADER "\n") == 0 && sscanf(line[1], "boot %39s", h->boot) == 1 &&
        sscanf(line[2], "owner %ld %llu %lu", &h->pid, &h->start, &h->serial) == 3)
        return f;
    fclose(f);
    errno = EINVAL;
    return NULL;
}

/* 1: the file names this instance; 0: another; -1: there is no (readable) file. */
static int owned(const struct as_pidfile *pf)
{
    struct header h;
    FILE *f = open_file(pf->path, &h);
    if (f == NULL)
        return -1;
    fclose(f);
    return h.pid == (long)getpid() && h.serial == pf->serial;
}

static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

static int replace_file(const char *path, const char *text, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, text, len);
    int saved = errno;
    if (close(fd) < 0 && rc == 0)
        saved = errno, rc = -1;
    if (rc == 0 && rename(tmp, path) < 0)
        saved = errno, rc = -1;
    if (rc < 0)
        unlink(tmp);
    errno = saved;
    return rc;
}

static int format(const struct as_pidfile *pf, const struct as_pidfile_entry *e, size_t n,
                  struct as_sb *sb)
{
    int rc = as_sb_printf(sb, HEADER "\nboot %s\nowner %ld %llu %lu\n", pf->boot, (long)getpid(),
                          pf->self.start_ticks, pf->serial);
    for (size_t i = 0; i < n && rc == 0; i++) /* our children are in our session */
        if (e[i].start != 0)
            rc = as_sb_printf(sb, "%ld %llu %d %ld\n", (long)e[i].pid, e[i].start, e[i].slot,
                              (long)pf->self.sid);
    for (int i = 0; i < pf->nleft && rc == 0; i++) {
        const struct leftover *l = &pf->left[i];
        rc = as_sb_printf(sb, "%ld %llu %d %ld\n", (long)l->pid, l->start, l->slot, (long)l->sid);
    }
    return rc;
}

static void save(struct as_pidfile *pf, const struct as_pidfile_entry *e, size_t n, int force)
{
    if (pf->off || (!force && owned(pf) == 0))
        return; /* a successor has taken the file over */
    struct as_sb sb = {0};
    int rc = format(pf, e, n, &sb);
    if (rc < 0)
        errno = ENOMEM;
    else
        rc = replace_file(pf->path, sb.buf, sb.len);
    if (rc < 0 && !pf->failed)
        AS_LOG(AS_ERROR, "%s: cannot write %s: %s", pf->who, pf->path, strerror(errno));
    else if (rc == 0 && pf->failed)
        AS_LOG(AS_INFO, "%s: %s written again", pf->who, pf->path);
    pf->failed = rc < 0;
    as_sb_free(&sb);
}

void as_pidfile_save(struct as_pidfile *pf, const struct as_pidfile_entry *e, size_t n)
{
    if (pf != NULL)
        save(pf, e, n, 0);
}

/* ---- what is left ---- */

static void probe_member(pid_t pid, const struct as_proc_stat *st, void *arg)
{
    struct as_pidfile *pf = arg;
    for (int i = 0; i < pf->nleft; i++) {
        struct leftover *l = &pf->left[i];
        if (!l->leader && !l->reused && st->pgid == l->pid && st->sid == l->sid &&
            st->state != 'Z' && pid != l->pid)
            l->here = 1;
    }
}

/* Finds what is left of each entry (pidfile.h); one scan of /proc for the groups whose leader
 * is gone. */
static void probe(struct as_pidfile *pf)
{
    int scan = 0;
    for (int i = 0; i < pf->nleft; i++) {
        struct leftover *l = &pf->left[i];
        struct as_proc_stat st;
        int found = as_proc_stat(l->pid, &st) == 0;
        l->reused = found && st.start_ticks != l->start;
        l->leader = found && !l->reused && st.state != 'Z';
        l->here = l->leader;
        l->ours = pf->handover && l->leader && st.ppid == getpid();
        l->pgid = l->leader ? st.pgid : l->pid;
        scan |= !l->leader && !l->reused;
    }
    if (scan && as_proc_each(probe_member, pf) < 0)
        for (int i = 0; i < pf->nleft; i++)
            pf->left[i].here |= !pf->left[i].reused; /* cannot tell: assume it is there */
}

static void signal_group(const struct leftover *l, int signo)
{
    kill(-l->pid, signo);
    if (l->leader && l->pgid != l->pid) /* the leader left its group: it is still ours */
        kill(l->pid, signo);
}

/* Sends what is due to one leftover. Returns 0 to keep it, -1 to give it up. */
static int push(struct as_pidfile *pf, struct leftover *l, int64_t now)
{
    if (l->ours)
        return 0;
    if (l->kill_ms > 0 && now - l->kill_ms >= AS_PIDFILE_GIVE_UP_MS) {
        AS_LOG(AS_ERROR, "%s: process group %ld survived SIGKILL for %d ms; giving up", pf->who,
               (long)l->pid, AS_PIDFILE_GIVE_UP_MS);
        return -1;
    }
    if (l->term_ms == 0) {
        signal_group(l, SIGTERM);
        l->term_ms = now;
    } else if (now - l->term_ms >= pf->grace_ms) {
        if (l->kill_ms == 0)
            AS_LOG(AS_WARN, "%s: process group %ld still there %lld ms after SIGTERM: SIGKILL",
                   pf->who, (long)l->pid, (long long)(now - l->term_ms));
        l->kill_ms = l->kill_ms ? l->kill_ms : now;
        signal_group(l, SIGKILL); /* again at each poll: a member forked meanwhile goes too */
    }
    return 0;
}

/* Drops what is gone and signals the rest. Returns whether anything was dropped. */
static int sweep_step(struct as_pidfile *pf, int64_t now)
{
    int kept = 0, n = pf->nleft;
    probe(pf);
    for (int i = 0; i < n; i++) {
        struct leftover *l = &pf->left[i];
        if (!l->here)
            AS_LOG(AS_INFO, "%s: worker %d (pid %ld) of a previous instance is gone", pf->who,
                   l->slot, (long)l->pid);
        if (l->here && push(pf, l, now) == 0)
            pf->left[kept++] = *l;
    }
    pf->nleft = kept;
    return kept != n;
}

static int64_t on_sweep(struct as_loop *loop, void *arg)
{
    struct as_pidfile *pf = arg;
    (void)loop;
    if (sweep_step(pf, as_mono_ms()))
        save(pf, NULL, 0, 0); /* the sweep runs before the instance starts anything */
    if (pf->nleft > 0)
        return AS_PIDFILE_POLL_MS;
    pf->sweep = NULL;
    AS_LOG(AS_INFO, "%s: the previous instance's workers are gone", pf->who);
    pf->swept(pf->arg); /* may close pf */
    return AS_TIMER_STOP;
}

/* ---- opening ---- */

/* Reads the entries of a pid file into pf->left. Returns 0, or -1 on ENOMEM. */
static int read_entries(struct as_pidfile *pf, FILE *f)
{
    char line[256];
    int cap = 0;
    while (fgets(line, sizeof(line), f) != NULL && pf->nleft < MAX_ENTRIES) {
        long pid, sid;
        unsigned long long start;
        int slot;
        if (sscanf(line, "%ld %llu %d %ld", &pid, &start, &slot, &sid) != 4 || pid <= 1 ||
            sid < 0 || start == 0) {
            AS_LOG(AS_ERROR, "%s: %s: bad line ignored", pf->who, pf->path);
            continue;
        }
        if (pf->nleft == cap) {
            cap = cap ? 2 * cap : 8;
            struct leftover *left = realloc(pf->left, (size_t)cap * sizeof(*left));
            if (left == NULL)
                return -1;
            pf->left = left;
        }
        pf->left[pf->nleft++] =
            (struct leftover){.pid = (pid_t)pid, .sid = (pid_t)sid, .start = start, .slot = slot};
    }
    return 0;
}

/* Whether pid is a live process started at start. */
static int alive(long pid, unsigned long long start)
{
    struct as_proc_stat st;
    return pid > 0 && as_proc_stat((pid_t)pid, &st) == 0 && st.start_ticks == start &&
           st.state != 'Z';
}

/* Reads what the file lists, unless it is from before a reboot or another running daemon
 * owns it. Returns 1 when the file is ours to take over, 0 when not, -1 on ENOMEM. */
static int load(struct as_pidfile *pf)
{
    struct header h;
    FILE *f = open_file(pf->path, &h);
    if (f == NULL && errno != ENOENT)
        AS_LOG(AS_ERROR, "%s: %s is not a pid file: replaced", pf->who, pf->path);
    if (f == NULL)
        return 1;
    int rc = 1;
    if (strcmp(h.boot, pf->boot) != 0) {
        AS_LOG(AS_INFO, "%s: %s is from before a reboot: ignored", pf->who, pf->path);
    } else if (h.pid != (long)getpid() && alive(h.pid, h.start)) {
        AS_LOG(AS_ERROR,
               "%s: %s belongs to a running daemon (pid %ld) with the same state_dir: its "
               "workers are left alone, and this pool keeps no pid file",
               pf->who, pf->path, h.pid);
        rc = 0;
    } else if (read_entries(pf, f) < 0) {
        rc = -1;
    }
    pf->handover = h.pid == (long)getpid();
    fclose(f);
    return rc;
}

/* Keeps what is still there, and logs what the file listed. */
static void sort(struct as_pidfile *pf)
{
    char list[512] = "";
    size_t used = 0;
    int kept = 0, n = pf->nleft;
    probe(pf);
    for (int i = 0; i < n; i++) {
        const struct leftover *l = &pf->left[i];
        if (l->reused)
            AS_LOG(AS_INFO, "%s: pid %ld (worker %d) is another process now: left alone", pf->who,
                   (long)l->pid, l->slot);
        if (!l->here)
            continue;
        int w = snprintf(list + used, sizeof(list) - used, "%s%ld%s", kept ? ", " : "",
                         (long)l->pid, l->leader ? "" : " (its group)");
        used += w > 0 && (size_t)w < sizeof(list) - used ? (size_t)w : 0;
        pf->left[kept++] = *l;
    }
    pf->nleft = kept;
    if (kept > 0)
        AS_LOG(AS_WARN,
               "%s: %d of %d worker(s) listed in %s by a previous instance still there (pids "
               "%s): stopping them before the pool runs",
               pf->who, kept, n, pf->path, list);
    else if (n > 0)
        AS_LOG(AS_INFO, "%s: none of the %d worker(s) listed in %s is still there", pf->who, n,
               pf->path);
}

static void read_boot_id(char *buf, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f == NULL || fscanf(f, "%39s", buf) != 1)
        snprintf(buf, len, "-");
    if (f != NULL)
        fclose(f);
}

static void free_pf(struct as_pidfile *pf)
{
    as_loop_cancel_timer(pf->loop, pf->sweep);
    free(pf->left);
    free(pf->path);
    free(pf->who);
    free(pf);
}

struct as_pidfile *as_pidfile_open(struct as_loop *loop, const char *path, const char *who,
                                   int64_t grace_ms, as_pidfile_swept_fn swept, void *arg,
                                   struct as_err *err)
{
    struct as_pidfile *pf = calloc(1, sizeof(*pf));
    if (pf == NULL) {
        as_err_set(err, "out of memory");
        return NULL;
    }
    *pf = (struct as_pidfile){.loop = loop,
                              .path = strdup(path),
                              .who = strdup(who),
                              .grace_ms = grace_ms,
                              .serial = ++instances,
                              .swept = swept,
                              .arg = arg};
    int rc = pf->path && pf->who ? 1 : -1;
    if (rc > 0 && as_proc_stat(getpid(), &pf->self) < 0) {
        AS_LOG(AS_ERROR, "%s: cannot read /proc (%s): no pid file", who, strerror(errno));
        rc = 0;
    }
    if (rc > 0) {
        read_boot_id(pf->boot, sizeof(pf->boot));
        rc = load(pf);
    }
    pf->off = rc == 0;
    if (rc > 0)
        sort(pf);
    if (pf->nleft > 0)
        sweep_step(pf, as_mono_ms()); /* the loop's clock may lag: grace is the full grace */
    if (pf->nleft > 0)
        pf->sweep = as_loop_add_timer(loop, AS_PIDFILE_POLL_MS, on_sweep, pf);
    if (rc < 0 || (pf->nleft > 0 && pf->sweep == NULL)) {
        free_pf(pf);
        as_err_set(err, "out of memory");
        return NULL;
    }
    save(pf, NULL, 0, 1);
    return pf;
}

int as_pidfile_left(const struct as_pidfile *pf)
{
    return pf ? pf->nleft : 0;
}

void as_pidfile_close(struct as_pidfile *pf)
{
    if (pf == NULL)
        return;
    if (pf->nleft == 0 && !pf->off && owned(pf) == 1)
        unlink(pf->path);
    free_pf(pf);
}
