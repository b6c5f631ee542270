/* A model of HAProxy 2.6's Runtime API for test_haproxy.c: one backend "app" on a UNIX socket,
 * served by a thread, answering the commands the scaler sends as HAProxy does (the answers
 * and admin flags of the management guide, section 9.3, as seen on 2.6.12), plus two faults:
 * `garbage` (that text for every command) and `hang` (no answer until the client closes). */
#ifndef AS_TEST_HAPROXY_FAKE_H
#define AS_TEST_HAPROXY_FAKE_H

#define FAKE_MAX 32

struct fake_server {
    char name[128], addr[64];
    int port, weight;
    unsigned admin;
    long scur;
};

struct fake {
    char path[108];
    int fd, stop;
    pthread_t thread;
    pthread_mutex_t mu;
    struct fake_server v[FAKE_MAX];
    int n;
    const char *garbage;
    int hang;
    int commands;
};

static struct fake_server *fake_find(struct fake *fk, const char *name)
{
    for (int i = 0; i < fk->n; i++)
        if (strcmp(fk->v[i].name, name) == 0)
            return &fk->v[i];
    return NULL;
}

static void fake_add(struct fake *fk, const char *name, unsigned admin, long scur)
{
    struct fake_server *s = &fk->v[fk->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->addr, sizeof(s->addr), "10.9.9.9");
    s->port = 80;
    s->weight = 1;
    s->admin = admin;
    s->scur = scur;
}

static void fake_state(struct fake *fk, struct as_sb *out)
{
    as_sb_puts(out, "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
                    "srv_uweight srv_iweight srv_time_since_last_change srv_check_status "
                    "srv_check_result srv_check_health srv_check_state srv_agent_state "
                    "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
                    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
    for (int i = 0; i < fk->n; i++)
        as_sb_printf(out, "3 app %d %s %s 2 %u %d %d 0 1 0 2 2 0 0 0 - %d - 0 0 - - 0\n", i + 1,
                     fk->v[i].name, fk->v[i].addr, fk->v[i].admin, fk->v[i].weight, fk->v[i].weight,
                     fk->v[i].port);
    as_sb_puts(out, "\n");
}

static void fake_stat(struct fake *fk, struct as_sb *out)
{
    as_sb_puts(out, "# pxname,svname,qcur,qmax,scur,smax,status,weight,bck\n");
    for (int i = 0; i < fk->n; i++)
        as_sb_printf(out, "app,%s,0,0,%ld,0,%s,%d,0\n", fk->v[i].name, fk->v[i].scur,
                     fk->v[i].admin & 1   ? "MAINT"
                     : fk->v[i].admin & 8 ? "DRAIN"
                                          : "UP",
                     fk->v[i].weight);
    as_sb_puts(out, "\n");
}

/* The answer to one command line. */
static void fake_answer(struct fake *fk, char *cmd, struct as_sb *out)
{
    char name[128] = "", arg[64] = "", arg2[64] = "";
    struct fake_server *s;
    cmd[strcspn(cmd, "\n")] = '\0';
    if (strcmp(cmd, "show servers state app") == 0) {
        fake_state(fk, out);
    } else if (strcmp(cmd, "show stat app 4 -1") == 0) {
        fake_stat(fk, out);
    } else if (sscanf(cmd, "add server app/%127s %63s weight %63s", name, arg, arg2) == 3) {
        if (strncmp(name, "10.0.0.99_", 10) == 0) { /* an address HAProxy refuses */
            as_sb_puts(out, "'server app/10.0.0.99_80' : invalid address: '10.0.0.99:80'\n");
            return;
        }
        if (fake_find(fk, name) != NULL) {
            as_sb_puts(out, "Already exists a server with the same name in backend.\n");
            return;
        }
        fake_add(fk, name, 1, 0);
        s = fake_find(fk, name);
        s->weight = atoi(arg2);
        as_sb_puts(out, "New server registered.\n");
    } else if (sscanf(cmd, "enable health app/%127s", name) == 1 ||
               sscanf(cmd, "enable server app/%127s", name) == 1 ||
               sscanf(cmd, "shutdown sessions server app/%127s", name) == 1 ||
               sscanf(cmd, "set server app/%127s %63s %63s", name, arg, arg2) == 3 ||
               sscanf(cmd, "del server app/%127s", name) == 1) {
        if ((s = fake_find(fk, name)) == NULL) {
            as_sb_puts(out, "No such server.\n");
        } else if (strncmp(cmd, "enable server", 13) == 0) {
            s->admin &= ~1u;
        } else if (strncmp(cmd, "shutdown", 8) == 0) {
            s->scur = 0;
        } else if (strncmp(cmd, "del server", 10) == 0) {
            if (!(s->admin & 1)) {
                as_sb_puts(out, "Only servers in maintenance mode can be deleted.\n");
                return;
            }
            *s = fk->v[--fk->n];
            as_sb_puts(out, "Server deleted.\n");
        } else if (strcmp(arg, "weight") == 0) {
            s->weight = atoi(arg2);
        } else if (strcmp(arg2, "ready") == 0) {
            s->admin &= ~9u;
        } else if (strcmp(arg2, "drain") == 0) {
            s->admin = (s->admin & ~1u) | 8u;
        } else if (strcmp(arg2, "maint") == 0) {
            s->admin |= 1u;
        }
        as_sb_puts(out, "\n");
    } else {
        as_sb_puts(out, "Unknown command.\n");
    }
}

static void *fake_serve(void *arg)
{
    struct fake *fk = arg;
    for (;;) {
        char cmd[1100];
        int c = accept(fk->fd, NULL, NULL);
        if (c < 0 || fk->stop) {
            if (c >= 0)
                close(c);
            return NULL;
        }
        ssize_t n = read(c, cmd, sizeof(cmd) - 1);
        cmd[n > 0 ? n : 0] = '\0';
        struct as_sb out = {0};
        pthread_mutex_lock(&fk->mu);
        fk->commands++;
        int hang = fk->hang;
        if (fk->garbage != NULL)
            as_sb_puts(&out, fk->garbage);
        else if (!hang)
            fake_answer(fk, cmd, &out);
        pthread_mutex_unlock(&fk->mu);
        if (hang)
            while (read(c, cmd, sizeof(cmd)) > 0)
                ;
        else if (out.len > 0 && write(c, out.buf, out.len) < 0)
            perror("fake");
        as_sb_free(&out);
        close(c);
    }
}

static void fake_start(struct fake *fk)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memset(fk, 0, sizeof(*fk));
    pthread_mutex_init(&fk->mu, NULL);
    snprintf(fk->path, sizeof(fk->path), "/tmp/as-test-haproxy-%d.sock", (int)getpid());
    unlink(fk->path);
    strcpy(un.sun_path, fk->path);
    fk->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fk->fd, (struct sockaddr *)&un, sizeof(un)), 0);
    assert_int_equal(listen(fk->fd, 16), 0);
    assert_int_equal(pthread_create(&fk->thread, NULL, fake_serve, fk), 0);
}

static void fake_stop(struct fake *fk)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    fk->stop = 1;
    fk->hang = 0;
    strcpy(un.sun_path, fk->path);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&un, sizeof(un)) < 0)
        perror("fake_stop");
    close(c);
    pthread_join(fk->thread, NULL);
    close(fk->fd);
    unlink(fk->path);
    pthread_mutex_destroy(&fk->mu);
}

#endif
