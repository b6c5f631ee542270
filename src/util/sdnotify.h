/* systemd's service notification protocol (sd_notify(3)) without libsystemd: one datagram to
 * the Unix socket that $NOTIFY_SOCKET names, when the daemon runs under a Type=notify unit
 * (deploy/systemd/autoscaler.service). */
#ifndef AS_SDNOTIFY_H
#define AS_SDNOTIFY_H

/* Sends state (newline-separated assignments, e.g. "READY=1\nSTATUS=running 2 groups") to
 * $NOTIFY_SOCKET: a path, or "@name" for an abstract socket. Returns 1 when sent, 0 when
 * NOTIFY_SOCKET is unset or empty (not under systemd), or a negative errno (a name too long
 * or not absolute gives -EINVAL). Never blocks: a full socket queue is -EAGAIN. */
int as_sd_notify(const char *state);

#endif
