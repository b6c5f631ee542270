/* The process pool's status channel (scalers/process_status.h): the input as a worker's stream
 * of lines, fed whole and again in chunks whose sizes come from the first byte. Every line is
 * judged once, the same however it was cut, and a parsed one is BUSY or FREE with a task id that
 * fits, printable ASCII. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/process_status.h"

struct seen {
    unsigned long lines, good;
    unsigned long hash;
};

static void on_line(const struct as_status_line *line, const char *raw, size_t rawlen, void *arg)
{
    struct seen *s = arg;
    (void)raw;
    if (rawlen > AS_STATUS_LINE_MAX + 1)
        abort();
    s->lines++;
    if (line == NULL)
        return;
    size_t n = strnlen(line->task, AS_STATUS_TASK_MAX);
    if (n >= AS_STATUS_TASK_MAX || (line->state != AS_WSTATE_BUSY && line->state != AS_WSTATE_FREE))
        abort();
    if (line->state == AS_WSTATE_FREE && n != 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line->task[i] < 0x20 || (unsigned char)line->task[i] > 0x7e)
            abort();
    s->good++;
    s->hash = s->hash * 31 + line->state * 7 + n;
    for (size_t i = 0; i < n; i++)
        s->hash = s->hash * 31 + (unsigned char)line->task[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct as_status_reader r1 = {0}, r2 = {0};
    struct seen whole = {0}, cut = {0};
    as_status_feed(&r1, text, size, on_line, &whole);
    size_t step = size > 0 ? 1 + data[0] % 17 : 1;
    for (size_t at = 0; at < size; at += step)
        as_status_feed(&r2, text + at, size - at < step ? size - at : step, on_line, &cut);
    if (whole.lines != cut.lines || whole.good != cut.good || whole.hash != cut.hash)
        abort();
    struct as_status_line out;
    if (as_status_parse(text, size, &out) == 0 && out.state != AS_WSTATE_BUSY &&
        out.state != AS_WSTATE_FREE)
        abort();
    return 0;
}
