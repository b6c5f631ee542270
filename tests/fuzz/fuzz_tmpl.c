/* The notification template language (util/tmpl.h) over the event fields (core/event.h), on
 * arbitrary bytes: a compile either fails with a message and an offset inside the text, or
 * gives a template that renders any event (one with every field set and one with none) into
 * at most AS_TMPL_OUT_MAX bytes. Any other outcome aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "util/tmpl.h"

static void check_render(const struct as_tmpl *t, const struct as_ev *ev)
{
    struct as_sb out = {0};
    struct as_ev_view view = {ev, "fuzz"};
    if (as_tmpl_render(t, as_ev_field, &view, &out) != 0 || out.buf == NULL ||
        out.len > AS_TMPL_OUT_MAX || strlen(out.buf) != out.len)
        abort();
    as_sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL just ends the template early */
    struct as_tmpl *t = NULL;
    char msg[160] = "";
    size_t at = 0;
    if (as_tmpl_compile(text, as_ev_field_known, &t, &at, msg, sizeof(msg)) < 0) {
        if (t != NULL || msg[0] == '\0' || at > strlen(text))
            abort();
    } else {
        struct as_ev full, empty;
        as_ev_init(&full, AS_EV_MEASUREMENT, "web", 1795388968253LL);
        full.from = 3;
        full.to = full.wanted = 4;
        full.min = 1;
        full.max = 10;
        full.repeats = 7;
        full.nmetrics = AS_EV_METRICS_MAX;
        for (size_t i = 0; i < AS_EV_METRICS_MAX; i++)
            full.metrics[i] = (struct as_ev_metric){"m", (int)(i % 2), 1e300, 0.5, (int)(i % 3)};
        memset(full.reason, 'r', sizeof(full.reason) - 1);
        memcpy(full.metric, "cpu", 4);
        as_ev_init(&empty, AS_EV_PAUSED, "", 0);
        check_render(t, &full);
        check_render(t, &empty);
        as_tmpl_free(t);
    }
    free(text);
    return 0;
}
