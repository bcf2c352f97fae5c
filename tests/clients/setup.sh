#!/usr/bin/env bash
# Installs what tests/official_clients.rs drives ringnats with: the official
# Go client (nats.go, from Debian's packages, built offline in GOPATH mode)
# and the official Python client (nats-py, with aiohttp for ws://, from PyPI
# into py/.deps of this folder). Quick and quiet when all is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Go and nats.go.
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/nats-io/nats.go ]; then
    echo "installing golang-go and nats.go (apt-get)"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-nats-io-go-nats-dev
fi

# nats-py and aiohttp, pinned, for the python3 the tests run. A stamp
# records what was installed, so a changed pin reinstalls.
python="${PYTHON:-python3}"
deps="$here/py/.deps"
want="$(cat "$here/py/requirements.txt"; "$python" -c 'import sys; print(sys.version)')"
if [ ! -f "$deps/.stamp" ] || [ "$(cat "$deps/.stamp")" != "$want" ] \
    || ! PYTHONPATH="$deps" "$python" -c 'import nats, aiohttp' >/dev/null 2>&1; then
    echo "installing nats-py and aiohttp into $deps (pip)"
    rm -rf "$deps"
    "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
        --target "$deps" -r "$here/py/requirements.txt"
    printf '%s' "$want" >"$deps/.stamp"
fi

echo "official clients ready: $(go version | cut -d' ' -f3), nats.go $(dpkg-query -W -f='${Version}' golang-github-nats-io-go-nats-dev 2>/dev/null || echo '?'), $(head -1 "$here/py/requirements.txt")"
