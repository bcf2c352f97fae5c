#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need first:
# nats-server (the reference the load generator's tests run against).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    echo "== installing nats-server (apt-get)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq nats-server
fi

# What the tests of other clients need (browsers, Go, Python), each
# installed by its own script.
for setup in tests/*/setup.sh; do
    [ -x "$setup" ] || continue
    echo "== $setup"
    "$setup"
done

cargo test --workspace --all-targets "$@"
