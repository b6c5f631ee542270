/* Where the `kubernetes` scaler finds the API server and how it proves who it is: a kubeconfig
 * file (clientcmd's format, as kubectl reads it) or the pod's service account (in-cluster, as
 * client-go's rest.InClusterConfig). And the bearer token file, re-read when it rotates. A
 * helper of scalers/kubernetes.c (no ops table); fuzzed in tests/fuzz/fuzz_kubeconfig.c.
 *
 * Followed: "Organizing Cluster Access Using kubeconfig Files"
 * (https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/), the
 * kubeconfig (v1) reference (https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/),
 * and "Accessing the Kubernetes API from a Pod"
 * (https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/). */
#ifndef AS_SCALERS_KUBERNETES_AUTH_H
#define AS_SCALERS_KUBERNETES_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* The API server and the credentials. Every string is owned (NULL: not given); free with
 * k8s_auth_free. Paths are absolute or relative to the daemon's working directory. */
struct k8s_auth {
    char *server;     /* https://host:port[/prefix] or http:// */
    char *ca_file;    /* CA bundle file */
    char *ca_pem;     /* CA bundle as PEM text (certificate-authority-data): wins over ca_file */
    int insecure;     /* insecure-skip-tls-verify */
    char *token;      /* a bearer token given inline */
    char *token_file; /* a bearer token file, re-read as it rotates: wins over token */
    char *cert_file, *key_file; /* client certificate and key files */
    char *cert_pem, *key_pem;   /* ... as PEM text (the -data keys): win over the files */
    char *username, *password;  /* HTTP Basic */
    char *ns;                   /* the context's namespace (in-cluster: the namespace file) */
    char where[160];            /* "kubeconfig F, context C" or "in-cluster": for the log */
};

void k8s_auth_free(struct k8s_auth *a);

/* Reads the kubeconfig at path (YAML, at most 1 MiB) and resolves `context` (NULL: its
 * current-context) to a cluster and a user. Paths in the file are relative to its directory,
 * as kubectl takes them; -data keys are base64 PEM. The token and password are registered as
 * log secrets. Returns 0, or -1 with err, at the file's line and column when the file says
 * something wrong: no such context, cluster or user, a server that is not http(s)://, a
 * certificate without its key, bad base64, an unreadable file it names, or a user that only
 * authenticates through what this scaler does not do: exec plugins, auth-provider,
 * impersonation (also tls-server-name and proxy-url). */
int k8s_kubeconfig_load(const char *path, const char *context, struct k8s_auth *out,
                        struct as_err *err);

/* Same from text; name is the file name for errors and the base of relative paths. */
int k8s_kubeconfig_parse(const char *name, const char *text, size_t len, const char *context,
                         struct k8s_auth *out, struct as_err *err);

/* In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the CA sa_dir/ca.crt,
 * the token file sa_dir/token (which must be readable now) and the namespace in
 * sa_dir/namespace when there is one. Returns 0, or -1 with err. */
int k8s_incluster_load(const char *sa_dir, struct k8s_auth *out, struct as_err *err);

/* How often a token file is read again even when it looks unchanged. */
#define K8S_TOKEN_REREAD_MS 60000

/* A bearer token file, read again whenever stat says it changed (another file, size or mtime:
 * the kubelet swaps the projected token's symlink) and at least every K8S_TOKEN_REREAD_MS.
 * Zero-initialise with path set (borrowed); k8s_token_free releases. */
struct k8s_token {
    const char *path;
    char *value;
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    int64_t read_ms; /* when it was last read (monotonic ms) */
    unsigned long reads;
};

/* The token to send now (borrowed until the next call): re-read when due. Each value read is
 * registered as a log secret. When a re-read fails the last value is kept and err says why
 * (*stale = 1); NULL with err when there is none. */
const char *k8s_token_get(struct k8s_token *t, int64_t now_ms, int *stale, struct as_err *err);

void k8s_token_free(struct k8s_token *t);

/* Reads a small regular file without blocking (at most max bytes) and trims the whitespace
 * around it. Caller frees. NULL with err. */
char *k8s_read_small(const char *path, size_t max, struct as_err *err);

#endif
