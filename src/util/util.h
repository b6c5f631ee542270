/* Small helpers shared by every module: durations, numbers, strings, time. */
#ifndef AS_UTIL_H
#define AS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define AS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Parses "250ms", "15s", "5m", "1h", "1h30m", or a bare number of seconds, into milliseconds.
 * Returns 0, or -1 when the text is not a duration or overflows. */
int as_duration_parse(const char *s, int64_t *out_ms);

/* Formats a duration as the shortest exact form ("1500ms", "15s", "5m"). Returns buf. */
const char *as_duration_fmt(int64_t ms, char *buf, size_t len);

/* Formats a duration for a sentence: "250 ms", "30 s", "1.5 s", "5 min", "1 h 30 min",
 * "2 min 0.5 s" (exact; negative durations as 0 ms). Returns buf. */
const char *as_duration_words(int64_t ms, char *buf, size_t len);

/* An age in two units at most, for tables: "12s", "4m05s", "3h12m", "2d03h" (below 0: "0s").
 * Returns buf. */
const char *as_age_fmt(int64_t ms, char *buf, size_t len);

/* Strict whole-string number parsing. Return 0 or -1. */
int as_parse_long(const char *s, long *out);
int as_parse_double(const char *s, double *out);

/* Lowers the calling thread's scheduling priority by inc nice steps (a background thread of
 * the daemon: the state writer, a reload's parse), so that on a busy machine the event loop
 * gets the CPU first. Best effort: failures are ignored. */
void as_thread_background(int inc);

/* Milliseconds on CLOCK_MONOTONIC and CLOCK_REALTIME. */
int64_t as_mono_ms(void);
int64_t as_wall_ms(void);

/* Frees a NULL-terminated list of strings and the list itself; NULL is a no-op. */
void as_strv_free(char **list);

/* Whether the first n bytes of s are an environment variable name a user may set for a
 * child: letters, digits and _, not starting with a digit nor with AUTOSCALER_ (the daemon's
 * own variables). */
int as_env_name_ok(const char *s, size_t n);

/* FNV-1a (64-bit) of the n bytes at p, continuing from h (AS_FNV_BASIS to begin): the
 * hash of the config's and the writer's tables, a group's jitter seed and its digest. */
#define AS_FNV_BASIS 1469598103934665603ULL
uint64_t as_fnv1a(uint64_t h, const void *p, size_t n);

/* strdup that returns NULL on NULL input. Caller frees. */
char *as_strdup(const char *s);

/* Growable string. Zero-initialise; as_sb_free releases. Appends return 0 or -1 on ENOMEM. */
struct as_sb {
    char *buf;
    size_t len, cap;
};
int as_sb_append(struct as_sb *sb, const char *s, size_t n);
int as_sb_puts(struct as_sb *sb, const char *s);
int as_sb_printf(struct as_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void as_sb_free(struct as_sb *sb);

/* Replaces every "{{name}}" in tmpl with the value of the matching key (keys/values: n pairs).
 * Unknown placeholders are left as they are. Caller frees the result; NULL on ENOMEM. */
char *as_template(const char *tmpl, const char *const *keys, const char *const *values, size_t n);

/* Copies at most len-1 bytes of s into buf, replacing control bytes with '.', for logging
 * untrusted text (response bodies, stderr). Returns buf. */
const char *as_printable(const char *s, size_t n, char *buf, size_t len);

/* Gives blocks over 256 KiB (a /metrics answer of 15 MB for 10,000 groups, a parse's
 * buffers) their own mapping, returned to the system when freed: glibc's threshold otherwise
 * rises to the largest block freed, and the next ones come from the heap and stay in the RSS
 * (mallopt; nothing elsewhere). */
void as_map_large_blocks(void);

/* Gives the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere):
 * after a burst of transient blocks (a load's parse tree, a large API answer) that would
 * otherwise stay in the RSS. Costs a walk of the free blocks: not for every call. */
void as_release_memory(void);

/* Whether s holds a control character (below 0x20, or DEL): a value sent in a header (a token)
 * with one would end the header and start another. NULL holds none. */
int as_has_control(const char *s);

#endif
