#include "core/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/decide.h"
#include "core/util.h"

#define AS_REPLAY_COLS 64
#define AS_REPLAY_LINE 8192

/* Splits a CSV line in place (no quoting: recorded numbers only). Returns the cell count. */
static size_t split(char *line, char **cells, size_t max)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line;
    while (n < max) {
        cells[n++] = p;
        char *comma = strchr(p, ',');
        if (comma == NULL)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    for (size_t i = 0; i < n; i++) { /* trim spaces */
        while (*cells[i] == ' ')
            cells[i]++;
        size_t len = strlen(cells[i]);
        while (len > 0 && cells[i][len - 1] == ' ')
            cells[i][--len] = '\0';
    }
    return n;
}

struct columns {
    int t, replicas;
    int metric[AS_REPLAY_COLS]; /* column of g->metrics[i] */
    size_t ncells;
};

static int map_header(const struct as_group_cfg *g, char *line, const char *name, struct columns *c,
                      struct as_err *err)
{
    char *cells[AS_REPLAY_COLS];
    size_t n = split(line, cells, AS_REPLAY_COLS);
    c->t = c->replicas = -1;
    c->ncells = n;
    if (g->nmetrics > AS_REPLAY_COLS)
        return as_err_at(err, name, 1, 1, "too many metrics for replay");
    for (size_t i = 0; i < g->nmetrics; i++)
        c->metric[i] = -1;
    for (size_t k = 0; k < n; k++) {
        if (strcmp(cells[k], "t") == 0)
            c->t = (int)k;
        else if (strcmp(cells[k], "replicas") == 0)
            c->replicas = (int)k;
        for (size_t i = 0; i < g->nmetrics; i++)
            if (strcmp(cells[k], g->metrics[i].name) == 0)
                c->metric[i] = (int)k;
    }
    if (c->t < 0)
        return as_err_at(err, name, 1, 1, "the header has no 't' column");
    for (size_t i = 0; i < g->nmetrics; i++)
        if (c->metric[i] < 0)
            return as_err_at(err, name, 1, 1, "the header has no column for metric '%s'",
                             g->metrics[i].name);
    return 0;
}

static void csv_quote(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int parse_row(const struct as_group_cfg *g, const struct columns *c, char **cells, size_t n,
                     struct as_metric_obs *obs, int *replicas, double *t)
{
    if (n != c->ncells || as_parse_double(cells[c->t], t) < 0)
        return -1;
    *replicas = -1;
    long r;
    if (c->replicas >= 0 && cells[c->replicas][0] != '\0') {
        if (as_parse_long(cells[c->replicas], &r) < 0 || r < 0 || r > 1000000000L)
            return -1;
        *replicas = (int)r;
    }
    for (size_t i = 0; i < g->nmetrics; i++) {
        const char *v = cells[c->metric[i]];
        double d;
        obs[i] = (struct as_metric_obs){0};
        if (v[0] == '\0' || strcmp(v, "null") == 0 || strcasecmp(v, "nan") == 0)
            continue; /* failed measurement */
        if (as_parse_double(v, &d) < 0)
            return -1;
        obs[i].ok = d >= 0; /* a negative reading is garbage, as in http_json */
        obs[i].value = d;
    }
    return 0;
}

int as_replay_csv(const struct as_group_cfg *g, FILE *in, const char *name, FILE *out,
                  struct as_err *err)
{
    char line[AS_REPLAY_LINE];
    struct columns c;
    struct as_group_state st = {0};
    struct as_metric_obs obs[AS_REPLAY_COLS];
    if (fgets(line, sizeof(line), in) == NULL)
        return as_err_at(err, name, 1, 1, "empty input: expected a header t,replicas,<metric>...");
    if (map_header(g, line, name, &c, err) < 0)
        return -1;
    fputs("t,current,desired,reason\n", out);
    int previous = g->min;
    for (int lineno = 2; fgets(line, sizeof(line), in) != NULL; lineno++) {
        if (line[strspn(line, " \r\n")] == '\0')
            continue;
        char *cells[AS_REPLAY_COLS];
        size_t n = split(line, cells, AS_REPLAY_COLS);
        int replicas;
        double t;
        if (parse_row(g, &c, cells, n, obs, &replicas, &t) < 0) {
            as_group_state_free(&st);
            return as_err_at(err, name, lineno, 1,
                             "bad row: expected %zu cells: t (seconds), "
                             "replicas (whole number or empty), metric values (number or empty)",
                             c.ncells);
        }
        struct as_obs o = {.now_ms = (int64_t)llround(t * 1000.0),
                           .current = replicas >= 0 ? replicas : previous,
                           .n = g->nmetrics,
                           .m = obs};
        struct as_decision d;
        as_decide(g, &st, &o, &d);
        fprintf(out, "%s,%d,%d,", cells[c.t], o.current, d.desired);
        csv_quote(out, d.reason);
        fputc('\n', out);
        as_decide_scaled(g, &st, o.now_ms, o.current, d.desired); /* replay: every scale lands */
        previous = d.desired;
    }
    as_group_state_free(&st);
    if (ferror(in))
        return as_err_set(err, "%s: read error", name);
    return 0;
}
