package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
)

// wsDial opens a socket offering the given subprotocols.
func wsDial(t *testing.T, url string, protocols ...string) (*websocket.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/query", &websocket.DialOptions{Subprotocols: protocols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, resp
}

// readUntilClose reads messages until the socket ends and returns them with
// the close error.
func readUntilClose(t *testing.T, c *websocket.Conn, within time.Duration) ([]wsMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var got []wsMsg
	for {
		var m wsMsg
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

// readMsg reads the next message other than a server ping, which it answers
// (the server drops a peer that stays silent for two ping intervals).
func readMsg(t *testing.T, c *websocket.Conn) wsMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		var m wsMsg
		if err := wsjson.Read(ctx, c, &m); err != nil {
			t.Fatalf("read: %v", err)
		}
		if m.Type != "ping" {
			return m
		}
		writeText(t, c, `{"type":"pong"}`)
	}
}

func writeText(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	if err := c.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

const (
	initFrame  = `{"type":"connection_init"}`
	countFrame = `{"id":"1","type":"subscribe","payload":{"query":"{ graph { metadata { nodeCount } } }"}}`
)

// Every row of issue 13's graphql-transport-ws table, and PROTOCOL.md's other
// closing cases, with raw frames.
func TestTransportWSCloseCodes(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.WSInitTimeout = 300 * time.Millisecond })
	cases := []struct {
		name   string
		frames []string // sent in order; "" sends a binary frame
		code   websocket.StatusCode
		reason string // a substring of the close reason
	}{
		{"non-JSON frame", []string{initFrame, `{not json`}, 4400, "Invalid message"},
		{"JSON that is not an object", []string{initFrame, `[1,2]`}, 4400, "Invalid message"},
		{"binary frame", []string{initFrame, ""}, 4400, "binary"},
		{"unknown type", []string{initFrame, `{"type":"hello"}`}, 4400, `"hello"`},
		{"no type", []string{initFrame, `{"id":"1"}`}, 4400, "type"},
		{"legacy start", []string{initFrame, `{"id":"1","type":"start","payload":{"query":"{ __typename }"}}`}, 4400, `"start"`},
		{"legacy connection_terminate", []string{initFrame, `{"type":"connection_terminate"}`}, 4400, "connection_terminate"},
		{"server type next from the client", []string{initFrame, `{"id":"1","type":"next","payload":{}}`}, 4400, `"next"`},
		{"subscribe without id", []string{initFrame, `{"type":"subscribe","payload":{"query":"{ __typename }"}}`}, 4400, "'id'"},
		{"subscribe with empty id", []string{initFrame, `{"id":"","type":"subscribe","payload":{"query":"{ __typename }"}}`}, 4400, "'id'"},
		{"subscribe with a numeric id", []string{initFrame, `{"id":1,"type":"subscribe","payload":{"query":"{ __typename }"}}`}, 4400, "'id'"},
		{"subscribe without payload", []string{initFrame, `{"id":"1","type":"subscribe"}`}, 4400, "payload"},
		{"subscribe without payload.query", []string{initFrame, `{"id":"1","type":"subscribe","payload":{"variables":{}}}`}, 4400, "'query'"},
		{"subscribe with a numeric query", []string{initFrame, `{"id":"1","type":"subscribe","payload":{"query":5}}`}, 4400, "'query'"},
		{"subscribe with array variables", []string{initFrame, `{"id":"1","type":"subscribe","payload":{"query":"{ __typename }","variables":[1]}}`}, 4400, "'variables'"},
		{"complete without id", []string{initFrame, `{"type":"complete"}`}, 4400, "'id'"},
		{"ping with a string payload", []string{initFrame, `{"type":"ping","payload":"x"}`}, 4400, "payload"},
		{"second connection_init", []string{initFrame, initFrame}, 4429, "Too many initialisation requests"},
		{"subscribe before connection_init", []string{countFrame}, 4401, "Unauthorized"},
		{"connection_init payload a string", []string{`{"type":"connection_init","payload":"token"}`}, 4400, "payload"},
		{"connection_init payload an array", []string{`{"type":"connection_init","payload":[1]}`}, 4400, "payload"},
		{"connection_init payload a number", []string{`{"type":"connection_init","payload":5}`}, 4400, "payload"},
		{"no connection_init within the timeout", nil, 4408, "Connection initialisation timeout"},
		{"only a ping within the timeout", []string{`{"type":"ping"}`}, 4408, "Connection initialisation timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := wsDial(t, e.url, "graphql-transport-ws")
			for _, f := range tc.frames {
				var err error
				if f == "" {
					err = c.Write(context.Background(), websocket.MessageBinary, []byte(initFrame))
				} else {
					err = c.Write(context.Background(), websocket.MessageText, []byte(f))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			msgs, err := readUntilClose(t, c, 10*time.Second)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code || !strings.Contains(ce.Reason, tc.reason) {
				t.Fatalf("ended with %v after %+v; want close %d with a reason containing %q", err, msgs, tc.code, tc.reason)
			}
			for _, m := range msgs {
				if m.Type != "connection_ack" && m.Type != "pong" && m.Type != "ping" {
					t.Fatalf("unexpected message before the close: %+v", m)
				}
			}
		})
	}
}

