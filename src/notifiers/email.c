/* Notifier `email`: each event as an RFC 5322 message sent over SMTP through libcurl (the
 * shared HTTP client's multi handle, util/http.h, the event's group as the owner): smtp://
 * with STARTTLS required (the default), optional or off, or smtps://; authentication by
 * reference; From, To and a Subject template.
 *
 * The message: Date, From, To, Subject (RFC 2047 when not ASCII), Message-ID, MIME-Version,
 * Content-Type text/plain; charset=utf-8 (7bit, or base64 when the text is not ASCII),
 * Auto-Submitted: auto-generated (RFC 3834: no auto-replies), X-Autoscaler-Group and
 * X-Autoscaler-Event; CRLF line ends (curl escapes a leading dot). A 5xx reply, a denied
 * login or a server that cannot do the STARTTLS required is permanent; anything else the
 * dispatcher retries. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "util/http.h"
#include "util/log.h"
#include "util/tmpl.h"

struct email {
    char *url, *from, *subject, *username, *password, *ca_file;
    char **to;
    int starttls, insecure;
    /* runtime */
    struct as_ctx ctx;
    struct as_tmpl *subject_t;
    char *envelope_from;
    struct curl_slist *rcpt;
    struct as_sb msg;
    size_t sent; /* bytes of msg curl has read */
    unsigned long serial;
    struct as_http_call *call;
    struct as_timer *deferred;
    as_notify_cb done;
    void *arg;
};

static const char *const tls_modes[] = {"required", "optional", "off", NULL};
enum { TLS_REQUIRED, TLS_OPTIONAL, TLS_OFF };

static const struct as_opt opts[] = {
    {"url", AS_OPT_STR, offsetof(struct email, url), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL,
     "The mail server: smtp://host:port (587 or 25) or smtps://host:port (465)."},
    {"from", AS_OPT_STR, offsetof(struct email, from), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The sender: an address, or \"Name <address>\"."},
    {"to", AS_OPT_STRLIST, offsetof(struct email, to), NULL, AS_NO_BOUNDS,
     AS_OPT_REQUIRED | AS_OPT_NONEMPTY, NULL, "The recipients, each as `from`."},
    {"subject", AS_OPT_STR, offsetof(struct email, subject),
     "[autoscaler] {{group}}: {{kind}}{{#repeats}} (and {{repeats}} more){{/repeats}}",
     AS_NO_BOUNDS, AS_OPT_NONEMPTY, NULL, "The subject, a template (docs/events.md)."},
    {"starttls", AS_OPT_ENUM, offsetof(struct email, starttls), "required", AS_NO_BOUNDS, 0,
     tls_modes,
     "For smtp://: required (no message goes out unencrypted), optional (encrypt when the "
     "server offers STARTTLS) or off. smtps:// is always encrypted."},
    {"username", AS_OPT_STR, offsetof(struct email, username), NULL, AS_NO_BOUNDS, 0, NULL,
     "Login name for SMTP AUTH (none: no login)."},
    {"password", AS_OPT_STR, offsetof(struct email, password), NULL, AS_NO_BOUNDS, AS_OPT_SECRET,
     NULL, "Password for SMTP AUTH, e.g. ${env:SMTP_PASSWORD}."},
    {"insecure_skip_verify", AS_OPT_BOOL, offsetof(struct email, insecure), "false", AS_NO_BOUNDS,
     0, NULL, "Skip TLS certificate verification."},
    {"ca_file", AS_OPT_STR, offsetof(struct email, ca_file), NULL, AS_NO_BOUNDS, 0, NULL,
     "CA bundle for TLS verification."},
    AS_OPT_END,
};

/* The address of "Name <address>" or of a bare address, into buf; -1 when there is none. */
static int address_of(const char *s, char *buf, size_t len)
{
    const char *lt = strrchr(s, '<'), *b = s, *e = s + strlen(s);
    if (lt != NULL) {
        const char *gt = strchr(lt, '>');
        if (gt == NULL || gt[1] != '\0')
            return -1;
        b = lt + 1;
        e = gt;
    }
    while (b < e && *b == ' ')
        b++;
    while (e > b && e[-1] == ' ')
        e--;
    const char *at = memchr(b, '@', (size_t)(e - b));
    if (at == NULL || at == b || at == e - 1 || (size_t)(e - b) >= len)
        return -1;
    for (const char *p = b; p < e; p++)
        if (*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || (unsigned char)*p >= 0x7f)
            return -1;
    memcpy(buf, b, (size_t)(e - b));
    buf[e - b] = '\0';
    return 0;
}

