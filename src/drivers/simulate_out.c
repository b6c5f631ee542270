/* The outputs of `autoscaler simulate`: the table, JSON, the CSV timeline and the SVG plot.
 * Byte for byte the same for the same inputs. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "drivers/simulate_cmd.h"

static double ratio(const struct as_sim_report *r, const struct as_sim_series *s)
{
    if (r->oracle < 0 || r->series[r->oracle].res.cost_rs <= 0)
        return NAN;
    return s->res.cost_rs / r->series[r->oracle].res.cost_rs;
}

static double pct(const struct as_sim_result *res)
{
    return res->duration_s > 0 ? 100 * res->violating_s / res->duration_s : 0;
}

int as_sim_write_table(FILE *out, const struct as_sim_report *r)
{
    const struct as_sim_model *m = r->model;
    fprintf(out,
            "group %s, trace %s: %.0f s to %.0f s of the trace, %lld steps of %g s (warp %g)\n",
            r->group, r->trace, r->from_s, r->to_s, (long long)r->steps, r->step_s, r->warp);
    fprintf(out,
            "model: %g requests/s per replica, concurrency %d, startup %g s, SLO %s; load x%.6g "
            "(peak %.6g requests/s)\n\n",
            m->capacity, m->concurrency, (double)m->startup_ms / 1000, r->slo_text, r->load_scale,
            r->peak_rps);
    fprintf(out, "%-16s %14s %9s %10s %7s %10s %10s %10s %10s %7s\n", "policy", "cost (rep-s)",
            "x oracle", "violating", "scales", "mean ms", "max ms", "slo mean", "slo max",
            "max rep");
    for (size_t i = 0; i < r->nseries; i++) {
        const struct as_sim_series *s = &r->series[i];
        double x = ratio(r, s);
        char xs[32];
        snprintf(xs, sizeof(xs), isnan(x) ? "-" : "%.3f", x);
        fprintf(out, "%-16s %14.0f %9s %9.2f%% %7d %10.1f %10.1f %10.1f %10.1f %7d\n", s->name,
                s->res.cost_rs, xs, pct(&s->res), s->res.scale_events, s->res.lat_mean_ms,
                s->res.lat_max_ms, s->res.slo_lat_mean_ms, s->res.slo_lat_max_ms,
                s->res.max_replicas);
    }
    return ferror(out) ? -1 : 0;
}

static int set_num(json_t *o, const char *key, double v)
{
    return json_object_set_new(o, key, isfinite(v) ? json_real(v) : json_null());
}

static json_t *series_json(const struct as_sim_report *r, const struct as_sim_series *s)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = json_object_set_new(o, "policy", json_string(s->name));
    rc |= set_num(o, "cost_replica_seconds", s->res.cost_rs);
    rc |= set_num(o, "cost_ratio_to_oracle", ratio(r, s));
    rc |= set_num(o, "violating_seconds", s->res.violating_s);
    rc |= set_num(o, "violating_percent", pct(&s->res));
    rc |= json_object_set_new(o, "scale_events", json_integer(s->res.scale_events));
    rc |= set_num(o, "latency_mean_ms", s->res.lat_mean_ms);
    rc |= set_num(o, "latency_max_ms", s->res.lat_max_ms);
    rc |= set_num(o, "slo_latency_mean_ms", s->res.slo_lat_mean_ms);
    rc |= set_num(o, "slo_latency_max_ms", s->res.slo_lat_max_ms);
    rc |= json_object_set_new(o, "max_replicas", json_integer(s->res.max_replicas));
    rc |= set_num(o, "offered_requests", s->res.offered);
    rc |= set_num(o, "served_requests", s->res.served);
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *model_json(const struct as_sim_report *r)
{
    const struct as_sim_model *m = r->model;
    return json_pack("{s:f,s:i,s:f,s:f,s:f,s:s}", "capacity", m->capacity, "concurrency",
                     m->concurrency, "startup_s", (double)m->startup_ms / 1000, "slo_percentile",
                     m->slo_pct, "slo_latency_ms", m->slo_ms, "slo", r->slo_text);
}

int as_sim_write_json(FILE *out, const struct as_sim_report *r)
{
    json_t *list = json_array(), *model = model_json(r);
    json_t *doc = json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:I,s:f,s:f}", "group", r->group, "trace",
                            r->trace, "from_s", r->from_s, "to_s", r->to_s, "step_s", r->step_s,
                            "warp", r->warp, "steps", (json_int_t)r->steps, "load_scale",
                            r->load_scale, "peak_rps", r->peak_rps);
    int rc = -1;
    if (list == NULL || model == NULL || doc == NULL)
        goto out;
    for (size_t i = 0; i < r->nseries; i++)
        if (json_array_append_new(list, series_json(r, &r->series[i])) < 0)
            goto out;
    if (json_object_set(doc, "model", model) < 0 || json_object_set(doc, "policies", list) < 0 ||
        json_dumpf(doc, out, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0)
        goto out;
    fputc('\n', out);
    rc = ferror(out) ? -1 : 0;
out:
    json_decref(list);
    json_decref(model);
    json_decref(doc);
    return rc;
}

void as_sim_csv_header(FILE *out)
{
    fputs("policy,t,load,replicas,serving,desired,latency_mean_ms,latency_slo_ms,utilization,"
          "queue,concurrency,throughput\n",
          out);
}

void as_sim_csv_row(FILE *out, const char *policy, const struct as_sim_step *s)
{
    const struct as_sim_point *p = s->pt;
    fprintf(out, "%s,%.10g,%.6g,%d,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", policy, s->t_s, s->load,
            s->replicas, s->serving, s->desired, p->lat_mean, p->lat_slo, p->util, p->queue,
            p->inflight, p->throughput);
}

/* ---- SVG ---- */

