#!/usr/bin/env bash
# The layering of src/ (docs/design.md, "Layout"), checked on every #include:
#   util/                    machinery: includes only util/
#   config/, core/           configuration and the pure decision core: util/, config/, core/
#   sources/ scalers/ policies/ notifiers/
#                            backends: util/, config/, core/, and their own folder's helpers,
#                            never another backend (a .c that exports an ops table)
#   sim/                     the simulator (pure, like core/): util/, config/, core/, sim/
#   drivers/, api/, main.c   on top: anything (api/ is the daemon's HTTP server over the engine);
#                            nothing below them includes a driver or api/
# Prints each violation as file:line and exits 1 when there is one.
set -uo pipefail
cd "$(dirname "$0")/../src"

bad=0

# Whether src/$1 (a header path like policies/panic.h) belongs to a backend: the .c of the
# same name exports an ops table.
is_backend_header() {
    local c="${1%.h}.c"
    [ -f "$c" ] && grep -q '^const struct as_[a-z]*_ops as_' "$c"
}

check() {
    local file=$1 line=$2 inc=$3 dir=${1%%/*}
    local idir=${inc%%/*}
    local ok=1
    case "$dir" in
    util) [ "$idir" = util ] || ok=0 ;;
    config | core) case "$idir" in util | config | core) ;; *) ok=0 ;; esac ;;
    sim) case "$idir" in util | config | core | sim) ;; *) ok=0 ;; esac ;;
    sources | scalers | policies | notifiers)
        case "$idir" in
        util | config | core) ;;
        "$dir")
            local own="${file%.c}"
            own="${own%.h}"
            if [ "${inc%.h}" != "$own" ] && is_backend_header "$inc"; then ok=0; fi
            ;;
        *) ok=0 ;;
        esac
        ;;
    drivers | api | main.c) ;;
    *) ok=0 ;;
    esac
    if [ $ok = 0 ]; then
        echo "src/$file:$line: $dir/ may not include \"$inc\""
        bad=1
    fi
}

while IFS=: read -r file line text; do
    inc=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' <<<"$text")
    [ -n "$inc" ] && check "$file" "$line" "$inc"
done < <(grep -rn '^#include "' --include='*.c' --include='*.h' .  | sed 's#^\./##')

if [ $bad = 0 ]; then
    echo "layout: every include follows the layering"
fi
exit $bad