static int bad_key(struct as_node *map, const char *key, struct as_err *err, const char *msg)
{
    return as_err_key(err, map, key, "%s", msg);
}

static int validate(void *state, struct as_node *map, struct as_err *err)
{
    struct email *m = state;
    char addr[320];
    if (strncmp(m->url, "smtp://", 7) != 0 && strncmp(m->url, "smtps://", 8) != 0)
        return bad_key(map, "url", err, "'url' must start with smtp:// or smtps://");
    if (address_of(m->from, addr, sizeof(addr)) < 0)
        return bad_key(map, "from", err, "'from' is not an address nor \"Name <address>\"");
    for (size_t i = 0; m->to[i]; i++)
        if (address_of(m->to[i], addr, sizeof(addr)) < 0 || strpbrk(m->to[i], "\r\n"))
            return bad_key(map, "to", err,
                           "'to': an entry is not an address nor \"Name <address>\"");
    if (strpbrk(m->from, "\r\n"))
        return bad_key(map, "from", err, "'from' may not hold a line break");
    if (m->password != NULL && m->username == NULL)
        return bad_key(map, "password", err, "'password' without 'username'");
    struct as_tmpl *t;
    size_t pos;
    char msg[160], why[200];
    if (as_tmpl_compile(m->subject, as_ev_field_known, &t, &pos, msg, sizeof(msg)) < 0) {
        snprintf(why, sizeof(why), "'subject': %s", msg);
        return bad_key(map, "subject", err, why);
    }
    as_tmpl_free(t);
    return 0;
}

static int start(void *state, const struct as_ctx *ctx, struct as_err *err)
{
    struct email *m = state;
    char addr[320], msg[160];
    size_t pos;
    m->ctx = *ctx;
    if (ctx->http == NULL)
        return as_err_set(err, "no HTTP client");
    if (as_tmpl_compile(m->subject, as_ev_field_known, &m->subject_t, &pos, msg, sizeof(msg)) < 0)
        return as_err_set(err, "'subject': %s", msg);
    if (address_of(m->from, addr, sizeof(addr)) < 0 || (m->envelope_from = strdup(addr)) == NULL)
        return as_err_set(err, "out of memory");
    for (size_t i = 0; m->to[i]; i++) {
        struct curl_slist *l =
            address_of(m->to[i], addr, sizeof(addr)) == 0 ? curl_slist_append(m->rcpt, addr) : NULL;
        if (l == NULL)
            return as_err_set(err, "out of memory");
        m->rcpt = l;
    }
    return 0;
}

/* ---- the message ---- */

static int ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* n bytes of s in base64, wrapped every 76 characters with CRLF (the body), or not (wrap 0). */
static int base64(struct as_sb *sb, const char *s, size_t n, int wrap)
{
    unsigned char out[80];
    for (size_t i = 0; i < n; i += 57) {
        size_t k = n - i < 57 ? n - i : 57;
        int w = EVP_EncodeBlock(out, (const unsigned char *)s + i, (int)k);
        if (as_sb_append(sb, (const char *)out, (size_t)w) < 0 ||
            (wrap && as_sb_puts(sb, "\r\n") < 0))
            return -1;
    }
    return 0;
}

/* The subject: one line, RFC 2047 encoded words when it is not ASCII. */
static int subject(struct as_sb *sb, char *text)
{
    for (char *p = text; *p; p++)
        if (*p == '\r' || *p == '\n' || *p == '\t')
            *p = ' ';
    size_t n = strlen(text);
    if (ascii(text, n))
        return as_sb_printf(sb, "Subject: %s\r\n", text);
    if (as_sb_puts(sb, "Subject:") < 0)
        return -1;
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 42 ? n - i : 42;
        while (i + k < n && ((unsigned char)text[i + k] & 0xc0) == 0x80)
            k--; /* never split a UTF-8 sequence */
        if (as_sb_puts(sb, " =?UTF-8?B?") < 0 || base64(sb, text + i, k, 0) < 0 ||
            as_sb_puts(sb, "?=\r\n") < 0)
            return -1;
        i += k;
    }
    return 0;
}