#define W 1000
#define H 520
#define L 70 /* plot margins */
#define R 80
#define T 40
#define B 110

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* A round step for about n ticks up to max. */
static double nice_step(double max, int n)
{
    double raw = max / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void xml_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else if (*s == '"')
            fputs("&quot;", out);
        else
            fputc(*s, out);
    }
}

struct frame {
    double xmax, rmax, lmax; /* time (s), replicas, load */
    double xscale;           /* seconds per unit shown */
    const char *xunit;
};

static double px(const struct frame *f, double t)
{
    return L + (W - L - R) * (f->xmax > 0 ? t / f->xmax : 0);
}

static double py(double v, double max)
{
    return T + (H - T - B) * (1 - (max > 0 ? v / max : 0));
}

static void axes(FILE *out, const struct frame *f)
{
    double xs = nice_step(f->xmax / f->xscale, 8), rs = nice_step(f->rmax, 6);
    double ls = nice_step(f->lmax, 6);
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#333\">\n");
    for (double x = 0; x <= f->xmax / f->xscale + 1e-9; x += xs)
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                px(f, x * f->xscale), T, px(f, x * f->xscale), H - B, px(f, x * f->xscale),
                H - B + 18, x);
    for (double v = 0; v <= f->rmax + 1e-9; v += rs)
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                L, py(v, f->rmax), W - R, py(v, f->rmax), L - 6, py(v, f->rmax) + 4, v);
    for (double v = 0; v <= f->lmax + 1e-9; v += ls)
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" fill=\"#888\">%g</text>\n", W - R + 6,
                py(v, f->lmax) + 4, v);
    fprintf(out,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n"
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time (%s)</text>\n"
            "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">replicas"
            "</text>\n"
            "<text transform=\"translate(%d %d) rotate(90)\" text-anchor=\"middle\" "
            "fill=\"#888\">load (requests/s)</text>\n</g>\n",
            L, T, W - L - R, H - T - B, (L + W - R) / 2, H - B + 40, f->xunit, (T + H - B) / 2,
            W - 14, (T + H - B) / 2);
}

