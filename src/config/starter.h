/* The commented starter files that `autoscaler init` writes. */
#ifndef AS_STARTER_H
#define AS_STARTER_H

extern const char as_starter_config[];

/* `autoscaler init --selfhosted DIR` (docs/selfhosted.md): the configuration (the agents
 * source and the haproxy scaler), the HAProxy template, and placeholder provision.sh and
 * deprovision.sh. */
extern const char as_starter_selfhosted_config[];
extern const char as_starter_selfhosted_template[];
extern const char as_starter_selfhosted_provision[];
extern const char as_starter_selfhosted_deprovision[];

#endif
