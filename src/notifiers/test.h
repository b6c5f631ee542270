/* Notifier `test`: records every delivery attempt in memory, and fails, answers late or hangs
 * as told. For the dispatcher's unit tests (tests/unit/test_notify.c), which read the records
 * through as_notify_state(). */
#ifndef AS_NOTIFIER_TEST_H
#define AS_NOTIFIER_TEST_H

#include <stdint.h>

#include "core/event.h"
#include "core/plugin.h"

#define AS_TEST_RECORDS 256

struct as_test_record {
    enum as_ev_kind kind;
    char group[AS_EV_NAME_MAX];
    char text[512];
    int from, to;
    unsigned long repeats;
    int64_t at_ms; /* loop time of the attempt */
    int ok;        /* the attempt was answered with success */
};

struct as_test_notifier {
    int fail;         /* the first `fail` attempts fail */
    int permanent;    /* and their failures are permanent */
    int64_t delay_ms; /* each answer comes this late */
    int hang;         /* no answer at all (the dispatcher's deadline cancels) */
    /* runtime */
    struct as_ctx ctx;
    struct as_timer *timer;
    as_notify_cb done;
    void *arg;
    struct as_notify_result result;
    int attempts, cancels, stopped;
    size_t n; /* records kept (the first AS_TEST_RECORDS attempts) */
    struct as_test_record rec[AS_TEST_RECORDS];
};

#endif
