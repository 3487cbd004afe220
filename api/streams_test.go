package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
)

// A WebSocket carries at most MaxSubscriptionsPerConnection subscriptions at
// once; a completed one frees its place.
func TestSubscriptionsPerConnection(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxSubscriptionsPerConnection = 2 })
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := runningRun(t, e)
	c, msg, err := wsInit(t, e.url, nil, nil)
	if err != nil || msg["type"] != "connection_ack" {
		t.Fatalf("%v %v", msg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	subscribeAs := func(subID string) {
		q := `subscription($id: ID!) { simulationProgress(id: $id) { status } }`
		if err := wsjson.Write(ctx, c, map[string]any{"id": subID, "type": "subscribe", "payload": map[string]any{"query": q, "variables": map[string]any{"id": id}}}); err != nil {
			t.Fatal(err)
		}
	}
	// next waits for the next message of subID, skipping pings.
	next := func(subID string) wsMsg {
		for {
			var m wsMsg
			if err := wsjson.Read(ctx, c, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID == subID {
				return m
			}
		}
	}
	for _, s := range []string{"a", "b"} {
		subscribeAs(s)
		if m := next(s); m.Type != "next" {
			t.Fatalf("subscription %s: %s %s", s, m.Type, m.Payload)
		}
	}
	subscribeAs("c")
	m := next("c")
	if m.Type != "next" || !strings.Contains(string(m.Payload), "RATE_LIMITED") || !strings.Contains(string(m.Payload), "MAX_SUBSCRIPTIONS_PER_CONNECTION") {
		t.Fatalf("third subscription: %s %s", m.Type, m.Payload)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "a", "type": "complete"}); err != nil {
		t.Fatal(err)
	}
	// The server frees a's place when its goroutine ends; retry briefly.
	for i := 0; ; i++ {
		subscribeAs("d")
		m := next("d")
		if m.Type == "next" && strings.Contains(string(m.Payload), `"status"`) {
			break
		}
		if i == 50 {
			t.Fatalf("after completing one: %s %s", m.Type, m.Payload)
		}
		// The refused d ends with complete; its id is taken until then (4409).
		if m := next("d"); m.Type != "complete" {
			t.Fatalf("refused subscription: %s %s", m.Type, m.Payload)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// At most MaxSSEStreams SSE subscriptions are open at once; one more gets 503
// before any work.
func TestSSEStreamCap(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxSSEStreams = 2 })
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := runningRun(t, e)
	body, _ := json.Marshal(map[string]any{"query": `subscription($id: ID!) { simulationProgress(id: $id) { status } }`, "variables": map[string]any{"id": id}})
	open := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range 2 {
		resp := open()
		r := bufio.NewReader(resp.Body)
		line, err := r.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "event:") { // gqlgen starts with a comment line
			line, err = r.ReadString('\n')
		}
		if resp.StatusCode != http.StatusOK || err != nil || !strings.HasPrefix(line, "event: next") {
			t.Fatalf("stream %d: %d %q %v", i, resp.StatusCode, line, err)
		}
	}
	resp := open()
	var out gqlResponse
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusServiceUnavailable || out.code() != "RATE_LIMITED" || !strings.Contains(out.Errors[0].Message, "MAX_SSE_STREAMS") {
		t.Fatalf("third stream: %d %+v", resp.StatusCode, out.Errors)
	}
}

// runningRun starts a run whose LLM calls take 10 s, so it stays RUNNING
// while a test holds subscriptions to it; it is cancelled when the test ends.
func runningRun(t *testing.T, e *env) string {
	t.Helper()
	e.fk.SetLatency(10 * time.Second)
	id := startRun(t, e, 1)
	t.Cleanup(func() {
		e.query(`mutation($id: ID!) { cancelSimulation(id: $id) { id } }`, map[string]any{"id": id})
	})
	return id
}
