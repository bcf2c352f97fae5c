// wsclient drives a NATS server over ws://, wss:// or tls:// with the
// official Go client (nats.go), step by step, and prints what it saw as one JSON object a
// line on stdout. A peer on the server's other side (a TCP client, in the
// Rust test) answers on the subjects peer.*:
//
//	peer.echo     replies with the request's payload and headers, plus the
//	              header X-Echo: rust
//	peer.ask      "<subject> <body>": requests <subject> with <body> and
//	              the header X-From: rust, replies with the answer
//	peer.publish  "<subject> <spec>": publishes what <spec> names to
//	              <subject>, then replies "published"
//	peer.sink     records what arrives
//
// Any failure ends the program with status 1 and a line on stderr that
// names the step. Payloads are generated the same way on both sides:
// bytes(n) is byte(i % 251), text(n) is numbered lines of prose.
package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

const wait = 20 * time.Second

var (
	step   = "start"
	stdout = json.NewEncoder(os.Stdout)
	nc     *nats.Conn

	asyncMu  sync.Mutex
	asyncErr []string
)

func fail(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	if nc != nil {
		if err := nc.LastError(); err != nil {
			msg += fmt.Sprintf(" (connection's last error: %v)", err)
		}
	}
	asyncMu.Lock()
	if len(asyncErr) > 0 {
		msg += fmt.Sprintf(" (asynchronous errors: %s)", strings.Join(asyncErr, "; "))
	}
	asyncMu.Unlock()
	fmt.Fprintf(os.Stderr, "wsclient (nats.go %s): step %s: %s\n", nats.Version, step, msg)
	os.Exit(1)
}

func report(fields map[string]interface{}) {
	fields["step"] = step
	if err := stdout.Encode(fields); err != nil {
		fail("writing the report: %v", err)
	}
}

func genBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func genText(n int) []byte {
	var b bytes.Buffer
	for k := 0; b.Len() < n; k++ {
		fmt.Fprintf(&b, "%06d the quick brown fox jumps over the lazy dog\n", k)
	}
	return b.Bytes()[:n]
}

// gen makes what a spec names: "bytes:N", "text:N" or "lit:TEXT".
func gen(spec string) []byte {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "lit":
		return []byte(arg)
	case "bytes", "text":
		n, err := strconv.Atoi(arg)
		if err != nil {
			fail("bad spec %q", spec)
		}
		if kind == "bytes" {
			return genBytes(n)
		}
		return genText(n)
	}
	fail("bad spec %q", spec)
	return nil
}

func sum(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// firstDiff is the first offset where got and want differ, or -1.
func firstDiff(got, want []byte) int {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			return i
		}
	}
	if len(got) != len(want) {
		if len(got) < len(want) {
			return len(got)
		}
		return len(want)
	}
	return -1
}

// describe reports a payload by size and digest, checked against want.
func describe(got, want []byte) map[string]interface{} {
	return map[string]interface{}{
		"len":        len(got),
		"sha1":       sum(got),
		"first_diff": firstDiff(got, want),
	}
}

func headers(h nats.Header) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func next(sub *nats.Subscription) *nats.Msg {
	m, err := sub.NextMsg(wait)
	if err != nil {
		fail("waiting for a message on %s: %v", sub.Subject, err)
	}
	return m
}

func subscribeSync(subject string) *nats.Subscription {
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		fail("subscribe %s: %v", subject, err)
	}
	return sub
}

// sync makes a round trip through the server on this connection: the
// subscriptions made before it are live everywhere after it.
func syncServer() {
	inbox := nats.NewInbox()
	sub := subscribeSync(inbox)
	if err := nc.Publish(inbox, []byte("sync")); err != nil {
		fail("publish to own inbox: %v", err)
	}
	next(sub)
	sub.Unsubscribe()
}

func request(msg *nats.Msg) *nats.Msg {
	r, err := nc.RequestMsg(msg, wait)
	if err != nil {
		fail("request %s: %v", msg.Subject, err)
	}
	return r
}

func requestText(subject, body string) *nats.Msg {
	return request(&nats.Msg{Subject: subject, Data: []byte(body)})
}