func TestTransportWSInitPayloads(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, frame := range []string{
		`{"type":"connection_init"}`,
		`{"type":"connection_init","payload":null}`,
		`{"type":"connection_init","payload":{}}`,
		`{"type":"connection_init","payload":{"anything":[1]}}`,
	} {
		t.Run(frame, func(t *testing.T) {
			c, _ := wsDial(t, e.url, "graphql-transport-ws")
			writeText(t, c, frame)
			if m := readMsg(t, c); m.Type != "connection_ack" {
				t.Fatalf("got %+v, want connection_ack", m)
			}
		})
	}
}

// Pings are answered with pongs carrying the same payload; an unsolicited
// pong is accepted.
func TestTransportWSPingPong(t *testing.T) {
	e := newEnv(t, "sqlite")
	c, _ := wsDial(t, e.url, "graphql-transport-ws")
	writeText(t, c, initFrame)
	readMsg(t, c) // ack
	cases := []struct{ ping, pong string }{
		{`{"type":"ping"}`, ``},
		{`{"type":"ping","payload":null}`, ``},
		{`{"type":"ping","payload":{"at":1}}`, `{"at":1}`},
	}
	for _, tc := range cases {
		writeText(t, c, `{"type":"pong","payload":{"heartbeat":true}}`)
		writeText(t, c, tc.ping)
		m := readMsg(t, c)
		if m.Type != "pong" || strings.ReplaceAll(string(m.Payload), " ", "") != tc.pong && !(tc.pong == "" && string(m.Payload) == "null") {
			t.Fatalf("%s: got %+v, want pong with payload %q", tc.ping, m, tc.pong)
		}
	}
}

// The server sends WebSocket ping frames: a peer that reads (and so answers
// them) stays however long it says nothing; one that stops reading is dropped.
func TestTransportWSServerPing(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.WSPingInterval = 100 * time.Millisecond })
	c, _ := wsDial(t, e.url, "graphql-transport-ws")
	writeText(t, c, initFrame)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m wsMsg
	must(t, wsjson.Read(ctx, c, &m)) // ack
	// A reader in the background answers the ping frames; the client sends nothing for a second.
	silent := c.CloseRead(ctx)
	time.Sleep(time.Second)
	select {
	case <-silent.Done():
		t.Fatal("a silent peer that answers ping frames was dropped")
	default:
	}
	c2, _ := wsDial(t, e.url, "graphql-transport-ws")
	writeText(t, c2, initFrame)
	time.Sleep(time.Second) // nobody reads c2, so its ping frames go unanswered
	_, err := readUntilClose(t, c2, 5*time.Second)
	var ce websocket.CloseError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("a peer that answers no ping: %v, want the connection dropped", err)
	}
}

