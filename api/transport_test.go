package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
)

const countQuery = `{ graph { metadata { nodeCount edgeCount } } }`

func TestGETQuery(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query?query="+url.QueryEscape(countQuery), nil)
	var got struct {
		Graph struct {
			Metadata struct{ NodeCount, EdgeCount int }
		}
	}
	e.send(req).decode(t, &got)
	if got.Graph.Metadata.NodeCount != 20 || got.Graph.Metadata.EdgeCount != 52 {
		t.Fatalf("GET graph = %+v", got)
	}
}

func TestJSONBodyLimit(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxBodyBytes = 64 })
	for _, chunked := range []bool{false, true} {
		body, _ := json.Marshal(map[string]any{"query": countQuery + strings.Repeat(" ", 100)})
		resp := e.send(newPost(t, e.url, "application/json", bytesBuffer(body), chunked))
		if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "MAX_BODY_BYTES") {
			t.Fatalf("chunked=%v: status %d %+v", chunked, resp.Status, resp.Errors)
		}
	}
}

// Both WebSocket subprotocols carry queries (subscriptions come with live runs).
func TestWebSocketProtocols(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + "/query"
	cases := []struct {
		protocol, start, data, complete string
	}{
		{"graphql-transport-ws", "subscribe", "next", "complete"},
		{"graphql-ws", "start", "data", "complete"},
	}
	for _, tc := range cases {
		t.Run(tc.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{tc.protocol}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.Header.Get("Sec-WebSocket-Protocol") != tc.protocol {
				t.Fatalf("negotiated %q", resp.Header.Get("Sec-WebSocket-Protocol"))
			}
			must(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{}}))
			var msg struct {
				Type    string          `json:"type"`
				ID      string          `json:"id"`
				Payload json.RawMessage `json:"payload"`
			}
			must(t, wsjson.Read(ctx, c, &msg))
			if msg.Type != "connection_ack" {
				t.Fatalf("got %+v, want connection_ack", msg)
			}
			must(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": tc.start, "payload": map[string]any{"query": countQuery}}))
			gotData := false
			for {
				must(t, wsjson.Read(ctx, c, &msg))
				if msg.Type == "ka" || msg.Type == "ping" || msg.Type == "pong" {
					continue
				}
				if msg.Type == tc.data {
					if !strings.Contains(string(msg.Payload), `"nodeCount":20`) {
						t.Fatalf("payload %s", msg.Payload)
					}
					gotData = true
					continue
				}
				if msg.Type == tc.complete {
					break
				}
				t.Fatalf("unexpected message %+v", msg)
			}
			if !gotData {
				t.Fatal("no data before complete")
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestSSEQuery(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	body, _ := json.Marshal(map[string]any{"query": countQuery})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			events = append(events, line)
		}
	}
	joined := strings.Join(events, "\n")
	if !strings.Contains(joined, "event: next") || !strings.Contains(joined, `"nodeCount":20`) || !strings.Contains(joined, "event: complete") {
		t.Fatalf("SSE stream:\n%s", joined)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.CORSOrigins = []string{"https://app.example.com"} })
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{"https://app.example.com", true}, {"https://evil.example.com", false}} {
		req, _ := http.NewRequest(http.MethodOptions, e.url+"/query", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if (got == tc.origin) != tc.allow {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
