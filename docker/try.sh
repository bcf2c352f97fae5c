#!/usr/bin/env bash
# ringnats in a real container, with no registry to pull from: a minimal
# Debian bookworm root file system made by debootstrap, the release binary
# and docker/nats.conf copied in, imported as an image, and run by podman
# under its default seccomp profile (which refuses io_uring), then under
# docker/seccomp-io_uring.json. Each time a TCP and a WebSocket client are
# served, and the log says which IO backend the server chose.
# Usage: docker/try.sh (as root; installs podman and debootstrap if missing).
# Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in podman debootstrap; do
	command -v "$tool" >/dev/null || apt-get install -y "$tool"
done
cargo build --release -p ringnats
work=$(mktemp -d)
trap 'podman rm -f ringnats-try >/dev/null 2>&1 || true; podman --runtime runc rm -f ringnats-try >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
root="$work/rootfs"
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log"
install -D -m 0755 target/release/ringnats "$root/usr/local/bin/ringnats"
install -D -m 0644 docker/nats.conf "$root/etc/ringnats/nats.conf"
tar -C "$root" -c . | podman import \
	--change 'ENTRYPOINT ["/usr/local/bin/ringnats"]' \
	--change 'CMD ["-c", "/etc/ringnats/nats.conf"]' - ringnats-try >/dev/null

# A TCP client (CONNECT, PING: PONG) and a WebSocket client (the upgrade,
# then INFO inside a frame) against the published ports.
clients() {
	python3 - <<'PY'
import socket, time
def tcp():
    s = socket.create_connection(("127.0.0.1", 14222), timeout=5)
    info = s.recv(4096)
    s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
    got = b""
    while b"PONG" not in got:
        got += s.recv(4096)
    return info.startswith(b"INFO ")
def ws():
    s = socket.create_connection(("127.0.0.1", 18080), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    got = b""
    while b"INFO" not in got:
        got += s.recv(4096)
    return got.startswith(b"HTTP/1.1 101")
for _ in range(50):
    try:
        print("TCP client served:", tcp(), "| WebSocket client served:", ws())
        break
    except OSError:
        time.sleep(0.2)
else:
    raise SystemExit("no client was served")
PY
}

# Where the container runtime may not set resource limits or cgroups (a
# sandbox: crun says "setrlimit ... Operation not permitted" or "cgroups in
# hybrid mode not supported"), runc with cgroupfs and the limits the shell
# already has (lowered ones only) run the same image.
podman=(podman)
limits=()
if ! podman run --rm ringnats-try --version >/dev/null 2>&1; then
	command -v runc >/dev/null || apt-get install -y runc
	podman=(podman --runtime runc --cgroup-manager=cgroupfs)
	limits=(--ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
	echo "(crun cannot start containers here: runc with cgroupfs instead)"
fi

run() {
	"${podman[@]}" rm -f ringnats-try >/dev/null 2>&1 || true
	"${podman[@]}" run -d --name ringnats-try "${limits[@]}" "$@" -p 14222:4222 -p 18080:8080 ringnats-try >/dev/null
	clients
	"${podman[@]}" logs ringnats-try 2>&1 | grep -E "IO: |io_uring|Listening|Server is ready" || true
}

echo "== podman's default seccomp profile"
run
echo "== with docker/seccomp-io_uring.json"
run --security-opt seccomp=docker/seccomp-io_uring.json
