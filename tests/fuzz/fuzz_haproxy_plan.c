/* The haproxy scaler's planning (src/scalers/haproxy_plan.c) on views made from the input:
 * each 4 bytes make one entry (state, origin, its server's presence, admin flags, sessions,
 * weight, ages), then the count asked. Whatever the view, a plan never touches a server that
 * has no entry (not ours), never deletes a server before its entry is written deprovisioning
 * (or was), never shuts sessions down on a drain younger than drain_timeout whose entry is not
 * deprovisioning, and never drains and removes the same server in one plan; the count is at
 * most the entries and records. Violations abort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/haproxy_plan.h"

#define MAX 16
#define NOW 1700000600000LL

static const struct as_host_entry *entry_of(const struct as_hosts *h, const char *cmd)
{
    const char *slash = strchr(cmd, '/');
    if (slash == NULL)
        abort();
    char name[AS_HOST_NAME_MAX];
    size_t n = strcspn(slash + 1, " ");
    if (n >= sizeof(name))
        abort();
    memcpy(name, slash + 1, n);
    name[n] = '\0';
    return as_hosts_find(h, name);
}

static void check(const struct as_haproxy_opts *o, const struct hap_view *v,
                  const struct hap_plan *p)
{
    int written_deprov[MAX * 2] = {0}, drained[MAX * 2] = {0};
    for (size_t i = 0; i < p->n; i++) {
        const struct hap_step *s = &p->v[i];
        const struct as_host_entry *e = NULL;
        if (s->kind == HAP_CMD) {
            e = entry_of(v->hosts, s->cmd);
            if (e == NULL) /* a server that is not ours */
                abort();
        } else if (s->kind != HAP_PROV_NEW && s->kind != HAP_PROV_RESUME) {
            e = as_hosts_find(v->hosts, s->e.name);
            if (e == NULL)
                abort();
        }
        size_t k = e ? (size_t)(e - v->hosts->v) : 0;
        if (s->kind == HAP_WRITE && s->e.state == AS_HOST_DEPROVISIONING)
            written_deprov[k] = 1;
        if (s->kind == HAP_WRITE && s->e.state == AS_HOST_DRAINING)
            drained[k] = 1; /* drained by this plan */
        int removing = e && (e->state == AS_HOST_DEPROVISIONING || written_deprov[k]);
        if (s->kind == HAP_CMD && strncmp(s->cmd, "del server", 10) == 0 && !removing)
            abort();
        if ((s->kind == HAP_DEPROV) && !removing)
            abort();
        if (s->kind == HAP_CMD && strncmp(s->cmd, "shutdown sessions", 17) == 0 &&
            e->state != AS_HOST_DEPROVISIONING && v->now_ms - e->since_ms < o->drain_timeout)
            abort();
        if (drained[k] && removing)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *sopts[] = {"check", NULL};
    struct as_haproxy_opts o = {.backend = "app",
                                .server_options = sopts,
                                .weight = 1,
                                .drain_timeout = 300000,
                                .remove = size & 1};
    struct as_host_entry e[MAX];
    struct as_hart_server s[MAX + 1];
    struct as_host_prov pr[2] = {{.id = "p1-aa"}, {.id = "p2-bb"}};
    size_t ne = 0, ns = 0;
    char why[100];
    for (size_t i = 0; i + 4 <= size && ne < MAX; i += 4, ne++) {
        const uint8_t *b = data + i;
        char host[32], port[8];
        snprintf(host, sizeof(host), "10.0.%u.%u", b[0] % 4, (unsigned)ne);
        snprintf(port, sizeof(port), "%u", 80 + b[1] % 3);
        if (as_host_entry_init(&e[ne], host, port, b[3] % 3, (b[0] >> 2) & 1, why, 100) < 0)
            abort();
        e[ne].state = ((b[0] >> 3) & 3) % 3;
        e[ne].added_ms = NOW - (b[2] % 8) * 1000;
        e[ne].since_ms = e[ne].state ? NOW - (b[2] >> 3) * 20000 : 0;
        if (b[1] & 0x80)
            continue; /* not in the backend */
        struct as_hart_server *sv = &s[ns++];
        memset(sv, 0, sizeof(*sv));
        snprintf(sv->name, sizeof(sv->name), "%s", e[ne].name);
        sv->admin = (b[1] >> 2) & 0x2f;
        sv->scur = (long)(b[3] >> 4) - 1;
        sv->qcur = b[3] & 8 ? 1 : 0;
        sv->weight = b[3] % 3;
    }
    /* entries sorted by name, as as_hosts_load leaves them; names must be unique */
    for (size_t i = 1; i < ne; i++)
        for (size_t j = i; j > 0 && strcmp(e[j - 1].name, e[j].name) >= 0; j--) {
            if (strcmp(e[j - 1].name, e[j].name) == 0)
                return 0;
            struct as_host_entry t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    snprintf(s[ns].name, sizeof(s[ns].name), "static1"); /* never ours */
    ns++;
    struct as_hosts h = {.v = e, .n = ne, .prov = pr, .nprov = size % 3 == 0 ? 2 : 0};
    struct hap_view v = {.hosts = &h, .srv = s, .nsrv = ns, .now_ms = NOW};
    if (hap_count(&v) > (int)(ne + h.nprov))
        abort();
    int want = size > 0 ? (int)(data[size - 1] % 20) - 2 : -1;
    struct hap_plan p = {0};
    if (hap_plan(&o, &v, want < -1 ? -1 : want, &p) < 0)
        abort();
    check(&o, &v, &p);
    hap_plan_free(&p);
    return 0;
}