func main() {
	url := flag.String("url", "", "the server's ws://, wss:// or tls:// URL")
	ca := flag.String("ca", "", "a CA file to verify the server's certificate with")
	compression := flag.Bool("compression", false, "ask for permessage-deflate")
	big := flag.Int("big", 1024*1024-1024, "the size of the largest message")
	flag.Parse()

	step = "connect"
	closed := make(chan struct{})
	var err error
	var trust []nats.Option
	if *ca != "" {
		trust = append(trust, nats.RootCAs(*ca))
	}
	nc, err = nats.Connect(*url, append(trust,
		nats.Name("wsclient-go"),
		nats.Compression(*compression),
		nats.Timeout(wait),
		nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			asyncMu.Lock()
			asyncErr = append(asyncErr, err.Error())
			asyncMu.Unlock()
		}),
		nats.ClosedHandler(func(_ *nats.Conn) { close(closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				asyncMu.Lock()
				asyncErr = append(asyncErr, "disconnected: "+err.Error())
				asyncMu.Unlock()
			}
		}),
	)...)
	if err != nil {
		fail("%v", err)
	}
	report(map[string]interface{}{
		"version":     nats.Version,
		"url":         nc.ConnectedUrl(),
		"tls":         nc.TLSRequired(),
		"max_payload": nc.MaxPayload(),
		"headers":     nc.HeadersSupported(),
	})

	step = "pubsub"
	local := subscribeSync("go.local")
	for _, p := range []string{"one", "two", "three"} {
		if err := nc.Publish("go.local", []byte(p)); err != nil {
			fail("publish: %v", err)
		}
	}
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, string(next(local).Data))
	}
	report(map[string]interface{}{"payloads": got})

	step = "headers"
	hm := nats.NewMsg("go.local")
	hm.Data = []byte("with headers")
	hm.Header["X-Trace"] = []string{"go-1"}
	hm.Header["X-Multi"] = []string{"a", "b"}
	if err := nc.PublishMsg(hm); err != nil {
		fail("publish: %v", err)
	}
	m := next(local)
	report(map[string]interface{}{"payload": string(m.Data), "headers": headers(m.Header)})

	// The Go responder: "go:" before the payload, the headers sent back.
	step = "responder"
	_, err = nc.Subscribe("go.svc", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Data = append([]byte("go:"), m.Data...)
		for k, v := range m.Header {
			r.Header[k] = v
		}
		if err := m.RespondMsg(r); err != nil {
			asyncMu.Lock()
			asyncErr = append(asyncErr, "respond: "+err.Error())
			asyncMu.Unlock()
		}
	})
	if err != nil {
		fail("subscribe go.svc: %v", err)
	}
	syncServer()
	m = requestText("go.svc", "self")
	report(map[string]interface{}{"reply": string(m.Data)})

	// Go asks the TCP peer.
	step = "request_tcp"
	req := nats.NewMsg("peer.echo")
	req.Data = []byte("hello from go")
	req.Header["X-From"] = []string{"go"}
	m = request(req)
	report(map[string]interface{}{"reply": string(m.Data), "headers": headers(m.Header)})

	// The TCP peer asks the Go responder.
	step = "request_from_tcp"
	m = requestText("peer.ask", "go.svc hello from rust")
	report(map[string]interface{}{"reply": string(m.Data)})

	// A plain message each way.
	step = "publish_to_tcp"
	if err := nc.Publish("peer.sink", []byte("go was here")); err != nil {
		fail("publish: %v", err)
	}
	if err := nc.Flush(); err != nil {
		fail("flush: %v", err)
	}
	report(map[string]interface{}{})

	step = "publish_from_tcp"
	in := subscribeSync("go.in")
	syncServer()
	requestText("peer.publish", "go.in lit:hello from tcp")
	m = next(in)
	report(map[string]interface{}{"payload": string(m.Data)})

	// The largest message, up through the TCP peer and back.
	step = "big_echo"
	want := genBytes(*big)
	req = nats.NewMsg("peer.echo")
	req.Data = want
	req.Header["X-Size"] = []string{strconv.Itoa(*big)}
	m = request(req)
	d := describe(m.Data, want)
	d["headers"] = headers(m.Header)
	report(d)

	// Text, which compresses: from the TCP peer, and echoed.
	step = "text_from_tcp"
	requestText("peer.publish", "go.in text:204800")
	m = next(in)
	report(describe(m.Data, genText(204800)))

	step = "text_echo"
	want = genText(204800)
	m = request(&nats.Msg{Subject: "peer.echo", Data: want})
	report(describe(m.Data, want))

	// Many messages of many sizes in a row, so that the server writes
	// several in one batch (one compressed message, when compressing).
	step = "burst_from_tcp"
	requestText("peer.publish", "go.in burst:200")
	all := sha1.New()
	for i := 0; i < 200; i++ {
		m = next(in)
		w := burstMessage(i)
		if !bytes.Equal(m.Data, w) {
			fail("message %d of the burst: %d bytes, first difference at %d", i, len(m.Data), firstDiff(m.Data, w))
		}
		all.Write(m.Data)
	}
	report(map[string]interface{}{"count": 200, "sha1": hex.EncodeToString(all.Sum(nil))})

	step = "drain"
	if err := nc.Drain(); err != nil {
		fail("drain: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(wait):
		fail("the connection did not close after the drain")
	}
	asyncMu.Lock()
	errs := len(asyncErr)
	asyncMu.Unlock()
	if errs > 0 {
		fail("errors were reported")
	}
	step = "done"
	report(map[string]interface{}{})
}

// burstMessage is the i-th message of a burst: its number and text of a
// size that varies from 1 byte to about 9 KiB.
func burstMessage(i int) []byte {
	return append([]byte(fmt.Sprintf("%03d ", i)), genText(1+(i*i*7)%9000)...)
}