/* The body with CRLF line ends, lines cut at 998 bytes (7bit), or base64 when not ASCII. */
static int body(struct as_sb *sb, const char *text)
{
    size_t n = strlen(text);
    if (!ascii(text, n)) {
        if (as_sb_puts(sb, "Content-Transfer-Encoding: base64\r\n\r\n") < 0)
            return -1;
        return base64(sb, text, n, 1);
    }
    if (as_sb_puts(sb, "Content-Transfer-Encoding: 7bit\r\n\r\n") < 0)
        return -1;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\r\n");
        for (size_t i = 0; i < len; i += 998)
            if (as_sb_append(sb, p + i, len - i < 998 ? len - i : 998) < 0 ||
                as_sb_puts(sb, "\r\n") < 0)
                return -1;
        if (len == 0 && as_sb_puts(sb, "\r\n") < 0)
            return -1;
        p += len;
        p += *p == '\r' && p[1] == '\n' ? 2 : *p ? 1 : 0;
    }
    return 0;
}

static int headers(struct email *m, const struct as_ev *ev, struct as_sb *sb)
{
    char date[64], addr[320];
    time_t t = (time_t)(ev->time_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        return -1;
    address_of(m->from, addr, sizeof(addr));
    int rc = as_sb_printf(sb, "Date: %s\r\nFrom: %s\r\nTo: ", date, m->from);
    for (size_t i = 0; rc == 0 && m->to[i]; i++)
        rc = as_sb_printf(sb, "%s%s", i ? ",\r\n " : "", m->to[i]);
    return rc | as_sb_printf(sb,
                             "\r\nMessage-ID: <%lld.%ld.%lu.autoscaler@%s>\r\n"
                             "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
                             "X-Autoscaler-Group: %s\r\nX-Autoscaler-Event: %s\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n",
                             (long long)ev->time_ms, (long)getpid(), ++m->serial,
                             strchr(addr, '@') + 1, ev->group, as_ev_kind_name(ev->kind));
}

static int message(struct email *m, const struct as_ev *ev, const char *text)
{
    struct as_sb subj = {0};
    struct as_ev_view view = {ev, m->ctx.name};
    m->msg.len = 0;
    m->sent = 0;
    int rc = as_tmpl_render(m->subject_t, as_ev_field, &view, &subj);
    if (rc == 0)
        as_log_mask(subj.buf, subj.len);
    if (rc == 0) /* in this order: each appends to the message */
        rc = headers(m, ev, &m->msg);
    if (rc == 0)
        rc = subject(&m->msg, subj.buf);
    if (rc == 0)
        rc = body(&m->msg, text);
    as_sb_free(&subj);
    return rc;
}

/* ---- the call ---- */

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct email *m = arg;
    size_t n = m->msg.len - m->sent;
    if (n > size * nmemb)
        n = size * nmemb;
    memcpy(buf, m->msg.buf + m->sent, n);
    m->sent += n;
    return n;
}

static int configure(void *easy, void *arg)
{
    struct email *m = arg;
    CURL *e = easy;
    long ssl = strncmp(m->url, "smtps://", 8) == 0 ? (long)CURLUSESSL_ALL
               : m->starttls == TLS_REQUIRED       ? (long)CURLUSESSL_ALL
               : m->starttls == TLS_OPTIONAL       ? (long)CURLUSESSL_TRY
                                                   : (long)CURLUSESSL_NONE;
    int rc = 0;
    rc |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->envelope_from) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_READDATA, m) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->msg.len) != CURLE_OK;
    rc |= curl_easy_setopt(e, CURLOPT_USE_SSL, ssl) != CURLE_OK;
    if (m->username != NULL) {
        rc |= curl_easy_setopt(e, CURLOPT_USERNAME, m->username) != CURLE_OK;
        rc |= curl_easy_setopt(e, CURLOPT_PASSWORD, m->password ? m->password : "") != CURLE_OK;
    }
    return rc ? -1 : 0;
}

