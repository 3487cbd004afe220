// Package fakellm is an OpenAI-compatible chat-completions server for tests:
// the one stand-in the test suite allows, behind the real go-openai client.
// Answers are deterministic functions of the prompt.
package fakellm

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Request is what the server saw of one chat completion call.
type Request struct {
	At       time.Time
	Model    string
	System   string
	User     string
	Finished bool // the answer was written whole
}

// Server is a running fake.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	latency  time.Duration
	reqs     []*Request
	inFlight int
	peak     int
	// Hook, when set, may answer instead of the default: it returns a status
	// (0 = answer normally), extra headers and a body.
	hook func(r *Request, n int) (int, map[string]string, string)
	// usage, when set, replaces the usage block of a normal answer (hostile
	// servers report negative or absurd token counts).
	usage func(r *Request, n int) (prompt, completion int64, ok bool)
}

// New starts a fake with a fixed latency per call.
func New(latency time.Duration) *Server {
	s := &Server{latency: latency}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// BaseURL is what OPENAI_BASE_URL would be.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// SetLatency changes the latency of later calls.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetHook installs a hook (nil removes it). n is the 1-based call number.
func (s *Server) SetHook(h func(r *Request, n int) (status int, headers map[string]string, body string)) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

// SetUsage installs a usage override (nil removes it): when it returns ok,
// the answer reports these token counts instead of the default estimate.
func (s *Server) SetUsage(u func(r *Request, n int) (prompt, completion int64, ok bool)) {
	s.mu.Lock()
	s.usage = u
	s.mu.Unlock()
}

// Requests returns a copy of every call seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	return out
}

// Peak is the largest number of calls in flight at once.
func (s *Server) Peak() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Answer is the default reaction to a user prompt: stable per prompt.
func Answer(user string) (opinion string, care, support float64) {
	h := fnv.New64a()
	h.Write([]byte(user))
	v := h.Sum64()
	care = float64(v%11) / 1              // 0..10
	support = float64(int((v/11)%11)) - 5 // -5..5
	opinion = fmt.Sprintf("Opinion %x: I have thought about it.", v&0xffffff)
	return opinion, care, support
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	req := &Request{At: time.Now(), Model: body.Model}
	for _, m := range body.Messages {
		switch m.Role {
		case "system":
			req.System += m.Content
		case "user":
			if req.User == "" {
				req.User = m.Content // the first user message is the prompt; later ones are re-asks
			}
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	n := len(s.reqs)
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	latency, hook, usage := s.latency, s.hook, s.usage
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	select {
	case <-time.After(latency):
	case <-r.Context().Done():
		return
	}
	status, headers, answer := 0, map[string]string(nil), ""
	if hook != nil {
		status, headers, answer = hook(req, n)
	}
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	if status != 0 && status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(answer))
		return
	}
	if answer == "" {
		op, care, support := Answer(req.User)
		b, _ := json.Marshal(map[string]any{"opinion": op, "care": care, "change_in_support": support})
		answer = string(b)
	}
	prompt, completion := int64(len(req.System+req.User)/4), int64(len(answer)/4)
	if usage != nil {
		if p, c, ok := usage(req, n); ok {
			prompt, completion = p, c
		}
	}
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": body.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": answer}}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(resp); err == nil {
		s.mu.Lock()
		req.Finished = true
		s.mu.Unlock()
	}
}
