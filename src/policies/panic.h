/* Policy `panic`: the Knative Pod Autoscaler's decision, as `autoscaler.Scale` in knative/serving
 * pkg/autoscaler/scaling/autoscaler.go computes it (stable and panic windows, panic mode that
 * never scales down, scale-up and scale-down rate limits, scale-down delay, excess burst
 * capacity). See docs/policies/panic.md. */
#ifndef AS_POLICY_PANIC_H
#define AS_POLICY_PANIC_H

#include "core/decide.h"

/* The ops table (name "panic"); registered by src/core/registry.c. */
extern const struct as_policy_ops as_policy_panic_ops;

/* Excess burst capacity as Knative reports it (it never changes the decision):
 *   tbc == 0 -> 0;  tbc < 0 (-1, unlimited) -> -1;
 *   tbc > 0  -> floor(ready * total_value - tbc - panic_value)
 * ready is the ready count as measured (0 stays 0 here, unlike the rate limits); total_value is
 * one replica's full capacity (target / target_utilization). Pure. */
double as_panic_ebc(double tbc, double total_value, int ready, double panic_value);

#endif
