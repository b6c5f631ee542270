#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (needs clang and libclang-rt-14-dev):
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Builds every tests/fuzz/fuzz_*.c with -fsanitize=fuzzer,address,undefined,float-cast-overflow and runs each on
# a copy of its corpus for the given time (default 60 s). Crashes land in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
command -v clang >/dev/null || { echo "fuzz.sh: needs clang: apt-get install -y clang libclang-rt-14-dev" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out"
pkgs="libcurl jansson yaml-0.1 libmicrohttpd hiredis libpq libcrypto expat"
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DAS_VERSION=\"fuzz\" -g -O1 -Isrc
       -fsanitize=fuzzer,address,undefined,float-cast-overflow $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lm -pthread"
# The dashboard's files as C arrays, as CMakeLists.txt generates them for the daemon.
python3 - > "$out/assets_gen.c" <<'PY'
for kind in ("html", "js", "css"):
    data = open(f"src/api/dashboard.{kind}", "rb").read()
    print(f"#include <stddef.h>\nconst unsigned char as_dashboard_{kind}[] = "
          f"{{{','.join(map(str, data))},0}};\n"
          f"const size_t as_dashboard_{kind}_len = sizeof(as_dashboard_{kind}) - 1;")
PY
srcs="$(ls src/*/*.c) $out/assets_gen.c"
targets=${*:-$(ls tests/fuzz/fuzz_*.c | xargs -n1 basename | sed 's/\.c$//')}
for t in $targets; do
    # shellcheck disable=SC2086
    clang $flags -o "$out/$t" "tests/fuzz/$t.c" $srcs $libs
    corpus="$out/corpus-${t#fuzz_}"
    rm -rf "$corpus" && cp -r "tests/fuzz/corpus/${t#fuzz_}" "$corpus"
    (cd "$out" && "./$t" -max_total_time="$secs" -print_final_stats=1 "corpus-${t#fuzz_}")
done
