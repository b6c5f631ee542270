#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum as_log_level as_log_min = AS_INFO;

static FILE *log_file;
static int to_stderr = 1;
static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};

int as_log_open(const char *path)
{
    as_log_close();
    if (path == NULL || path[0] == '\0')
        return 0;
    log_file = fopen(path, "a");
    if (log_file == NULL)
        return -1;
    setvbuf(log_file, NULL, _IOLBF, 0);
    return 0;
}

void as_log_close(void)
{
    if (log_file != NULL)
        fclose(log_file);
    log_file = NULL;
}

void as_log_stderr(int on)
{
    to_stderr = on;
}

int as_log_level_parse(const char *s)
{
    static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= AS_OFF; i++)
        if (strcmp(s, lower[i]) == 0)
            return i;
    return -1;
}

void as_log_write(enum as_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                  names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    int saved = errno;
    if (to_stderr)
        fprintf(stderr, "%s\n", line);
    if (log_file != NULL)
        fprintf(log_file, "%s\n", line);
    errno = saved;
}

const char *as_log_url(const char *url, char *buf, unsigned len)
{
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *path = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(path - host));
    unsigned o = 0;
    int in_query = 0, masking = 0;
    for (const char *p = url; *p && *p != '#' && o + 4 < len; p++) {
        if (p == host && at != NULL)
            p = at + 1; /* drop user:password@ */
        if (*p == '?' && p >= path)
            in_query = 1;
        if (masking && *p != '&')
            continue;
        masking = 0;
        buf[o++] = *p;
        if (in_query && *p == '=') { /* mask query values: ?token=*** */
            memcpy(buf + o, "***", 3);
            o += 3;
            masking = 1;
        }
    }
    buf[o] = '\0';
    return buf;
}
