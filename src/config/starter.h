/* The commented starter configuration that `autoscaler init` writes. */
#ifndef AS_STARTER_H
#define AS_STARTER_H

extern const char as_starter_config[];

#endif
