/* A small stand-in for libFuzzer, so every fuzz target also runs in CTest with gcc and the
 * sanitizers: it feeds each file of a corpus directory to LLVMFuzzerTestOneInput, then
 * mutated copies of them (byte flips, inserts, deletes, splices) for a bounded number of
 * iterations from a fixed seed, so a run is reproducible.
 *
 *   fuzz_x CORPUS_DIR [ITERATIONS] [SEED]
 *
 * With clang, build the same target against -fsanitize=fuzzer instead (make fuzz). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536
#define FUZZ_MAX_FILES 256

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static size_t mutate(uint8_t *buf, size_t len, const uint8_t *other, size_t olen)
{
    static const char tokens[] = "{}[]:,\"'-\n #${}/~0123456789.eE\\0";
    int rounds = 1 + (int)(next() % 4);
    for (int r = 0; r < rounds; r++) {
        size_t at = len ? next() % len : 0;
        switch (next() % 5) {
        case 0: /* flip */
            if (len)
                buf[at] ^= (uint8_t)(1u << (next() % 8));
            break;
        case 1: /* insert a token byte */
            if (len < FUZZ_MAX_INPUT) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)tokens[next() % (sizeof(tokens) - 1)];
                len++;
            }
            break;
        case 2: /* delete a run */
            if (len) {
                size_t n = 1 + next() % 8;
                n = n > len - at ? len - at : n;
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
            }
            break;
        case 3: /* splice a piece of another input */
            if (olen) {
                size_t from = next() % olen, n = 1 + next() % 32;
                n = n > olen - from ? olen - from : n;
                n = len + n > FUZZ_MAX_INPUT ? FUZZ_MAX_INPUT - len : n;
                memmove(buf + at + n, buf + at, len - at);
                memcpy(buf + at, other + from, n);
                len += n;
            }
            break;
        default: /* truncate */
            len = at;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    static uint8_t inputs[FUZZ_MAX_FILES][FUZZ_MAX_INPUT];
    static size_t sizes[FUZZ_MAX_FILES];
    static uint8_t buf[FUZZ_MAX_INPUT * 2];
    size_t n = 0;
    long iterations = argc > 2 ? atol(argv[2]) : 20000;
    rng = argc > 3 ? strtoull(argv[3], NULL, 10) : 0x5eedull;
    DIR *d = argc > 1 ? opendir(argv[1]) : NULL;
    if (d == NULL) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS] [SEED]\n", argv[0]);
        return 2;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL && n < FUZZ_MAX_FILES;) {
        char path[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        sizes[n] = fread(inputs[n], 1, FUZZ_MAX_INPUT, f);
        fclose(f);
        LLVMFuzzerTestOneInput(inputs[n], sizes[n]);
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "%s: empty corpus\n", argv[1]);
        return 2;
    }
    for (long i = 0; i < iterations; i++) {
        size_t k = next() % n, o = next() % n;
        memcpy(buf, inputs[k], sizes[k]);
        size_t len = mutate(buf, sizes[k], inputs[o], sizes[o]);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%zu corpus inputs and %ld mutations: no crash\n", n, iterations);
    return 0;
}
