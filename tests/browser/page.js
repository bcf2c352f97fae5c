// nats.ws in the browser against ringnats. The query string says where
// the server is (ws=ws://host:port or wss://host:port) and which payload sizes to use
// (sizes=10240,204800); only=up keeps to publishing on browser.out (the
// page then receives nothing bigger than a PONG). The outcome goes to window.result, which the
// driver (driver.mjs) reads and prints for tests/browser.rs.
//
// Subjects, shared with tests/browser.rs:
//   page.self     the page publishes and receives its own messages
//   page.svc      a responder in the page, requested by the page
//   browser.out   the page publishes; the Rust test receives over TCP
//   rust.svc      a responder in the Rust test (TCP), requested by the page
//   rust.send     asks the Rust test to publish its payloads to browser.in
//   browser.in    the Rust test publishes; the page receives...
//   browser.echo  ...and publishes each message back as it came

import { connect } from "/node_modules/nats.ws/esm/nats.js";

const params = new URLSearchParams(location.search);
const server = params.get("ws");
const sizes = (params.get("sizes") || "")
  .split(",")
  .filter((s) => s !== "")
  .map(Number);
const upOnly = params.get("only") === "up";
const enc = new TextEncoder();
const dec = new TextDecoder();

// Deterministic text of exactly n bytes; the Rust test makes the same.
function text(n, who) {
  let s = "";
  for (let i = 0; s.length < n; i++) {
    s += `${who} line ${i}: the quick brown fox jumps over the lazy dog\n`;
  }
  return s.slice(0, n);
}

// What each side sends: one short non-ASCII message, then one text of
// each size.
function payloads(who) {
  return [`hello from ${who} \u2713 \u00e9`, ...sizes.map((n) => text(n, who))];
}

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// The next message from a subscription's iterator.
async function next(it) {
  const { value, done } = await it.next();
  if (done) throw new Error("subscription ended");
  return value;
}

// What a compared message looks like in the result: its length, and
// whether it matched.
function check(got, want) {
  return { len: got.length, want: want.length, same: same(got, want) };
}

async function run() {
  const r = {
    server,
    connected: false,
    extensions: null,
    step: "connect",
    error: null,
    closes: [],
    self: [],
    pageRequests: [],
    rustReplies: [],
    fromRust: [],
  };
  // What there is so far, for the driver when the page does not finish.
  window.progress = r;
  let socket = null;
  let nc;
  try {
    nc = await connect({
      servers: server,
      name: "chromium",
      reconnect: false,
      timeout: 10000,
      // Our own socket, to see what was negotiated and how it closes.
      wsFactory: (url) => {
        socket = new WebSocket(url);
        socket.addEventListener("open", () => {
          r.extensions = socket.extensions;
        });
        socket.addEventListener("close", (e) => {
          r.closes.push({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        });
        return { socket, encrypted: url.startsWith("wss://") };
      },
    });
  } catch (e) {
    r.error = `${e && e.code ? e.code + ": " : ""}${e}`;
    return r;
  }
  r.connected = true;

  const mine = payloads("browser").map((s) => enc.encode(s));
  const theirs = payloads("rust").map((s) => enc.encode(s));
  const prefix = (p) => enc.encode(p);
  try {
    if (upOnly) {
      r.step = "browser.out";
      for (const p of mine) nc.publish("browser.out", p);
      await nc.flush();
      r.step = "done";
      return await finish(r, nc, socket);
    }
    r.step = "subscribe";
    const self = nc.subscribe("page.self")[Symbol.asyncIterator]();
    nc.subscribe("page.svc", {
      callback: (err, m) => {
        if (!err) m.respond(concat(prefix("page:"), m.data));
      },
    });
    let gotAll;
    const allFromRust = new Promise((resolve) => (gotAll = resolve));
    nc.subscribe("browser.in", {
      callback: (err, m) => {
        if (err) return;
        const i = r.fromRust.length;
        r.fromRust.push(check(m.data, theirs[i] || new Uint8Array()));
        nc.publish("browser.echo", m.data);
        if (r.fromRust.length === theirs.length) gotAll();
      },
    });

    // To itself: also makes sure the subscriptions above are in place
    // before anyone else is asked to send.
    r.step = "page.self";
    for (const p of mine) {
      nc.publish("page.self", p);
      r.self.push(check((await next(self)).data, p));
    }

    r.step = "page.svc";
    for (const p of mine) {
      const m = await nc.request("page.svc", p, { timeout: 10000 });
      r.pageRequests.push(check(m.data, concat(prefix("page:"), p)));
    }

    r.step = "browser.out";
    for (const p of mine) nc.publish("browser.out", p);
    await nc.flush();

    r.step = "rust.svc";
    for (const p of mine) {
      const m = await nc.request("rust.svc", p, { timeout: 10000 });
      r.rustReplies.push(check(m.data, concat(prefix("rust:"), p)));
    }

    r.step = "rust.send";
    const m = await nc.request("rust.send", enc.encode(""), { timeout: 10000 });
    r.sentReply = dec.decode(m.data);
    r.step = "browser.in";
    await allFromRust;
    await nc.flush();
    r.step = "done";
  } catch (e) {
    r.error = `${e && e.code ? e.code + ": " : ""}${e}`;
  }
  return await finish(r, nc, socket);
}

// Closes the connection; notes how it ended.
async function finish(r, nc, socket) {
  r.extensions = socket ? socket.extensions : null;
  const closed = nc.closed();
  await nc.close().catch(() => {});
  const err = await closed;
  r.closedWith = err ? String(err) : null;
  return r;
}

run()
  .catch((e) => ({ error: `page: ${e}` }))
  .then((r) => {
    window.result = r;
    document.getElementById("status").textContent = "done";
  });