static void finish(struct email *m, const struct as_notify_result *r)
{
    as_notify_cb done = m->done;
    m->done = NULL;
    done(r, m->arg);
}

static void on_sent(const struct as_http_resp *resp, void *arg)
{
    struct email *m = arg;
    struct as_notify_result r = {.ok = resp->ok};
    m->call = NULL;
    if (!resp->ok) {
        r.permanent = (resp->reply >= 500 && resp->reply <= 599) ||
                      resp->curl_code == CURLE_LOGIN_DENIED ||
                      resp->curl_code == CURLE_USE_SSL_FAILED;
        char code[16];
        snprintf(code, sizeof(code), "%ld", resp->reply);
        if (resp->reply >= 400 && strstr(resp->error, code) == NULL)
            snprintf(r.error, sizeof(r.error), "%s (reply %ld)", resp->error, resp->reply);
        else
            snprintf(r.error, sizeof(r.error), "%s", resp->error);
    }
    finish(m, &r);
}

static void fail_soon(struct email *m, const char *why)
{
    struct as_notify_result r = {.ok = 0};
    snprintf(r.error, sizeof(r.error), "%s", why);
    as_notify_cb done = m->done;
    m->done = NULL;
    if (as_defer_notify(m->ctx.loop, &m->deferred, done, &r, m->arg) < 0)
        AS_LOG(AS_ERROR, "notify/email[%s]: out of memory reporting: %s", m->ctx.name, why);
}

static void deliver(void *state, const struct as_ev *ev, const char *text, as_notify_cb done,
                    void *arg)
{
    struct email *m = state;
    m->done = done;
    m->arg = arg;
    if (message(m, ev, text) < 0) {
        fail_soon(m, "out of memory");
        return;
    }
    struct as_http_req req = {.url = m->url,
                              .owner = ev->group,
                              .timeout_ms = m->ctx.timeout_ms,
                              .insecure = m->insecure,
                              .ca_file = m->ca_file,
                              .protocols = "smtp,smtps",
                              .configure = configure,
                              .configure_arg = m};
    m->call = as_http_start(m->ctx.http, &req, on_sent, m);
    if (m->call == NULL)
        fail_soon(m, "cannot start the call (out of memory)");
}

static void cancel(void *state)
{
    struct email *m = state;
    as_http_cancel(m->call);
    m->call = NULL;
    as_defer_cancel(m->ctx.loop, &m->deferred);
    m->done = NULL;
}

static void stop(void *state)
{
    struct email *m = state;
    if (m->ctx.loop == NULL)
        return;
    cancel(m);
    as_tmpl_free(m->subject_t);
    m->subject_t = NULL;
    free(m->envelope_from);
    m->envelope_from = NULL;
    curl_slist_free_all(m->rcpt);
    m->rcpt = NULL;
    as_sb_free(&m->msg);
}

const struct as_notifier_ops as_notifier_email = {
    .name = "email",
    .opts = opts,
    .state_size = sizeof(struct email),
    .summary = "Sends each event as an e-mail over SMTP (libcurl): smtp:// with STARTTLS, or "
               "smtps://; login by reference; From, To and a Subject template.",
    .template = "{{summary}}{{#repeats}} (and {{repeats}} more like it){{/repeats}}\n"
                "\n"
                "group:   {{group}}\n"
                "event:   {{kind}}\n"
                "time:    {{time}}\n"
                "{{#metric}}metric:  {{metric}}\n{{/metric}}"
                "{{^metric}}current: {{from}}\ndesired: {{to}}\nbounds:  {{min}}..{{max}}\n"
                "{{/metric}}"
                "reason:  {{reason}}\n"
                "values:  {{values}}\n"
                "host:    {{host}}\n",
    .validate = validate,
    .start = start,
    .deliver = deliver,
    .cancel = cancel,
    .stop = stop,
};