// A parse or validation error (and a limit refusing the document) is an
// `error` message with GraphQL errors, and no `complete` follows it.
func TestTransportWSRequestErrors(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxDepth = 3 })
	cases := []struct{ name, query, message, code string }{
		{"parse error", `{ graph {`, "Expected", "BAD_USER_INPUT"},
		{"validation error", `{ noSuchField }`, "noSuchField", "BAD_USER_INPUT"},
		{"two operations and no operationName", `query A { __typename } query B { __typename }`, "operation", "BAD_USER_INPUT"},
		{"depth limit", `{ networks { edges { node { agents(first: 1) { totalCount } } } } }`, "MAX_QUERY_DEPTH", "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := wsDial(t, e.url, "graphql-transport-ws")
			writeText(t, c, initFrame)
			readMsg(t, c) // ack
			sub, _ := json.Marshal(map[string]any{"id": "q1", "type": "subscribe", "payload": map[string]any{"query": tc.query}})
			writeText(t, c, string(sub))
			m := readMsg(t, c)
			var errs []struct {
				Message    string
				Extensions map[string]any
			}
			if m.Type != "error" || m.ID != "q1" || json.Unmarshal(m.Payload, &errs) != nil || len(errs) == 0 {
				t.Fatalf("got %+v, want an error message with an array of errors", m)
			}
			if !strings.Contains(errs[0].Message, tc.message) || errs[0].Extensions["code"] != tc.code {
				t.Fatalf("errors %s, want %q with code %s", m.Payload, tc.message, tc.code)
			}
			// Nothing (no complete) before the pong; the id is free again.
			writeText(t, c, `{"type":"ping"}`)
			if m := readMsg(t, c); m.Type != "pong" {
				t.Fatalf("got %+v after the error, want only the pong", m)
			}
			writeText(t, c, strings.Replace(countFrame, `"1"`, `"q1"`, 1))
			if m := readMsg(t, c); m.Type != "next" || m.ID != "q1" {
				t.Fatalf("reusing the id: %+v", m)
			}
			if m := readMsg(t, c); m.Type != "complete" || m.ID != "q1" {
				t.Fatalf("reusing the id: %+v, want complete", m)
			}
		})
	}
}

// A second subscribe under a running operation's id closes with 4409; client
// complete stops that operation only; ids of finished operations may be reused.
func TestTransportWSOperationIDs(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	e.fk.SetLatency(300 * time.Millisecond)
	run := startRun(t, e, 3)
	progress := func(id string) string {
		b, _ := json.Marshal(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{
			"query":     `subscription($id: ID!) { simulationProgress(id: $id) { status completedSteps } }`,
			"variables": map[string]any{"id": run}}})
		return string(b)
	}

	t.Run("duplicate id", func(t *testing.T) {
		c, _ := wsDial(t, e.url, "graphql-transport-ws")
		writeText(t, c, initFrame)
		writeText(t, c, progress("dup"))
		writeText(t, c, progress("dup"))
		msgs, err := readUntilClose(t, c, 10*time.Second)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4409 || ce.Reason != "Subscriber for dup already exists" {
			t.Fatalf("ended with %v after %+v, want 4409", err, msgs)
		}
	})

	t.Run("complete stops one operation", func(t *testing.T) {
		c, _ := wsDial(t, e.url, "graphql-transport-ws")
		writeText(t, c, initFrame)
		writeText(t, c, progress("a"))
		writeText(t, c, progress("b"))
		seen := map[string]int{}
		for seen["a"] == 0 || seen["b"] == 0 {
			m := readMsg(t, c)
			if m.Type != "connection_ack" {
				if m.Type != "next" {
					t.Fatalf("got %+v", m)
				}
				seen[m.ID]++
			}
		}
		writeText(t, c, `{"id":"a","type":"complete"}`)
		writeText(t, c, `{"id":"a","type":"complete"}`)       // completing twice is harmless
		writeText(t, c, `{"id":"unknown","type":"complete"}`) // so is an unknown id
		// Messages for a may still be in flight; the pong marks where they end.
		writeText(t, c, `{"type":"ping","payload":{"mark":1}}`)
		for m := readMsg(t, c); m.Type != "pong"; m = readMsg(t, c) {
			if m.Type == "complete" {
				t.Fatalf("complete before the pong: %+v", m)
			}
		}
		afterA, bDone := 0, false
		for !bDone {
			m := readMsg(t, c)
			switch {
			case m.ID == "a":
				afterA++
			case m.ID == "b" && m.Type == "complete":
				bDone = true
			case m.ID == "b" && m.Type == "next":
				seen["b"]++
			default:
				t.Fatalf("got %+v", m)
			}
		}
		if afterA != 0 || seen["b"] < 2 {
			t.Fatalf("%d messages for a after its complete; %d for b", afterA, seen["b"])
		}
		if !strings.Contains(readLast(t, e, run), "SUCCEEDED") {
			t.Fatal("the run did not finish")
		}
	})
}

