#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing autoscaler need.
# As root it runs apt-get itself; otherwise it prints the exact command and exits 1.
#   scripts/bootstrap.sh          build + run dependencies
#   scripts/bootstrap.sh --test   also what the test suite needs (servers, python3, clang)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libjansson-dev libyaml-dev
            libmicrohttpd-dev libhiredis-dev libpq-dev libssl-dev libexpat1-dev ca-certificates tzdata)
# The real servers the integration tests start on 127.0.0.1 (none is started by installing).
test_pkgs=(libcmocka-dev python3 curl procps libfaketime redis-server postgresql prometheus
           rabbitmq-server nginx-light wrk openssh-client haproxy groff-base man-db
           chromium)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${test_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "autoscaler: missing Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi
echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
