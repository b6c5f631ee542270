/* The kubernetes scaler's kubeconfig reader (scalers/kubernetes_auth.h): YAML that names
 * contexts, clusters and users, resolved to a server and credentials. The first byte picks
 * the context asked for (the current one, or one of a few names); the rest is the file, read
 * as /nonexistent/kubeconfig (so relative paths name nothing readable). Invariants: a success
 * has an http(s) server, a certificate only with its key, no token with a control character,
 * and PEM text where -data keys were decoded; a failure keeps nothing and says why. The log
 * secrets the reader registers are forgotten after each input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scalers/kubernetes_auth.h"
#include "util/log.h"

static const char *const contexts[] = {NULL, "dev", "prod", "t", "x"};

static void check(const struct k8s_auth *a)
{
    if (a->server == NULL ||
        (strncmp(a->server, "https://", 8) != 0 && strncmp(a->server, "http://", 7) != 0))
        abort();
    if ((a->cert_file || a->cert_pem) != (a->key_file || a->key_pem))
        abort();
    for (const char *p = a->token; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
    const char *pems[] = {a->ca_pem, a->cert_pem, a->key_pem};
    for (size_t i = 0; i < 3; i++)
        if (pems[i] != NULL && strstr(pems[i], "-----BEGIN ") == NULL)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *context = contexts[data[0] % (sizeof(contexts) / sizeof(contexts[0]))];
    struct k8s_auth a;
    struct as_err err;
    as_err_clear(&err);
    if (k8s_kubeconfig_parse("/nonexistent/kubeconfig", (const char *)data + 1, size - 1, context,
                             &a, &err) == 0) {
        check(&a);
        k8s_auth_free(&a);
    } else if (a.server != NULL || a.token != NULL || err.msg[0] == '\0') {
        abort();
    }
    as_log_secrets_clear();
    return 0;
}
