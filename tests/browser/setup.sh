#!/usr/bin/env bash
# Installs what tests/browser.rs needs: Debian's Chromium (driven headless
# by playwright-core, which never downloads a browser of its own) and the
# npm packages of this folder (nats.ws, playwright-core). Quick when all
# is there already.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "installing nodejs and npm (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi

# node_modules is stale when the lock file changed after the last install
# (npm writes node_modules/.package-lock.json on every install).
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
    echo "installing npm packages"
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi
