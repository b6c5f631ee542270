#include "util/http1.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    S_STATUS,     /* the status line */
    S_HEADER,     /* header lines, up to the empty one */
    S_BODY_LEN,   /* Content-Length bytes */
    S_BODY_CLOSE, /* everything up to the connection's end */
    S_CHUNK_SIZE, /* a chunk's size line */
    S_CHUNK_DATA, /* its bytes */
    S_CHUNK_END,  /* the line end after them */
    S_TRAILER,    /* trailer lines after the last chunk, up to the empty one */
    S_DONE,
};

/* Per response (a 1xx answer's headers do not carry over to the final one). */
static void reset_headers(struct as_http1 *p)
{
    p->chunked = 0;
    p->has_length = 0;
    p->left = 0;
    p->keep_alive = 1;
    p->keep_10 = 0;
    p->want_count = 0;
    p->want_value[0] = '\0';
    p->want_cut = 0;
}

void as_http1_init(struct as_http1 *p, const char *want)
{
    p->status = 0;
    p->error = NULL;
    p->want = want;
    p->state = S_STATUS;
    p->minor = 0;
    p->head = 0;
    p->line_len = 0;
    reset_headers(p);
}

void as_http1_free(struct as_http1 *p)
{
    free(p->line);
    p->line = NULL;
}

int as_http1_started(const struct as_http1 *p)
{
    return p->head > 0 || p->line_len > 0 || p->state != S_STATUS;
}

static enum as_http1_result fail(struct as_http1 *p, const char *why)
{
    p->error = why;
    return AS_HTTP1_ERROR;
}

static enum as_http1_result unsupported(struct as_http1 *p, const char *why)
{
    p->error = why;
    return AS_HTTP1_UNSUPPORTED;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Bit c of these words is set for a tchar: DIGIT, ALPHA and !#$%&'*+-.^_`|~ (the words for
 * 128..255 are zero). One load and a shift: the test runs for every byte of a header name. */
static const uint64_t tchars[2] = {0x03ff6cfa00000000u, 0x57ffffffc7fffffeu};

static inline int tchar(unsigned c)
{
    return c < 128 && (tchars[c >> 6] >> (c & 63) & 1);
}

int as_http1_tchar(int c)
{
    return c >= 0 && tchar((unsigned)c);
}

/* Eight bytes at a time while none is below 0x20 or is 0x7f (the exact "has a byte less
 * than" and "has a zero byte" word tests), then byte by byte: every header of every answer
 * goes through it. */
int as_http1_field_text(const char *v, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, del;
        memcpy(&w, v + i, 8);
        del = w ^ (ones * 0x7f);
        if ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs)
            break;
    }
    for (; i < n; i++)
        if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return 0;
    return 1;
}

/* "HTTP/1.x NNN[ reason]" */
static enum as_http1_result status_line(struct as_http1 *p, const char *s, size_t n)
{
    if (n < 5 || memcmp(s, "HTTP/", 5) != 0)
        return fail(p, "not an HTTP/1 response");
    if (n < 12 || s[5] != '1' || s[6] != '.' || (s[7] != '0' && s[7] != '1'))
        return fail(p, "not an HTTP/1 response");
    if (s[8] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' ||
        s[11] > '9' || (n > 12 && s[12] != ' '))
        return fail(p, "malformed status line");
    if (!as_http1_field_text(s + 12, n - 12)) /* the reason: text, tabs */
        return fail(p, "malformed status line");
    p->minor = s[7] - '0';
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    p->state = S_HEADER;
    return AS_HTTP1_MORE;
}

/* Whether the comma-separated list v (n bytes) holds the token tok, case-insensitive. */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i < n;) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t e = j;
        while (e > i && is_ows(v[e - 1]))
            e--;
        if (e - i == tl && strncasecmp(v + i, tok, tl) == 0)
            return 1;
        i = j;
    }
    return 0;
}

static int name_is(const char *name, size_t nl, const char *want)
{
    return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

static enum as_http1_result header_line(struct as_http1 *p, const char *s, size_t n)
{
    if (is_ows(s[0]))
        return unsupported(p, "a folded header line");
    size_t nl = 0;
    while (nl < n && tchar((unsigned char)s[nl]))
        nl++;
    if (nl == 0 || nl == n || s[nl] != ':')
        return fail(p, "malformed header line");
    const char *v = s + nl + 1, *end = s + n;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    size_t vl = (size_t)(end - v);
    if (!as_http1_field_text(v, vl))
        return fail(p, "malformed header line");
    if (name_is(s, nl, "Content-Length")) {
        uint64_t len = 0;
        if (vl == 0 || vl > 18)
            return fail(p, "malformed Content-Length");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return fail(p, "malformed Content-Length");
            len = len * 10 + (uint64_t)(v[i] - '0');
        }
        if (p->has_length && len != p->left)
            return fail(p, "conflicting Content-Length headers");
        p->has_length = 1;
        p->left = len;
    } else if (name_is(s, nl, "Transfer-Encoding")) {
        if (p->chunked || vl != 7 || strncasecmp(v, "chunked", 7) != 0)
            return unsupported(p, "a transfer coding other than chunked");
        p->chunked = 1;
    } else if (name_is(s, nl, "Content-Encoding")) {
        if (!(vl == 8 && strncasecmp(v, "identity", 8) == 0))
            return unsupported(p, "a Content-Encoding");
    } else if (name_is(s, nl, "Connection")) {
        if (has_token(v, vl, "close"))
            p->keep_alive = 0;
        else if (has_token(v, vl, "keep-alive"))
            p->keep_10 = 1;
    }
    if (p->want != NULL && name_is(s, nl, p->want)) {
        if (p->want_count++ == 0) {
            p->want_cut = vl >= sizeof(p->want_value);
            if (!p->want_cut) {
                memcpy(p->want_value, v, vl);
                p->want_value[vl] = '\0';
            }
        }
    }
    return AS_HTTP1_MORE;
}