static void load_area(FILE *out, const struct as_sim_report *r, const struct frame *f)
{
    double dt = r->step_s * (double)r->per_point;
    fprintf(out, "<path fill=\"#ddd\" stroke=\"none\" d=\"M%.1f %.1f", px(f, 0), py(0, 1));
    for (size_t i = 0; i < r->npoints; i++)
        fprintf(out, " L%.1f %.1f L%.1f %.1f", px(f, (double)i * dt), py(r->load[i], f->lmax),
                px(f, (double)(i + 1) * dt), py(r->load[i], f->lmax));
    fprintf(out, " L%.1f %.1f Z\"/>\n", px(f, (double)r->npoints * dt), py(0, 1));
}

static void series_line(FILE *out, const struct as_sim_report *r, const struct frame *f, size_t k)
{
    double dt = r->step_s * (double)r->per_point;
    const int *v = r->series[k].replicas;
    fprintf(out, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"",
            colors[k % (sizeof(colors) / sizeof(colors[0]))]);
    for (size_t i = 0; i < r->npoints; i++)
        fprintf(out, "%s%.1f %.1f L%.1f %.1f", i ? " L" : "M", px(f, (double)i * dt),
                py(v[i], f->rmax), px(f, (double)(i + 1) * dt), py(v[i], f->rmax));
    fprintf(out, "\"/>\n");
}

static void legend(FILE *out, const struct as_sim_report *r)
{
    int y = H - B + 62;
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#333\">\n");
    fprintf(out,
            "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"10\" fill=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%d\">load</text>\n",
            L, y, L + 18, y + 10);
    for (size_t k = 0; k < r->nseries; k++) {
        int x = L + 90 + (int)(k % 6) * 130, yy = y + (int)(k / 6) * 18;
        fprintf(out,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\">",
                x, yy + 5, x + 16, yy + 5, colors[k % (sizeof(colors) / sizeof(colors[0]))], x + 20,
                yy + 10);
        xml_text(out, r->series[k].name);
        fputs("</text>\n", out);
    }
    fputs("</g>\n", out);
}

int as_sim_write_svg(FILE *out, const struct as_sim_report *r)
{
    struct frame f = {.xmax = r->step_s * (double)r->steps, .rmax = 1, .lmax = 0};
    for (size_t k = 0; k < r->nseries; k++)
        for (size_t i = 0; i < r->npoints; i++)
            f.rmax = r->series[k].replicas[i] > f.rmax ? r->series[k].replicas[i] : f.rmax;
    for (size_t i = 0; i < r->npoints; i++)
        f.lmax = r->load[i] > f.lmax ? r->load[i] : f.lmax;
    f.lmax = f.lmax > 0 ? f.lmax * 1.05 : 1;
    f.rmax *= 1.05;
    f.xscale = f.xmax > 2 * 86400 ? 86400 : f.xmax > 3 * 3600 ? 3600 : f.xmax > 180 ? 60 : 1;
    f.xunit = f.xscale == 86400  ? "days"
              : f.xscale == 3600 ? "hours"
              : f.xscale == 60   ? "minutes"
                                 : "seconds";
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"24\" font-family=\"sans-serif\" font-size=\"15\" fill=\"#111\">",
            W, H, W, H, L);
    fputs("autoscaler simulate: ", out);
    xml_text(out, r->group);
    fputs(" on ", out);
    xml_text(out, r->trace);
    fputs(" (SLO ", out);
    xml_text(out, r->slo_text);
    fputs(")</text>\n", out);
    axes(out, &f);
    load_area(out, r, &f);
    for (size_t k = 0; k < r->nseries; k++)
        series_line(out, r, &f, k);
    legend(out, r);
    fputs("</svg>\n", out);
    return ferror(out) ? -1 : 0;
}
