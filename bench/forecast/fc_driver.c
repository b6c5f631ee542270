/* The predictive policy's forecaster (src/policies/forecast.c, the shipped code) over one
 * trace, for bench/forecast/forecast.py:
 *   fc_driver STEP_S LEAD_S DAILY WEEKLY HISTORY_S MAX_ERROR < values
 * reads one demand a line (row i is the mean over [i STEP, (i+1) STEP), known at its end) and
 * writes, per row, the forecast for LEAD_S after that end and whether the policy would trust
 * it (history and max_error, as src/policies/predictive.c decides): "F T". */
#include <stdio.h>
#include <stdlib.h>

#include "policies/forecast.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: fc_driver STEP_S LEAD_S DAILY WEEKLY HISTORY_S MAX_ERROR\n");
        return 2;
    }
    double step = atof(argv[1]);
    struct as_fc_params p = {(int64_t)(atof(argv[2]) * 1000), atoi(argv[3]), atoi(argv[4])};
    int64_t history = (int64_t)(atof(argv[5]) * 1000);
    double max_error = atof(argv[6]), v;
    static struct as_fc s;
    for (long i = 0; scanf("%lf", &v) == 1; i++) {
        int64_t now = (int64_t)((double)(i + 1) * step * 1000);
        as_fc_learn(&s, &p, now, now, v);
        double f = as_fc_forecast(&s, &p, now);
        int trust = s.learned_ms >= history && !(s.nev >= 8 && s.ef > max_error);
        printf("%.6g %d\n", f, trust);
    }
    return 0;
}
