"""Drives a NATS server over ws://, wss:// or tls:// with the official Python
client (nats-py, on aiohttp for websockets), step by step, and prints what it saw as one JSON
object a line on stdout. A peer on the server's other side (a TCP client,
in the Rust test) answers on the subjects peer.*, as described in
../go/src/wsclient/main.go: peer.echo, peer.ask, peer.publish, peer.sink.

Any failure ends the program with status 1 and a line on stderr that names
the step.

    PYTHONPATH=.deps python3 wsclient.py ws://127.0.0.1:PORT [BIG_SIZE [CA_FILE]]

With CA_FILE, the server's certificate is verified against that CA.
"""

import asyncio
import hashlib
import json
import ssl
import sys

import nats
from nats.aio.client import __version__ as NATS_PY_VERSION

WAIT = 20.0
step = "start"
errors = []


def fail(message):
    detail = f" (asynchronous errors: {'; '.join(errors)})" if errors else ""
    print(f"wsclient.py (nats-py {NATS_PY_VERSION}): step {step}: {message}{detail}", file=sys.stderr)
    sys.exit(1)


def report(**fields):
    fields["step"] = step
    print(json.dumps(fields), flush=True)


def gen_bytes(n):
    return bytes(i % 251 for i in range(n))


def gen_text(n):
    out = []
    size = 0
    k = 0
    while size < n:
        line = f"{k:06d} the quick brown fox jumps over the lazy dog\n"
        out.append(line)
        size += len(line)
        k += 1
    return "".join(out).encode()[:n]


def first_diff(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i
    return -1 if len(got) == len(want) else min(len(got), len(want))


def describe(got, want):
    return {"len": len(got), "sha1": hashlib.sha1(got).hexdigest(), "first_diff": first_diff(got, want)}


async def next_msg(sub):
    try:
        return await sub.next_msg(timeout=WAIT)
    except Exception as e:  # a timeout, or the connection gone
        fail(f"waiting for a message on {sub.subject}: {e!r}")


async def request(nc, subject, payload, headers=None):
    try:
        return await nc.request(subject, payload, timeout=WAIT, headers=headers)
    except Exception as e:
        fail(f"request {subject}: {e!r}")


async def sync(nc):
    """A round trip through the server on this connection: the
    subscriptions made before it are live everywhere after it."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(inbox, b"sync")
    await next_msg(sub)
    await sub.unsubscribe()


async def main(url, ca):
    global step

    async def error_cb(e):
        errors.append(repr(e))

    step = "connect"
    tls = ssl.create_default_context(cafile=ca) if ca else None
    try:
        nc = await nats.connect(
            url,
            tls=tls,
            name="wsclient-py",
            connect_timeout=WAIT,
            allow_reconnect=False,
            error_cb=error_cb,
        )
    except Exception as e:
        fail(f"{e!r}")
    report(
        version=NATS_PY_VERSION,
        url=nc.connected_url.geturl(),
        max_payload=nc.max_payload,
        headers=bool(nc._server_info.get("headers")),
        tls=bool(nc._server_info.get("tls_required")),
    )

    step = "pubsub"
    local = await nc.subscribe("py.local")
    for p in [b"one", b"two", b"three"]:
        await nc.publish("py.local", p)
    got = [(await next_msg(local)).data.decode() for _ in range(3)]
    report(payloads=got)

    step = "headers"
    await nc.publish("py.local", b"with headers", headers={"X-Trace": "py-1"})
    m = await next_msg(local)
    report(payload=m.data.decode(), headers=m.headers)

    # The Python responder: "py:" before the payload, the headers sent back.
    step = "responder"

    async def respond(m):
        await nc.publish(m.reply, b"py:" + m.data, headers=m.headers)

    await nc.subscribe("py.svc", cb=respond)
    await sync(nc)
    m = await request(nc, "py.svc", b"self")
    report(reply=m.data.decode())

    # Python asks the TCP peer.
    step = "request_tcp"
    m = await request(nc, "peer.echo", b"hello from python", headers={"X-From": "python"})
    report(reply=m.data.decode(), headers=m.headers)

    # The TCP peer asks the Python responder.
    step = "request_from_tcp"
    m = await request(nc, "peer.ask", b"py.svc hello from rust")
    report(reply=m.data.decode())

    # A plain message each way.
    step = "publish_to_tcp"
    await nc.publish("peer.sink", b"python was here")
    await nc.flush(timeout=WAIT)
    report()

    step = "publish_from_tcp"
    inbound = await nc.subscribe("py.in")
    await sync(nc)
    await request(nc, "peer.publish", b"py.in lit:hello from tcp")
    m = await next_msg(inbound)
    report(payload=m.data.decode())

    # The largest message, up through the TCP peer and back.
    step = "big_echo"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024 * 1024 - 1024
    want = gen_bytes(size)
    m = await request(nc, "peer.echo", want)
    report(**describe(m.data, want))

    step = "text_from_tcp"
    await request(nc, "peer.publish", b"py.in text:204800")
    m = await next_msg(inbound)
    report(**describe(m.data, gen_text(204800)))

    step = "drain"
    try:
        await nc.drain()
    except Exception as e:
        fail(f"drain: {e!r}")
    if errors:
        fail("errors were reported")
    step = "done"
    report()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: wsclient.py URL [BIG_SIZE [CA_FILE]]", file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else None))
