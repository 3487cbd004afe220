package llm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is an OpenAI-compatible /v1/chat/completions endpoint. Each
// request is recorded and answered by handle(n, w, body), n counting from 1.
type fakeServer struct {
	*httptest.Server
	handle func(n int, w http.ResponseWriter, r *http.Request, body map[string]any)

	mu       sync.Mutex
	bodies   []map[string]any
	headers  []http.Header
	arrivals []time.Time

	calls       atomic.Int32
	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func newFake(t testing.TB, handle func(n int, w http.ResponseWriter, r *http.Request, body map[string]any)) *fakeServer {
	t.Helper()
	f := &fakeServer{handle: handle}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", f.serve)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	cur := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInflight.Load()
		if cur <= m || f.maxInflight.CompareAndSwap(m, cur) {
			break
		}
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	f.arrivals = append(f.arrivals, time.Now())
	f.mu.Unlock()
	n := int(f.calls.Add(1))
	f.handle(n, w, r, body)
}

func (f *fakeServer) body(i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]
}

func (f *fakeServer) arrival(i int) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.arrivals[i]
}

// writeChat answers with one choice.
func writeChat(w http.ResponseWriter, content, finish string, prompt, completion int) {
	if finish == "" {
		finish = "stop"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":      "chatcmpl-test",
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   "fake",
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content},
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"prompt_tokens":     prompt,
			"completion_tokens": completion,
			"total_tokens":      prompt + completion,
		},
	})
}

const validJSON = `{"opinion":"Bike lanes are good","care":7,"change_in_support":2}`

// writeAPIError answers with an OpenAI-style error body.
func writeAPIError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"param":null,"code":%q}}`, msg, typ, code)
}

// testConfig is fast: tiny backoffs, short timeouts.
func testConfig(url string) Config {
	return Config{
		APIKey:      "sk-test",
		BaseURL:     url,
		Model:       "gpt-4.1-mini",
		CallTimeout: 2 * time.Second,
		BackoffBase: time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
	}
}

func mustNew(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func agentRequest() Request {
	return Request{Messages: []Message{
		{Role: "system", Content: "You are Ada, a 34-year-old cyclist living in the city centre."},
		{Role: "user", Content: "The council proposes new bike lanes. How do you react?"},
	}}
}