func readLast(t *testing.T, e *env, run string) string {
	t.Helper()
	var got struct{ Simulation struct{ Status string } }
	e.query(`query($id: ID!) { simulation(id: $id) { status } }`, map[string]any{"id": run}).decode(t, &got)
	return got.Simulation.Status
}

// A client offering both subprotocols gets graphql-transport-ws, whatever
// the order; graphql-ws alone (or none) gets the legacy protocol.
func TestWebSocketSubprotocolChoice(t *testing.T) {
	e := newEnv(t, "sqlite")
	cases := []struct {
		offer []string
		want  string
	}{
		{[]string{"graphql-ws", "graphql-transport-ws"}, "graphql-transport-ws"},
		{[]string{"graphql-transport-ws", "graphql-ws"}, "graphql-transport-ws"},
		{[]string{"graphql-transport-ws"}, "graphql-transport-ws"},
		{[]string{"graphql-ws"}, "graphql-ws"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.offer, ","), func(t *testing.T) {
			c, resp := wsDial(t, e.url, tc.offer...)
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.want {
				t.Fatalf("negotiated %q, want %q", got, tc.want)
			}
			writeText(t, c, initFrame)
			if m := readMsg(t, c); m.Type != "connection_ack" {
				t.Fatalf("got %+v", m)
			}
		})
	}
}

// On the legacy protocol an unknown message type gets an `error` for its id
// and a frame that is not JSON a connection_error, as
// subscriptions-transport-ws's server answers; the connection stays usable.
func TestLegacyWSInvalidMessages(t *testing.T) {
	e := newEnv(t, "sqlite")
	c, _ := wsDial(t, e.url, "graphql-ws")
	writeText(t, c, `{"type":"subscribe","id":"x"}`) // before init too
	if m := readMsg(t, c); m.Type != "error" || m.ID != "x" || !strings.Contains(string(m.Payload), "Invalid message type") {
		t.Fatalf("got %+v", m)
	}
	writeText(t, c, initFrame)
	for m := readMsg(t, c); m.Type != "connection_ack"; m = readMsg(t, c) {
		t.Fatalf("got %+v, want connection_ack", m)
	}
	cases := []struct{ frame, typ, id string }{
		{`{"type":"bogus","id":"7"}`, "error", "7"},
		{`{"type":"ping"}`, "error", ""},
		{`not json`, "connection_error", ""},
	}
	for _, tc := range cases {
		writeText(t, c, tc.frame)
		m := readMsg(t, c)
		for m.Type == "ka" {
			m = readMsg(t, c)
		}
		if m.Type != tc.typ || m.ID != tc.id || strings.Contains(string(m.Payload), "shutting down") {
			t.Fatalf("%s: got %+v, want %s", tc.frame, m, tc.typ)
		}
	}
	writeText(t, c, `{"id":"1","type":"start","payload":{"query":"{ __typename }"}}`)
	for m := readMsg(t, c); m.Type != "complete"; m = readMsg(t, c) {
		if m.Type != "data" && m.Type != "ka" {
			t.Fatalf("got %+v", m)
		}
	}
}

// Server shutdown closes graphql-transport-ws sockets with 1000.
func TestTransportWSShutdown(t *testing.T) {
	shutdown := make(chan struct{})
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Shutdown = shutdown })
	c, _ := wsDial(t, e.url, "graphql-transport-ws")
	writeText(t, c, initFrame)
	readMsg(t, c)
	close(shutdown)
	_, err := readUntilClose(t, c, 10*time.Second)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("ended with %v, want close 1000", err)
	}
}
