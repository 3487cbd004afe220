// Package fakellm is an OpenAI-compatible chat-completions server that
// answers without a model: the one stand-in the test suite allows, behind the
// real go-openai client, and the server of `ethox fakellm`, which lets a
// front-end developer run LLM simulations without a key and without cost.
// Answers are deterministic functions of the prompt, and say they are fake.
package fakellm

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Request is what the server saw of one chat completion call.
type Request struct {
	At       time.Time
	Model    string
	System   string
	User     string
	JSON     bool // the call asked for a JSON answer (response_format, or a prompt asking for a JSON object)
	Finished bool // the answer was written whole
	// Sampling as sent: nil when the request did not say.
	Temperature         *float64
	MaxTokens           *int // max_tokens
	MaxCompletionTokens *int // max_completion_tokens (reasoning models)
	// BodyBytes is the size of the request body.
	BodyBytes int
}

// Handler answers chat completions at /v1/chat/completions. Its zero value
// is not usable: use NewHandler (or New, for tests).
type Handler struct {
	mu       sync.Mutex
	latency  time.Duration
	record   bool // keep every Request (tests); a long-running server keeps none
	calls    int
	reqs     []*Request
	inFlight int
	peak     int
	// Hook, when set, may answer instead of the default: it returns a status
	// (0 = answer normally), extra headers and a body.
	hook func(r *Request, n int) (int, map[string]string, string)
	// usage, when set, replaces the usage block of a normal answer (hostile
	// servers report negative or absurd token counts).
	usage func(r *Request, n int) (prompt, completion int64, ok bool)
	// finish, when set and not empty, replaces the finish_reason "stop"
	// ("length": the answer was cut off at the token limit).
	finish func(r *Request, n int) string
	faults faultState // SetFaults
}

// NewHandler returns a handler with a fixed latency per call. With record,
// it keeps every request for Requests; a long-running server passes false.
func NewHandler(latency time.Duration, record bool) *Handler {
	return &Handler{latency: latency, record: record}
}

// Server is a running fake on a local test listener.
type Server struct {
	*httptest.Server
	*Handler
}

// New starts a fake with a fixed latency per call, recording its requests.
func New(latency time.Duration) *Server {
	h := NewHandler(latency, true)
	return &Server{Server: httptest.NewServer(h), Handler: h}
}

// BaseURL is what OPENAI_BASE_URL would be.
func (s *Server) BaseURL() string { return s.URL + "/v1" }

// SetLatency changes the latency of later calls.
func (s *Handler) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetHook installs a hook (nil removes it). n is the 1-based call number.
func (s *Handler) SetHook(h func(r *Request, n int) (status int, headers map[string]string, body string)) {
	s.mu.Lock()
	s.hook = h
	s.mu.Unlock()
}

// SetUsage installs a usage override (nil removes it): when it returns ok,
// the answer reports these token counts instead of the default estimate.
func (s *Handler) SetUsage(u func(r *Request, n int) (prompt, completion int64, ok bool)) {
	s.mu.Lock()
	s.usage = u
	s.mu.Unlock()
}

// SetFinishReason installs a finish_reason override (nil removes it).
func (s *Handler) SetFinishReason(f func(r *Request, n int) string) {
	s.mu.Lock()
	s.finish = f
	s.mu.Unlock()
}

// Requests returns a copy of every call seen so far (none without record).
func (s *Handler) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	return out
}

// Calls is the number of calls seen so far.
func (s *Handler) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Peak is the largest number of calls in flight at once.
func (s *Handler) Peak() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Answer is the default reaction to a user prompt: stable per prompt, and
// its opinion says that it is a fake answer.
func Answer(user string) (opinion string, care, support float64) {
	h := fnv.New64a()
	h.Write([]byte(user))
	v := h.Sum64()
	care = float64(v%11) / 1              // 0..10
	support = float64(int((v/11)%11)) - 5 // -5..5
	opinion = fmt.Sprintf("Opinion %x: a fake answer from ethox fakellm, canned, not written by a model.", v&0xffffff)
	return opinion, care, support
}

// Narrative is the default answer to a prompt that does not ask for JSON
// (a report's narrative): prose, headed sections, marked as fake.
func Narrative(user string) string {
	h := fnv.New64a()
	h.Write([]byte(user))
	return fmt.Sprintf(`[Fake narrative %x from ethox fakellm: canned text, not written by a model.]

## Perceived meaning
This paragraph stands where a supervisor model would describe how the population understood the message.

## Care and support
A real model would summarise the care and support distributions here, from the metrics it was given.

## Polarization and consensus
Point OPENAI_BASE_URL at OpenAI, Ollama or vLLM for a narrative that reads the numbers.`, h.Sum64()&0xffffff)
}

// wantsJSON says whether a call asks for a JSON answer: a response_format, or
// a prompt that asks for a JSON object (the simulation's agents do both).
func wantsJSON(responseFormat json.RawMessage, prompts ...string) bool {
	if len(responseFormat) > 0 && string(responseFormat) != "null" {
		return true
	}
	for _, p := range prompts {
		if strings.Contains(p, "JSON object") {
			return true
		}
	}
	return false
}

func (s *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"message":"not found: this fake serves only POST /v1/chat/completions","type":"invalid_request_error"}}`))
		return
	}
	var body struct {
		Model               string          `json:"model"`
		ResponseFormat      json.RawMessage `json:"response_format"`
		Temperature         *float64        `json:"temperature"`
		MaxTokens           *int            `json:"max_tokens"`
		MaxCompletionTokens *int            `json:"max_completion_tokens"`
		Messages            []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	req := &Request{At: time.Now(), Model: body.Model, Temperature: body.Temperature, MaxTokens: body.MaxTokens,
		MaxCompletionTokens: body.MaxCompletionTokens, BodyBytes: len(raw)}
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
	req.JSON = wantsJSON(body.ResponseFormat, req.System, req.User)
	s.mu.Lock()
	s.calls++
	n := s.calls
	if s.record {
		s.reqs = append(s.reqs, req)
	}
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	latency, hook, usage, finish := s.latency, s.hook, s.usage, s.finish
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
		if req.JSON {
			op, care, support := Answer(req.User)
			b, _ := json.Marshal(map[string]any{"opinion": op, "care": care, "change_in_support": support})
			answer = string(b)
		} else {
			answer = Narrative(req.User)
		}
	}
	prompt, completion := int64(len(req.System+req.User)/4), int64(len(answer)/4)
	if usage != nil {
		if p, c, ok := usage(req, n); ok {
			prompt, completion = p, c
		}
	}
	reason := "stop"
	if finish != nil {
		if f := finish(req, n); f != "" {
			reason = f
		}
	}
	resp := map[string]any{
		"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "created": time.Now().Unix(), "model": body.Model,
		"system_fingerprint": "ethox-fakellm",
		"choices": []any{map[string]any{"index": 0, "finish_reason": reason,
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
