/* "Did you mean ...?": the nearest of a list of valid names to a name a user wrote, for
 * configuration errors (an unknown key, type, policy or enum value). */
#ifndef AS_SUGGEST_H
#define AS_SUGGEST_H

#include <stddef.h>

#include "util/util.h"

/* The longest name compared; longer ones are never near anything. */
#define AS_SUGGEST_LEN_MAX 64

/* The optimal-string-alignment distance between a and b (Damerau-Levenshtein: insertions,
 * deletions, substitutions and transpositions of two neighbours each cost 1), ASCII case
 * ignored and '-' taken as '_'. A name longer than AS_SUGGEST_LEN_MAX is at distance
 * AS_SUGGEST_LEN_MAX + 1 from everything but itself. */
int as_edit_distance(const char *a, const char *b);

/* The name of names[0..n) nearest to word, or NULL when none is near enough to be a likely
 * misspelling: at most 1 edit away for words of up to 4 characters, 2 up to 8, 3 beyond; or,
 * for a word of 4 characters or more, the start of a name ("prom" for "prometheus"); or a
 * name of 3 characters or more that the word starts with ("warning" for "warn"). The nearest
 * wins; among equals, the first in the list. NULL entries are skipped. Returns a pointer into
 * names (borrowed). */
const char *as_suggest(const char *word, const char *const *names, size_t n);

/* Appends "a, b, c" to sb, listing at most max of names[0..n) (NULL entries skipped) and
 * then " and K more". Returns 0 or -1 on ENOMEM. */
int as_names_list(struct as_sb *sb, const char *const *names, size_t n, size_t max);

#endif
