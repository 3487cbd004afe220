package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// subscribe runs one subscription over a WebSocket and returns every data
// payload until the server completes it.
func subscribe(ctx context.Context, t testing.TB, url, protocol, query string, vars map[string]any) ([]json.RawMessage, error) {
	start, data := "subscribe", "next"
	if protocol == "graphql-ws" {
		start, data = "start", "data"
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/query", &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		return nil, err
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		return nil, err
	}
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": start, "payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for {
		var m wsMsg
		if err := wsjson.Read(ctx, c, &m); err != nil {
			return out, err
		}
		switch m.Type {
		case "connection_ack", "ka", "ping", "pong":
		case data:
			out = append(out, m.Payload)
		case "complete":
			_ = c.Close(websocket.StatusNormalClosure, "")
			return out, nil
		case "error":
			return out, fmt.Errorf("error message: %s", m.Payload)
		default:
			return out, fmt.Errorf("unexpected %s: %s", m.Type, m.Payload)
		}
	}
}

const eventsSub = `subscription($id: ID!, $after: Int) { simulationEvents(id: $id, after: $after) { seq type agentId round status state { opinion care support } } }`

type eventPayload struct {
	Data struct {
		SimulationEvents struct {
			Seq     int
			Type    string
			AgentID *string `json:"agentId"`
			Status  *string
		} `json:"simulationEvents"`
	} `json:"data"`
}

func startRun(t *testing.T, e *env, rounds int) string {
	t.Helper()
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation($r: Int) { runSimulation(input: {trigger: "Subscribed.", rounds: $r}) { id } }`, map[string]any{"r": rounds}).decode(t, &run)
	return run.RunSimulation.ID
}

func TestSubscriptionsOverWebSocket(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			id := startRun(t, e, 1)
			msgs, err := subscribe(ctx, t, e.url, protocol, eventsSub, map[string]any{"id": id, "after": 3})
			if err != nil {
				t.Fatal(err)
			}
			for k, raw := range msgs {
				var p eventPayload
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatal(err)
				}
				if p.Data.SimulationEvents.Seq != 4+k {
					t.Fatalf("message %d has seq %d, want %d", k, p.Data.SimulationEvents.Seq, 4+k)
				}
			}
			var last eventPayload
			_ = json.Unmarshal(msgs[len(msgs)-1], &last)
			if last.Data.SimulationEvents.Type != "FINISHED" || last.Data.SimulationEvents.Status == nil || *last.Data.SimulationEvents.Status != "SUCCEEDED" {
				t.Fatalf("last event %s", msgs[len(msgs)-1])
			}
			// 3 skipped + 40 agent steps + 2 rounds + RUNNING + SUCCEEDED + FINISHED (QUEUED is seq 1).
			if 3+len(msgs) != 1+1+40+2+1+1 {
				t.Fatalf("%d events after seq 3", len(msgs))
			}

			progress, err := subscribe(ctx, t, e.url, protocol,
				`subscription($id: ID!) { simulationProgress(id: $id) { status completedSteps totalSteps usage { calls } } }`, map[string]any{"id": id})
			if err != nil || len(progress) != 1 || !strings.Contains(string(progress[0]), `"SUCCEEDED"`) {
				t.Fatalf("progress of a finished run: %s %v", progress, err)
			}
		})
	}

	msgs, err := subscribe(ctx, t, e.url, "graphql-transport-ws", eventsSub, map[string]any{"id": "21474836999"})
	got := fmt.Sprint(err)
	for _, m := range msgs {
		got += string(m)
	}
	if !strings.Contains(got, "NOT_FOUND") {
		t.Fatalf("unknown run: %s", got)
	}
}

// Many subscribers on one run each get every event; their goroutines are gone afterwards.
func TestManyConcurrentSubscriptions(t *testing.T) {
	const subscribers = 1000
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := startRun(t, e, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	counts := make([]int, subscribers)
	errs := make([]error, subscribers)
	for i := range subscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs, err := subscribe(ctx, t, e.url, "graphql-transport-ws", eventsSub, map[string]any{"id": id})
			counts[i], errs[i] = len(msgs), err
		}()
	}
	wg.Wait()
	for i := range subscribers {
		if errs[i] != nil || counts[i] != 46 {
			t.Fatalf("subscriber %d: %d events, %v", i, counts[i], errs[i])
		}
	}
	// Every subscription goroutine (service stream, resolver relay, WebSocket
	// connection) is gone; River's and the HTTP client's own goroutines stay.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := subscriptionGoroutines()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscription goroutines still running", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func subscriptionGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "simulation.(*Service).Events") || strings.Contains(g, "simulation.(*Service).Progress") ||
			strings.Contains(g, "resolvers.relay") || strings.Contains(g, "transport.(*wsConnection)") || strings.Contains(g, "api.(*wsSession)") {
			n++
		}
	}
	return n
}

func TestSubscriptionOverSSE(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := startRun(t, e, 0)
	body, _ := json.Marshal(map[string]any{"query": eventsSub, "variables": map[string]any{"id": id}})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	stream := string(raw)
	// QUEUED, RUNNING, 20 steps, round 0, SUCCEEDED, FINISHED; then the stream completes.
	if n := strings.Count(stream, "event: next"); n != 25 || !strings.Contains(stream, `"type":"FINISHED"`) || !strings.Contains(stream, "event: complete") {
		t.Fatalf("%d events:\n%.500s", n, stream)
	}
}

// BenchmarkSubscriptionMemory holds 1,000 open simulationEvents subscriptions
// on one run, and reports the heap they take per subscription, server and
// client side together (one process). The run waits for a slow fake LLM, so
// the subscriptions stay open while they are measured.
//
//	go test ./api -run '^$' -bench SubscriptionMemory -benchtime 1x
func BenchmarkSubscriptionMemory(b *testing.B) {
	const subscribers = 1000
	e := newEnv(b, "sqlite")
	e.mustUpload(readFixture(b, "ethox-network-20.json"), "")
	var run struct{ RunSimulation struct{ ID string } }
	e.query(`mutation { runSimulation(input: {trigger: "Memory.", rounds: 0, engine: DEGROOT}) { id } }`, nil).decode(b, &run)
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]*websocket.Conn, 0, subscribers)
		for range subscribers {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/query", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				b.Fatal(err)
			}
			_ = wsjson.Write(ctx, c, map[string]any{"type": "connection_init"})
			var ack wsMsg
			_ = wsjson.Read(ctx, c, &ack)
			// after 10^6: nothing to replay and nothing live, so the subscription stays open.
			_ = wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": eventsSub,
				"variables": map[string]any{"id": run.RunSimulation.ID, "after": 1000000}}})
			conns = append(conns, c)
		}
		time.Sleep(500 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/subscribers, "heap-bytes/subscription")
		b.ReportMetric(float64(subscriptionGoroutines())/subscribers, "server-goroutines/subscription")
		for _, c := range conns {
			c.CloseNow()
		}
		cancel()
	}
}