/* The empty line after the headers: what comes next, by RFC 9112 section 6.3. */
static enum as_http1_result headers_end(struct as_http1 *p)
{
    if (p->status < 200) {
        if (p->status == 101)
            return fail(p, "unexpected protocol switch");
        p->state = S_STATUS; /* an interim answer: the final one follows */
        reset_headers(p);
        return AS_HTTP1_MORE;
    }
    if (p->minor == 0 && !p->keep_10)
        p->keep_alive = 0;
    if (p->status == 204 || p->status == 304) {
        p->state = S_DONE;
    } else if (p->chunked) {
        if (p->has_length) /* RFC 9112 6.3: the sign of a smuggled message */
            return fail(p, "both Content-Length and chunked");
        p->state = S_CHUNK_SIZE;
    } else if (p->has_length) {
        p->state = p->left == 0 ? S_DONE : S_BODY_LEN;
    } else {
        p->keep_alive = 0;
        p->state = S_BODY_CLOSE;
    }
    return AS_HTTP1_MORE;
}

/* "HEX[ext]": the chunk's size; 0 starts the trailers. */
static enum as_http1_result chunk_size(struct as_http1 *p, const char *s, size_t n)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                             : -1;
        if (d < 0)
            break;
        if (i >= 15)
            return fail(p, "malformed chunk size");
        size = size * 16 + (uint64_t)d;
    }
    if (i == 0)
        return fail(p, "malformed chunk size");
    while (i < n && is_ows(s[i]))
        i++;
    if (i < n && s[i] != ';')
        return fail(p, "malformed chunk size");
    p->left = size;
    p->state = size == 0 ? S_TRAILER : S_CHUNK_DATA;
    return AS_HTTP1_MORE;
}

static enum as_http1_result on_line(struct as_http1 *p, const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    switch (p->state) {
    case S_STATUS:
        return status_line(p, s, n);
    case S_HEADER:
        return n == 0 ? headers_end(p) : header_line(p, s, n);
    case S_CHUNK_SIZE:
        return chunk_size(p, s, n);
    case S_CHUNK_END:
        if (n != 0)
            return fail(p, "malformed chunk end");
        p->state = S_CHUNK_SIZE;
        return AS_HTTP1_MORE;
    default: /* S_TRAILER: ignored, up to the empty line */
        if (n == 0)
            p->state = S_DONE;
        return AS_HTTP1_MORE;
    }
}

/* Whether the state reads lines (rather than body bytes). */
static int in_lines(int state)
{
    return state == S_STATUS || state == S_HEADER || state == S_CHUNK_SIZE ||
           state == S_CHUNK_END || state == S_TRAILER;
}

enum as_http1_result as_http1_feed(struct as_http1 *p, const char *data, size_t len, size_t *used,
                                   as_http1_body_fn body, void *arg)
{
    size_t i = 0;
    enum as_http1_result r = AS_HTTP1_MORE;
    while (r == AS_HTTP1_MORE && p->state != S_DONE && i < len) {
        if (in_lines(p->state)) {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
            int heads = p->state == S_STATUS || p->state == S_HEADER || p->state == S_TRAILER;
            if (p->line_len + n > AS_HTTP1_LINE_MAX)
                return fail(p, heads ? "response header line too long" : "chunk line too long");
            if (heads && (p->head += n) > AS_HTTP1_HEAD_MAX)
                return fail(p, "response headers too large");
            if (nl == NULL && p->line == NULL && (p->line = malloc(AS_HTTP1_LINE_MAX)) == NULL)
                return fail(p, "out of memory");
            if (nl == NULL) { /* the rest of a line comes later */
                memcpy(p->line + p->line_len, data + i, n);
                p->line_len += n;
                i += n;
                break;
            }
            if (p->line_len == 0) { /* the whole line is here: read it in place */
                r = on_line(p, data + i, n - 1);
            } else {
                memcpy(p->line + p->line_len, data + i, n - 1);
                r = on_line(p, p->line, p->line_len + n - 1);
                p->line_len = 0;
            }
            i += n;
        } else {
            size_t n = len - i;
            if (p->state != S_BODY_CLOSE && n > p->left)
                n = (size_t)p->left;
            if (body != NULL && body(data + i, n, arg) < 0)
                return fail(p, "body refused");
            i += n;
            if (p->state != S_BODY_CLOSE && (p->left -= n) == 0)
                p->state = p->state == S_CHUNK_DATA ? S_CHUNK_END : S_DONE;
        }
    }
    if (r != AS_HTTP1_MORE)
        return r;
    if (p->state != S_DONE)
        return AS_HTTP1_MORE;
    *used = i;
    return AS_HTTP1_DONE;
}

enum as_http1_result as_http1_eof(struct as_http1 *p)
{
    if (p->state == S_BODY_CLOSE) {
        p->state = S_DONE;
        return AS_HTTP1_DONE;
    }
    if (p->state == S_DONE)
        return AS_HTTP1_DONE;
    return fail(p, as_http1_started(p) ? "the connection closed before the response ended"
                                       : "empty reply from server");
}
