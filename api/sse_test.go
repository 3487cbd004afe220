package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
)

// sseMsg is one dispatched event or comment line of a stream.
type sseMsg struct {
	event, data, comment string
	at                   time.Time
}

// readSSE parses a stream as EventSource does (event, data, comments) into a
// channel that closes with the stream.
func readSSE(body io.Reader) <-chan sseMsg {
	out := make(chan sseMsg, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var m sseMsg
		var data []string
		hasData := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if hasData || m.event != "" {
					m.data, m.at = strings.Join(data, "\n"), time.Now()
					out <- m
				}
				m, data, hasData = sseMsg{}, nil, false
			case strings.HasPrefix(line, ":"):
				out <- sseMsg{comment: line, at: time.Now()} // ":" or ": keep-alive"
			case strings.HasPrefix(line, "event:"):
				m.event = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, "data:"):
				data, hasData = append(data, strings.TrimPrefix(line[len("data:"):], " ")), true
			}
		}
	}()
	return out
}

// nextEvent returns the next event, skipping comments; it fails the test
// after timeout.
func nextEvent(t *testing.T, ch <-chan sseMsg, timeout time.Duration) sseMsg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if m.comment != "" {
				continue
			}
			return m
		case <-deadline:
			t.Fatal("no event in time")
		}
	}
}

type sseClient struct {
	t     *testing.T
	e     *env
	auth  string // bearer token, or ""
	token string // reservation
}

func (c *sseClient) do(method, rawURL, contentType string, body []byte, header map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", "Bearer "+c.auth)
	}
	if c.token != "" {
		req.Header.Set("X-GraphQL-Event-Stream-Token", c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c *sseClient) reserve() {
	c.t.Helper()
	resp, b := c.do(http.MethodPut, c.e.url+"/query", "", nil, nil)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(b) < 16 {
		c.t.Fatalf("PUT: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c.token = string(b)
}

// open opens the reserved stream with the token in the URL, as EventSource does.
func (c *sseClient) open() (<-chan sseMsg, func()) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.url+"/query?token="+url.QueryEscape(c.token), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.t.Fatalf("open: %d %s", resp.StatusCode, b)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return readSSE(resp.Body), func() { resp.Body.Close() }
}

func (c *sseClient) operation(id, query string, vars map[string]any, accept string) (*http.Response, gqlResponse) {
	c.t.Helper()
	body := map[string]any{"query": query, "variables": vars}
	if id != "" {
		body["extensions"] = map[string]any{"operationId": id}
	}
	b, _ := json.Marshal(body)
	resp, raw := c.do(http.MethodPost, c.e.url+"/query", "application/json; charset=utf-8", b, map[string]string{"Accept": accept})
	var out gqlResponse
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("POST answer is not JSON (%d): %s", resp.StatusCode, raw)
		}
	}
	return resp, out
}

type opEvent struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func decodeOp(t *testing.T, m sseMsg) opEvent {
	t.Helper()
	var o opEvent
	if err := json.Unmarshal([]byte(m.data), &o); err != nil {
		t.Fatalf("event %s data %q: %v", m.event, m.data, err)
	}
	return o
}

