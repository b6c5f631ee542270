#!/usr/bin/env bash
# Runs one replay case: <dir>/config.yaml + <dir>/input.jsonl (or input.csv) must give exactly
# <dir>/expected.csv, twice (the output is byte-identical between runs). An optional <dir>/args
# holds extra replay arguments on one line (e.g. --start 2024-03-01T08:00:00Z).
set -euo pipefail
bin=$1 dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
input="$dir/input.csv"
[ -f "$dir/input.jsonl" ] && input="$dir/input.jsonl"
args=(-c "$dir/config.yaml" --metrics "$input")
[ -f "$dir/args" ] && read -r -a extra < "$dir/args" && args+=("${extra[@]}")
"$bin" replay "${args[@]}" --out "$out/1.csv"
"$bin" replay "${args[@]}" > "$out/2.csv"
cmp "$out/1.csv" "$out/2.csv" || { echo "replay output differs between runs"; exit 1; }
if ! diff -u "$dir/expected.csv" "$out/1.csv"; then
    echo "replay output differs from $dir/expected.csv"
    exit 1
fi
echo "replay $(basename "$dir"): $(($(wc -l < "$out/1.csv") - 1)) rows match"
