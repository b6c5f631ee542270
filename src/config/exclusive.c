/* Resources only one group may use (a listening port): checked across the whole
 * configuration, once every group is parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

struct claim {
    char key[96];
    size_t group;
};

static int by_claim(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->group > y->group) - (x->group < y->group);
}

int as_config_check_exclusive(const struct as_config *cfg, const char *file, struct as_err *err)
{
    size_t n = 0, cap = 0;
    struct claim *v = NULL;
    int rc = 0;
    for (size_t i = 0; i < cfg->ngroups; i++)
        for (size_t k = 0; k < cfg->groups[i].nmetrics; k++) {
            const struct as_metric_cfg *m = &cfg->groups[i].metrics[k];
            if (m->ops->exclusive == NULL)
                continue;
            if (n == cap) {
                struct claim *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*nv));
                if (nv == NULL) {
                    free(v);
                    return as_err_set(err, "out of memory");
                }
                v = nv;
            }
            if (m->ops->exclusive(m->state, v[n].key, sizeof(v[n].key)) == 0)
                v[n++].group = i;
        }
    if (n > 1)
        qsort(v, n, sizeof(*v), by_claim);
    for (size_t j = 1; rc == 0 && j < n; j++) {
        if (strcmp(v[j].key, v[j - 1].key) != 0 || v[j].group == v[j - 1].group)
            continue;
        const struct as_group_cfg *a = &cfg->groups[v[j - 1].group], *b = &cfg->groups[v[j].group];
        rc = as_err_at(err, file, b->line, b->col,
                       "group '%s' uses %s, as group '%s' (line %d) does: only one group may",
                       b->name, v[j].key, a->name, a->line);
    }
    free(v);
    return rc;
}