// Distinct connections: a query over POST and over GET streams next then a
// complete event whose data line lets an EventSource listener fire;
// validation errors are a next event; a mutation over GET is 405.
func TestSSEDistinctConnections(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	stream := func(method, query string) (*http.Response, []sseMsg) {
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, e.url+"/query?query="+url.QueryEscape(query), nil)
		} else {
			b, _ := json.Marshal(map[string]any{"query": query})
			req, _ = http.NewRequest(method, e.url+"/query", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msgs []sseMsg
		if resp.StatusCode == http.StatusOK {
			for m := range readSSE(resp.Body) {
				if m.comment == "" {
					msgs = append(msgs, m)
				}
			}
		}
		return resp, msgs
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			resp, msgs := stream(method, countQuery)
			if resp.StatusCode != 200 || len(msgs) != 2 || msgs[0].event != "next" || !strings.Contains(msgs[0].data, `"nodeCount":20`) ||
				msgs[1].event != "complete" || msgs[1].data != "" {
				t.Fatalf("%d %+v", resp.StatusCode, msgs)
			}
			// The raw complete event has a data line.
			_, msgs = stream(method, `{ nope }`)
			if len(msgs) != 2 || msgs[0].event != "next" || !strings.Contains(msgs[0].data, "nope") || strings.Contains(msgs[0].data, `"data"`) || msgs[1].event != "complete" {
				t.Fatalf("validation error: %+v", msgs)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query?query="+url.QueryEscape(countQuery), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasSuffix(raw, []byte("event: complete\ndata:\n\n")) {
		t.Fatalf("raw stream ends %q", raw[max(0, len(raw)-40):])
	}
	resp, _ = stream(http.MethodGet, `mutation { cancelSimulation(id: "1") { id } }`)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("mutation over GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = stream(http.MethodGet, "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no query: %d", resp.StatusCode)
	}
}

// The keep-alive comes every interval from the stream's start, whatever
// else is written, and READ_TIMEOUT does not cut the stream.
func TestSSEKeepAliveInterval(t *testing.T) {
	const every = 250 * time.Millisecond
	e := newEnv(t, "sqlite", func(o *api.Options) { o.SSEKeepAlive = every; o.ReadTimeout = 300 * time.Millisecond })
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := runningRun(t, e)
	vars, _ := json.Marshal(map[string]any{"id": id, "after": 1000000}) // nothing to replay: idle
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query?query="+url.QueryEscape(eventsSub)+"&variables="+url.QueryEscape(string(vars)), nil)
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var ticks []time.Duration
	for m := range readSSE(resp.Body) {
		if m.event != "" {
			t.Fatalf("unexpected event %+v", m)
		}
		if m.comment == ": keep-alive" {
			ticks = append(ticks, m.at.Sub(start))
		}
		if len(ticks) == 6 { // 1.5 s: five times READ_TIMEOUT
			break
		}
	}
	if len(ticks) < 6 {
		t.Fatalf("stream ended after %d keep-alives: %v", len(ticks), ticks)
	}
	// The k-th keep-alive comes k intervals after the start (a late one does
	// not delay the next); the old one was reset by writes and came every
	// other tick.
	for i, at := range ticks {
		want := time.Duration(i+1) * every
		if at < want-50*time.Millisecond || at > want+every*4/5 {
			t.Fatalf("keep-alive %d at %v, want about %v: %v", i+1, at, want, ticks)
		}
	}
}

// Single connection mode: PUT reserves, GET opens with the token, POSTs
// run operations onto the stream (202), DELETE ends one.
func TestSSESingleConnection(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxSubscriptionsPerConnection = 2 })
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := runningRun(t, e)
	c := &sseClient{t: t, e: e}
	c.reserve()
	events, closeStream := c.open()

	// A second connection cannot take the same reservation.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-GraphQL-Event-Stream-Token", c.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("second stream: %v %v", resp, err)
	}

	resp, _ := c.operation("q1", countQuery, nil, "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("query: %d", resp.StatusCode)
	}
	m := nextEvent(t, events, 5*time.Second)
	if o := decodeOp(t, m); m.event != "next" || o.ID != "q1" || !strings.Contains(string(o.Payload), `"nodeCount":20`) {
		t.Fatalf("next: %+v", m)
	}
	m = nextEvent(t, events, 5*time.Second)
	if o := decodeOp(t, m); m.event != "complete" || o.ID != "q1" || o.Payload != nil {
		t.Fatalf("complete: %+v", m)
	}

	subVars := map[string]any{"id": id, "after": 1000000}
	if resp, _ := c.operation("s1", eventsSub, subVars, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscription: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, id, query, accept string
		status                  int
		code, msg               string
	}{
		{"same id while it runs", "s1", eventsSub, "", http.StatusConflict, "BAD_USER_INPUT", `"s1" is already running`},
		{"no operation id", "", countQuery, "", http.StatusBadRequest, "BAD_USER_INPUT", "operationId"},
		{"validation error, application/json", "v1", `{ nope }`, "application/json", http.StatusOK, "BAD_USER_INPUT", "nope"},
		{"validation error, graphql-response+json", "v2", `{ nope }`, "application/graphql-response+json", http.StatusBadRequest, "BAD_USER_INPUT", "nope"},
		{"unacceptable", "v3", countQuery, "text/html", http.StatusNotAcceptable, "BAD_USER_INPUT", "Accept"},
	} {
		resp, out := c.operation(tc.id, tc.query, nil, tc.accept)
		if tc.id == "s1" {
			resp, out = c.operation(tc.id, tc.query, subVars, tc.accept)
		}
		if resp.StatusCode != tc.status || out.code() != tc.code || out.Data != nil || !strings.Contains(out.Errors[0].Message, tc.msg) {
			t.Errorf("%s: %d %+v data %s", tc.name, resp.StatusCode, out.Errors, out.Data)
		}
	}
	// MaxSubscriptionsPerConnection bounds a stream's operations.
	if resp, _ := c.operation("s2", eventsSub, subVars, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second subscription: %d", resp.StatusCode)
	}
	if resp, out := c.operation("s3", eventsSub, subVars, ""); resp.StatusCode != http.StatusTooManyRequests || out.code() != "RATE_LIMITED" ||
		!strings.Contains(out.Errors[0].Message, "MAX_SUBSCRIPTIONS_PER_CONNECTION") {
		t.Fatalf("third subscription: %d %+v", resp.StatusCode, out.Errors)
	}
	// DELETE completes one; its slot is free again.
	if resp, _ := c.do(http.MethodDelete, e.url+"/query?operationId=s1", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	m = nextEvent(t, events, 5*time.Second)
	if o := decodeOp(t, m); m.event != "complete" || o.ID != "s1" {
		t.Fatalf("after DELETE: %+v", m)
	}
	if resp, _ := c.operation("s3", eventsSub, subVars, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscription after DELETE: %d", resp.StatusCode)
	}
	if resp, _ := c.do(http.MethodDelete, e.url+"/query", "", nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("DELETE without operationId: %d", resp.StatusCode)
	}

	// Closing the stream ends its operations and its token.
	closeStream()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, out := c.operation("q2", countQuery, nil, "")
		if resp.StatusCode == http.StatusNotFound && out.code() == "NOT_FOUND" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token still served after the stream closed: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := subscriptionGoroutines(); n != 0 {
		time.Sleep(500 * time.Millisecond)
		if n = subscriptionGoroutines(); n != 0 {
			t.Fatalf("%d subscription goroutines left after the stream closed", n)
		}
	}
}

