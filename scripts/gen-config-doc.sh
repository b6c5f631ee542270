#!/usr/bin/env bash
# Regenerates the option tables in docs/configuration.md from the binary's option tables
# (`autoscaler options`). tests/integration/test_cli.py fails when the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/autoscaler}
doc=docs/configuration.md
begin='<!-- BEGIN GENERATED: autoscaler options -->'
end='<!-- END GENERATED -->'
tmp=$(mktemp)
awk -v b="$begin" '{print} $0==b {exit}' "$doc" > "$tmp"
"$bin" options >> "$tmp"
awk -v e="$end" 'f||$0==e {f=1; print}' "$doc" >> "$tmp"
mv "$tmp" "$doc"
