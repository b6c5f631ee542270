#include "util/suggest.h"

#include <string.h>

static char fold(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c == '-' ? '_' : c;
}

static int min3(int a, int b, int c)
{
    int m = a < b ? a : b;
    return m < c ? m : c;
}

int as_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > AS_SUGGEST_LEN_MAX || lb > AS_SUGGEST_LEN_MAX)
        return strcmp(a, b) == 0 ? 0 : AS_SUGGEST_LEN_MAX + 1;
    /* Three rows of the table: the one before the previous is needed for transpositions. */
    int rows[3][AS_SUGGEST_LEN_MAX + 1];
    int *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int same = fold(a[i - 1]) == fold(b[j - 1]);
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + !same);
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]) && pp[j - 2] + 1 < cur[j])
                cur[j] = pp[j - 2] + 1;
        }
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

static int starts_with(const char *name, const char *word)
{
    for (; *word; word++, name++)
        if (fold(*name) != fold(*word))
            return 0;
    return 1;
}

const char *as_suggest(const char *word, const char *const *names, size_t n)
{
    size_t len = strlen(word);
    int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3, best_d = limit + 1;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || strcmp(names[i], word) == 0)
            continue;
        int d = as_edit_distance(word, names[i]);
        if (d > limit && ((len >= 4 && starts_with(names[i], word)) ||
                          (strlen(names[i]) >= 3 && starts_with(word, names[i]))))
            d = limit; /* an abbreviation, or a longer word: as near as the farthest typo */
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

int as_names_list(struct as_sb *sb, const char *const *names, size_t n, size_t max)
{
    size_t shown = 0, total = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL)
            continue;
        total++;
        if (shown < max && rc == 0) {
            rc = as_sb_printf(sb, "%s%s", shown ? ", " : "", names[i]);
            shown++;
        }
    }
    if (rc == 0 && total > shown)
        rc = as_sb_printf(sb, " and %zu more", total - shown);
    if (rc == 0 && sb->buf == NULL)
        rc = as_sb_append(sb, "", 0);
    return rc;
}