// Operations posted before the stream opens wait for it; an unopened
// reservation expires; a client's reservations are capped.
func TestSSEReservationBounds(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.SSEReservationTimeout = 300 * time.Millisecond
		o.MaxSSEReservationsPerClient = 2
	})
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	c := &sseClient{t: t, e: e}
	c.reserve()
	if resp, _ := c.operation("early", countQuery, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("operation before the stream: %d", resp.StatusCode)
	}
	events, closeStream := c.open()
	if m := nextEvent(t, events, 5*time.Second); m.event != "next" || decodeOp(t, m).ID != "early" {
		t.Fatalf("%+v", m)
	}
	d := &sseClient{t: t, e: e}
	d.reserve() // the second of this client
	resp, b := d.do(http.MethodPut, e.url+"/query", "", nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "RATE_LIMITED") {
		t.Fatalf("third reservation: %d %s", resp.StatusCode, b)
	}
	time.Sleep(500 * time.Millisecond) // d's reservation expires unopened; c's stream stays
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query?token="+d.token, nil)
	req.Header.Set("Accept", "text/event-stream")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("expired reservation: %v %v", resp, err)
	}
	if resp, _ := c.operation("later", countQuery, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("open stream after the timeout: %d", resp.StatusCode)
	}
	closeStream()
	d.reserve() // slots free again once streams end
	resp, b = d.do(http.MethodPut, e.url+"/query", "", nil, map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("PUT accepting only JSON: %d %s", resp.StatusCode, b)
	}
}

// A reservation needs the token a subscription needs and binds the stream to
// it; each operation is still checked for its own role.
func TestSSESingleConnectionAuth(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, true))
	anon := &sseClient{t: t, e: e}
	resp, b := anon.do(http.MethodPut, e.url+"/query", "", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "UNAUTHENTICATED") {
		t.Fatalf("anonymous PUT: %d %s", resp.StatusCode, b)
	}
	c := &sseClient{t: t, e: e, auth: readerToken}
	c.reserve()
	events, _ := c.open() // the token in the URL is enough, as EventSource sends it
	other := &sseClient{t: t, e: e, auth: writerToken, token: c.token}
	if resp, out := other.operation("x", countQuery, nil, ""); resp.StatusCode != http.StatusForbidden || out.code() != "FORBIDDEN" {
		t.Fatalf("other credentials: %d %+v", resp.StatusCode, out.Errors)
	}
	if resp, _ := other.do(http.MethodDelete, e.url+"/query?operationId=x", "", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE with other credentials: %d", resp.StatusCode)
	}
	if resp, _ := c.operation("m", `mutation { cancelSimulation(id: "1") { id } }`, nil, ""); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mutation: %d", resp.StatusCode)
	}
	m := nextEvent(t, events, 5*time.Second)
	if o := decodeOp(t, m); o.ID != "m" || !strings.Contains(string(o.Payload), "FORBIDDEN") {
		t.Fatalf("reader's mutation: %+v", m)
	}
}

// Shutdown ends open streams and refuses new reservations.
func TestSSEShutdown(t *testing.T) {
	shutdown := make(chan struct{})
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Shutdown = shutdown })
	c := &sseClient{t: t, e: e}
	c.reserve()
	events, _ := c.open()
	close(shutdown)
	for range events {
	} // ends
	resp, b := c.do(http.MethodPut, e.url+"/query", "", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("PUT after shutdown: %d %s", resp.StatusCode, b)
	}
}
