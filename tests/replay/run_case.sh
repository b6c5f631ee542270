#!/usr/bin/env bash
# Runs one replay case: <dir>/config.yaml + <dir>/input.csv must give exactly <dir>/expected.csv,
# twice (the output is byte-identical between runs).
set -euo pipefail
bin=$1 dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=(-c "$dir/config.yaml" --metrics "$dir/input.csv")
[ -f "$dir/args" ] && read -r -a extra < "$dir/args" && args+=("${extra[@]}")
"$bin" replay "${args[@]}" --out "$out/1.csv"
"$bin" replay "${args[@]}" > "$out/2.csv"
cmp "$out/1.csv" "$out/2.csv" || { echo "replay output differs between runs"; exit 1; }
if ! diff -u "$dir/expected.csv" "$out/1.csv"; then
    echo "replay output differs from $dir/expected.csv"
    exit 1
fi
echo "replay $(basename "$dir"): $(($(wc -l < "$out/1.csv") - 1)) rows match"
