package llm

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

func TestReactAnswers(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Reaction
	}{
		{"structured", validJSON, Reaction{"Bike lanes are good", 7, 2}},
		{"fenced", "```json\n" + validJSON + "\n```", Reaction{"Bike lanes are good", 7, 2}},
		{"prose wrapped", "Sure! Here is my reaction: " + validJSON + " Hope that helps {not json}.", Reaction{"Bike lanes are good", 7, 2}},
		{"string numbers", `{"opinion":"meh","care":"7","change_in_support":" -1.5 "}`, Reaction{"meh", 7, -1.5}},
		{"key support", `{"opinion":"ok","care":3,"support":4}`, Reaction{"ok", 3, 4}},
		{"key changeInSupport", `{"Opinion":"ok","Care":3,"changeInSupport":-4}`, Reaction{"ok", 3, -4}},
		{"clamped high", `{"opinion":"furious","care":42,"change_in_support":-9}`, Reaction{"furious", 10, -5}},
		{"clamped low", `{"opinion":"whatever","care":-3,"change_in_support":12.5}`, Reaction{"whatever", 0, 5}},
		{"braces in strings", `{"opinion":"I like {curly} \"quotes\" }","care":5,"change_in_support":0}`, Reaction{`I like {curly} "quotes" }`, 5, 0}},
		{"think block", "<think>maybe {\"care\": 1}</think>\n" + validJSON, Reaction{"Bike lanes are good", 7, 2}},
		{"wrapper object", `{"reaction":` + validJSON + `}`, Reaction{"Bike lanes are good", 7, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				writeChat(w, tt.content, "", 120, 30)
			})
			c := mustNew(t, testConfig(f.URL))
			got, u, err := c.React(context.Background(), agentRequest())
			if err != nil {
				t.Fatalf("React: %v", err)
			}
			if got != tt.want {
				t.Errorf("reaction = %+v, want %+v", got, tt.want)
			}
			if u.Calls != 1 || u.Retries != 0 || u.PromptTokens != 120 || u.CompletionTokens != 30 {
				t.Errorf("usage = %+v", u)
			}
			if u.Latency <= 0 {
				t.Errorf("latency not measured: %+v", u)
			}
		})
	}
}

func TestParseReactionInvalid(t *testing.T) {
	tests := []struct{ name, content, wantErr string }{
		{"no json", "I think bike lanes are great.", "no JSON object"},
		{"malformed", `{"opinion": "x", "care": 7,`, "no JSON object"},
		{"missing care", `{"opinion":"x","change_in_support":1}`, `missing "care"`},
		{"missing support", `{"opinion":"x","care":1}`, `missing "change_in_support"`},
		{"missing opinion", `{"care":1,"change_in_support":1}`, `missing "opinion"`},
		{"opinion not string", `{"opinion":5,"care":1,"change_in_support":1}`, `"opinion" must be a string`},
		{"opinion null", `{"opinion":null,"care":1,"change_in_support":1}`, `"opinion" must be a string`},
		{"opinion empty", `{"opinion":"  ","care":1,"change_in_support":1}`, `"opinion" is empty`},
		{"care NaN", `{"opinion":"x","care":"NaN","change_in_support":1}`, "finite number"},
		{"care Inf", `{"opinion":"x","care":"+Inf","change_in_support":1}`, "finite number"},
		{"care word", `{"opinion":"x","care":"high","change_in_support":1}`, "finite number"},
		{"care bool", `{"opinion":"x","care":true,"change_in_support":1}`, "must be a number"},
		{"care null", `{"opinion":"x","care":null,"change_in_support":1}`, "must be a number"},
		{"unterminated think", "<think>" + validJSON, "no JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseReaction(tt.content)
			if err == nil {
				t.Fatalf("want error, got %+v", r)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseReactionPathological(t *testing.T) {
	start := time.Now()
	for _, s := range []string{strings.Repeat("{", 200_000), strings.Repeat(`{"a":`, 50_000), strings.Repeat("{}", 100_000)} {
		if _, err := parseReaction(s); err == nil {
			t.Error("want error")
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
}

func TestReactInvalidThenValid(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		if n == 1 {
			writeChat(w, `{"opinion": "half an answer", "care": `, "", 100, 10)
			return
		}
		writeChat(w, validJSON, "", 130, 20)
	})
	c := mustNew(t, testConfig(f.URL))
	got, u, err := c.React(context.Background(), agentRequest())
	if err != nil {
		t.Fatalf("React: %v", err)
	}
	if got.Opinion != "Bike lanes are good" {
		t.Errorf("reaction = %+v", got)
	}
	if u.Calls != 2 || u.Retries != 1 || u.PromptTokens != 230 || u.CompletionTokens != 30 {
		t.Errorf("usage = %+v, want 2 calls, 1 retry, 230/30 tokens", u)
	}
	// The re-ask echoes the bad answer and asks for the JSON object.
	msgs := f.body(1)["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("re-ask has %d messages, want 4", len(msgs))
	}
	last := msgs[3].(map[string]any)
	if msgs[2].(map[string]any)["role"] != "assistant" || last["role"] != "user" ||
		!strings.Contains(last["content"].(string), "JSON object") {
		t.Errorf("re-ask messages = %v", msgs[2:])
	}
}

func TestReactAlwaysInvalid(t *testing.T) {
	for _, maxInvalid := range []int{-1, 1, 2} {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			writeChat(w, "I refuse to answer in JSON.", "", 50, 10)
		})
		cfg := testConfig(f.URL)
		cfg.MaxInvalidRetries = maxInvalid
		c := mustNew(t, cfg)
		_, u, err := c.React(context.Background(), agentRequest())
		wantCalls := 1 + max(maxInvalid, 0)
		if !errors.Is(err, ErrInvalidAnswer) {
			t.Fatalf("MaxInvalidRetries=%d: err = %v, want ErrInvalidAnswer", maxInvalid, err)
		}
		var ie *InvalidAnswerError
		if !errors.As(err, &ie) || ie.Attempts != wantCalls || ie.Content != "I refuse to answer in JSON." {
			t.Errorf("InvalidAnswerError = %+v", ie)
		}
		if got := int(f.calls.Load()); got != wantCalls || u.Calls != wantCalls || u.Retries != wantCalls-1 {
			t.Errorf("MaxInvalidRetries=%d: server calls %d, usage %+v; want %d calls", maxInvalid, got, u, wantCalls)
		}
		if u.PromptTokens != 50*wantCalls {
			t.Errorf("tokens of invalid attempts not counted: %+v", u)
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(w http.ResponseWriter) // first response
		backoffMax time.Duration
		minGap     time.Duration // between the first and second arrival
		maxGap     time.Duration
	}{
		{
			name: "429 retry-after-ms", backoffMax: 2 * time.Second,
			fail: func(w http.ResponseWriter) {
				w.Header().Set("retry-after-ms", "200")
				writeAPIError(w, 429, "requests", "rate_limit_exceeded", "Rate limit reached for requests")
			},
			minGap: 200 * time.Millisecond, maxGap: 900 * time.Millisecond,
		},
		{
			// Plain-text body: go-openai returns *openai.RequestError.
			name: "429 plain body Retry-After seconds capped by BackoffMax", backoffMax: 300 * time.Millisecond,
			fail: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
			},
			minGap: 300 * time.Millisecond, maxGap: 900 * time.Millisecond,
		},
		{
			name: "500 then success", backoffMax: 20 * time.Millisecond,
			fail: func(w http.ResponseWriter) {
				writeAPIError(w, 500, "server_error", "", "The server had an error")
			},
			maxGap: 500 * time.Millisecond,
		},
		{
			name: "503 html", backoffMax: 20 * time.Millisecond,
			fail: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(503)
				_, _ = w.Write([]byte("<html>upstream down</html>"))
			},
			maxGap: 500 * time.Millisecond,
		},
		{
			name: "200 with garbage body", backoffMax: 20 * time.Millisecond,
			fail: func(w http.ResponseWriter) {
				_, _ = w.Write([]byte("{not json"))
			},
			maxGap: 500 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				if n == 1 {
					tt.fail(w)
					return
				}
				writeChat(w, validJSON, "", 10, 5)
			})
			cfg := testConfig(f.URL)
			cfg.BackoffMax = tt.backoffMax
			c := mustNew(t, cfg)
			_, u, err := c.React(context.Background(), agentRequest())
			if err != nil {
				t.Fatalf("React: %v", err)
			}
			if u.Calls != 2 || u.Retries != 1 {
				t.Errorf("usage = %+v, want 2 calls 1 retry", u)
			}
			gap := f.arrival(1).Sub(f.arrival(0))
			if gap < tt.minGap || gap > tt.maxGap {
				t.Errorf("gap between attempts = %v, want [%v, %v]", gap, tt.minGap, tt.maxGap)
			}
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeAPIError(w, 502, "server_error", "", "bad gateway")
	})
	cfg := testConfig(f.URL)
	cfg.MaxRetries = 3
	c := mustNew(t, cfg)
	_, u, err := c.React(context.Background(), agentRequest())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 502 {
		t.Errorf("last APIError not reachable: %v", err)
	}
	if f.calls.Load() != 4 || u.Calls != 4 || u.Retries != 3 {
		t.Errorf("calls = %d, usage %+v; want 4", f.calls.Load(), u)
	}
}

func TestQuotaAndRejected(t *testing.T) {
	tests := []struct {
		name string
		fail func(w http.ResponseWriter)
		want error
	}{
		{"insufficient_quota", func(w http.ResponseWriter) {
			w.Header().Set("retry-after-ms", "1")
			writeAPIError(w, 429, "insufficient_quota", "insufficient_quota",
				"You exceeded your current quota, please check your plan and billing details.")
		}, ErrQuota},
		{"insufficient_quota plain", func(w http.ResponseWriter) {
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`error: insufficient_quota`))
		}, ErrQuota},
		{"402 payment required", func(w http.ResponseWriter) {
			writeAPIError(w, 402, "", "", "Insufficient credits")
		}, ErrQuota},
		{"401 auth", func(w http.ResponseWriter) {
			writeAPIError(w, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided")
		}, ErrRejected},
		{"404 model", func(w http.ResponseWriter) {
			writeAPIError(w, 404, "invalid_request_error", "model_not_found", "The model does not exist")
		}, ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) { tt.fail(w) })
			c := mustNew(t, testConfig(f.URL))
			_, u, err := c.React(context.Background(), agentRequest())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("err also matches ErrUnavailable: %v", err)
			}
			if f.calls.Load() != 1 || u.Calls != 1 || u.Retries != 0 {
				t.Errorf("calls = %d, usage %+v; want exactly 1", f.calls.Load(), u)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	cfg := testConfig(f.URL)
	cfg.CallTimeout = 50 * time.Millisecond
	cfg.MaxRetries = 2
	c := mustNew(t, cfg)
	start := time.Now()
	_, u, err := c.React(context.Background(), agentRequest())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a per-attempt timeout must not look like the caller's deadline: %v", err)
	}
	if u.Calls != 3 || u.Retries != 2 {
		t.Errorf("usage = %+v, want 3 calls", u)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v", el)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig("http://" + addr)
	cfg.MaxRetries = 2
	c := mustNew(t, cfg)
	_, u, err := c.React(context.Background(), agentRequest())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if u.Calls != 3 || u.Retries != 2 {
		t.Errorf("usage = %+v, want 3 calls", u)
	}
}

func TestCancellation(t *testing.T) {
	const limit = 50 * time.Millisecond

	t.Run("during backoff", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("retry-after-ms", "5000")
			writeAPIError(w, 503, "server_error", "", "overloaded")
		})
		cfg := testConfig(f.URL)
		cfg.BackoffMax = 10 * time.Second
		c := mustNew(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		var cancelled time.Time
		go func() {
			for f.calls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // well into the 5s backoff
			cancelled = time.Now()
			cancel()
		}()
		_, u, err := c.React(ctx, agentRequest())
		took := time.Since(cancelled)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if took > limit {
			t.Errorf("returned %v after cancel, want < %v", took, limit)
		}
		if u.Calls != 1 {
			t.Errorf("usage = %+v", u)
		}
		t.Logf("returned %v after cancel", took)
	})

	t.Run("waiting for semaphore", func(t *testing.T) {
		release := make(chan struct{})
		f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request, _ map[string]any) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			writeChat(w, validJSON, "", 1, 1)
		})
		defer close(release)
		cfg := testConfig(f.URL)
		cfg.Concurrency = 1
		c := mustNew(t, cfg)
		go func() { _, _, _ = c.React(context.Background(), agentRequest()) }()
		for f.calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, u, err := c.React(ctx, agentRequest())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the caller's context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 30*time.Millisecond+limit {
			t.Errorf("took %v", took)
		}
		if u.Calls != 0 {
			t.Errorf("usage = %+v, want no call", u)
		}
	})

	t.Run("waiting for rate limiter", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			writeChat(w, validJSON, "", 1, 1)
		})
		cfg := testConfig(f.URL)
		cfg.RequestsPerMinute = 1 // the second call would wait a minute
		c := mustNew(t, cfg)
		if _, _, err := c.React(context.Background(), agentRequest()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := c.React(ctx, agentRequest())
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > 20*time.Millisecond+limit {
			t.Errorf("took %v", took)
		}
		if f.calls.Load() != 1 {
			t.Errorf("server calls = %d", f.calls.Load())
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		c := mustNew(t, testConfig("http://127.0.0.1:1"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := c.React(ctx, agentRequest()); err != context.Canceled {
			t.Fatalf("err = %v, want context.Canceled unwrapped", err)
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		time.Sleep(30 * time.Millisecond)
		writeChat(w, validJSON, "", 10, 5)
	})
	cfg := testConfig(f.URL)
	cfg.Concurrency = 3
	c := mustNew(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			if _, _, err := c.React(context.Background(), agentRequest()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.maxInflight.Load(); got != 3 {
		t.Errorf("max in flight = %d, want 3", got)
	}
	if f.calls.Load() != 12 {
		t.Errorf("calls = %d", f.calls.Load())
	}
}

func TestRequestShape(t *testing.T) {
	temp := float32(0.3)
	zero := float32(0)
	seed, seed2 := 42, 7
	tests := []struct {
		name  string
		cfg   func(*Config)
		req   func(*Request)
		check func(t *testing.T, body map[string]any)
	}{
		{
			name: "config temperature seed max_tokens",
			cfg:  func(c *Config) { c.Temperature, c.Seed, c.MaxTokens = &temp, &seed, 150 },
			check: func(t *testing.T, b map[string]any) {
				if v, _ := b["temperature"].(float64); math.Abs(v-0.3) > 1e-6 {
					t.Errorf("temperature = %v", b["temperature"])
				}
				if b["seed"] != float64(42) || b["max_tokens"] != float64(150) {
					t.Errorf("seed/max_tokens = %v/%v", b["seed"], b["max_tokens"])
				}
			},
		},
		{
			name: "request overrides, temperature 0",
			cfg:  func(c *Config) { c.Temperature, c.Seed = &temp, &seed },
			req:  func(r *Request) { r.Model, r.Temperature, r.Seed = "my-local-model", &zero, &seed2 },
			check: func(t *testing.T, b map[string]any) {
				if b["model"] != "my-local-model" || b["seed"] != float64(7) {
					t.Errorf("model/seed = %v/%v", b["model"], b["seed"])
				}
				if v, ok := b["temperature"].(float64); !ok || v <= 0 || v > 1e-30 {
					t.Errorf("temperature 0 must be sent as ~0, got %v", b["temperature"])
				}
			},
		},
		{
			name: "unset temperature and seed are not sent",
			check: func(t *testing.T, b map[string]any) {
				for _, k := range []string{"temperature", "seed", "max_tokens"} {
					if _, ok := b[k]; ok {
						t.Errorf("%s sent: %v", k, b[k])
					}
				}
			},
		},
		{
			name: "request max tokens overrides the config's",
			cfg:  func(c *Config) { c.MaxTokens = 150 },
			req:  func(r *Request) { n := 200; r.MaxTokens = &n },
			check: func(t *testing.T, b map[string]any) {
				if b["max_tokens"] != float64(200) {
					t.Errorf("max_tokens = %v", b["max_tokens"])
				}
			},
		},
		{
			name: "request max tokens 0 sends none",
			cfg:  func(c *Config) { c.MaxTokens = 150 },
			req:  func(r *Request) { n := 0; r.MaxTokens = &n },
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["max_tokens"]; ok {
					t.Errorf("max_tokens sent: %v", b["max_tokens"])
				}
			},
		},
		{
			name: "reasoning model",
			cfg:  func(c *Config) { c.Model, c.Temperature, c.MaxTokens = "gpt-5-mini", &temp, 300 },
			check: func(t *testing.T, b map[string]any) {
				if b["max_completion_tokens"] != float64(300) || b["max_tokens"] != nil || b["temperature"] != nil {
					t.Errorf("body = %v", b)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, r *http.Request, _ map[string]any) {
				writeChat(w, validJSON, "", 1, 1)
			})
			cfg := testConfig(f.URL)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			req := agentRequest()
			if tt.req != nil {
				tt.req(&req)
			}
			c := mustNew(t, cfg)
			if _, _, err := c.React(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			b := f.body(0)
			f.mu.Lock()
			auth := f.headers[0].Get("Authorization")
			f.mu.Unlock()
			if auth != "Bearer sk-test" {
				t.Errorf("Authorization = %q", auth)
			}
			if req.Model == "" && b["model"] != cfg.Model {
				t.Errorf("model = %v", b["model"])
			}
			rf, _ := b["response_format"].(map[string]any)
			js, _ := rf["json_schema"].(map[string]any)
			if rf["type"] != "json_schema" || js["name"] != "agent_reaction" || js["strict"] != true {
				t.Errorf("response_format = %v", rf)
			}
			schema, _ := js["schema"].(map[string]any)
			req3, _ := schema["required"].([]any)
			props, _ := schema["properties"].(map[string]any)
			if schema["additionalProperties"] != false || len(req3) != 3 || len(props) != 3 {
				t.Errorf("schema = %v", schema)
			}
			msgs, _ := b["messages"].([]any)
			if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["role"] != "user" ||
				msgs[1].(map[string]any)["content"] != agentRequest().Messages[1].Content {
				t.Errorf("messages = %v", msgs)
			}
			tt.check(t, b)
		})
	}
}

func TestResponseFormatFallback(t *testing.T) {
	t.Run("server rejects response_format", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, b map[string]any) {
			if _, ok := b["response_format"]; ok {
				writeAPIError(w, 400, "invalid_request_error", "", "response_format json_schema is not supported")
				return
			}
			writeChat(w, "Here you go:\n"+validJSON, "", 10, 5)
		})
		c := mustNew(t, testConfig(f.URL))
		r, u, err := c.React(context.Background(), agentRequest())
		if err != nil || r.Care != 7 {
			t.Fatalf("React = %+v, %v", r, err)
		}
		if u.Calls != 2 || u.Retries != 1 {
			t.Errorf("first call usage = %+v, want 2 calls", u)
		}
		// Remembered: the next call goes straight without response_format,
		// with the JSON instruction appended to the last user message.
		_, u, err = c.React(context.Background(), agentRequest())
		if err != nil || u.Calls != 1 {
			t.Fatalf("second call: usage %+v, err %v", u, err)
		}
		b := f.body(2)
		if _, ok := b["response_format"]; ok {
			t.Error("response_format sent again")
		}
		msgs := b["messages"].([]any)
		if len(msgs) != 2 || !strings.Contains(msgs[1].(map[string]any)["content"].(string), jsonInstruction) {
			t.Errorf("messages = %v", msgs)
		}
	})

	t.Run("400 not caused by response_format", func(t *testing.T) {
		f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			writeAPIError(w, 400, "invalid_request_error", "context_length_exceeded", "too long")
		})
		c := mustNew(t, testConfig(f.URL))
		_, u, err := c.React(context.Background(), agentRequest())
		if !errors.Is(err, ErrRejected) || u.Calls != 2 {
			t.Fatalf("err = %v, usage %+v; want ErrRejected after 2 calls", err, u)
		}
		if c.noSchema.Load() {
			t.Error("fallback remembered although it did not help")
		}
	})
}

func TestBaseURL(t *testing.T) {
	norm := []struct{ in, want string }{
		{"", "https://api.openai.com/v1"},
		{"http://localhost:11434", "http://localhost:11434/v1"},
		{"http://localhost:11434/", "http://localhost:11434/v1"},
		{"http://localhost:11434/v1", "http://localhost:11434/v1"},
		{"http://localhost:11434/v1/", "http://localhost:11434/v1"},
		{"localhost:8000", "http://localhost:8000/v1"},
		{"http://proxy.internal/llm", "http://proxy.internal/llm/v1"},
		{"https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1"},
		{"https://generativelanguage.googleapis.com/v1beta/openai/", "https://generativelanguage.googleapis.com/v1beta/openai"},
		{"https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"},
	}
	for _, tt := range norm {
		got, err := normalizeBaseURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("normalizeBaseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://host/v1", "http://", "http://[::1"} {
		if got, err := normalizeBaseURL(bad); err == nil {
			t.Errorf("normalizeBaseURL(%q) = %q, want error", bad, got)
		}
	}

	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeChat(w, validJSON, "", 1, 1)
	})
	for _, base := range []string{f.URL, f.URL + "/", f.URL + "/v1", f.URL + "/v1/"} {
		c := mustNew(t, testConfig(base))
		if _, _, err := c.React(context.Background(), agentRequest()); err != nil {
			t.Errorf("base %q: %v", base, err)
		}
	}
}

func TestCost(t *testing.T) {
	c := mustNew(t, Config{BaseURL: "http://localhost:1", Prices: map[string]Price{
		"my-model": {PromptPerMTok: 1, CompletionPerMTok: 2},
		"gpt-4o":   {PromptPerMTok: 5, CompletionPerMTok: 15}, // override a default
	}})
	tests := []struct {
		model     string
		in, out   int
		want      float64
		wantExact bool
	}{
		{"gpt-4.1-mini", 1000, 500, (1000*0.40 + 500*1.60) / 1e6, true},
		{"gpt-4.1-mini-2025-04-14", 1000, 500, (1000*0.40 + 500*1.60) / 1e6, true},
		{"gpt-4.1", 1_000_000, 1_000_000, 10, true},
		{"gpt-4.1-nano", 2_000_000, 0, 0.2, true},
		{"gpt-4o-mini", 0, 1_000_000, 0.6, true},
		{"gpt-4o", 1_000_000, 1_000_000, 20, true},
		{"my-model", 500_000, 250_000, 1, true},
		{"llama3.1:8b", 1000, 1000, 0, true},
	}
	for _, tt := range tests {
		if got := c.Cost(tt.model, tt.in, tt.out); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Cost(%s, %d, %d) = %v, want %v", tt.model, tt.in, tt.out, got, tt.want)
		}
	}

	// Usage.CostUSD sums every attempt.
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		if n == 1 {
			writeChat(w, "nope", "", 1000, 100)
			return
		}
		writeChat(w, validJSON, "", 1200, 50)
	})
	c = mustNew(t, testConfig(f.URL))
	_, u, err := c.React(context.Background(), agentRequest())
	if err != nil {
		t.Fatal(err)
	}
	want := (2200*0.40 + 150*1.60) / 1e6
	if math.Abs(u.CostUSD-want) > 1e-12 {
		t.Errorf("CostUSD = %v, want %v", u.CostUSD, want)
	}
}

func TestComplete(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, b map[string]any) {
		if _, ok := b["response_format"]; ok {
			t.Error("Complete must not send response_format")
		}
		if n == 1 {
			writeChat(w, "  ", "", 20, 0)
			return
		}
		writeChat(w, "<think>plan</think>\nSupport for bike lanes grew steadily.\n", "", 20, 8)
	})
	c := mustNew(t, testConfig(f.URL))
	text, u, err := c.Complete(context.Background(), Request{Messages: []Message{{Role: "user", Content: "Summarise."}}})
	if err != nil {
		t.Fatal(err)
	}
	if text != "Support for bike lanes grew steadily." {
		t.Errorf("text = %q", text)
	}
	if u.Calls != 2 || u.Retries != 1 || u.PromptTokens != 40 {
		t.Errorf("usage = %+v", u)
	}
	// An empty answer is resent as is (no empty assistant message echoed).
	if msgs := f.body(1)["messages"].([]any); len(msgs) != 1 {
		t.Errorf("resend has %d messages", len(msgs))
	}
}

func TestBadRequests(t *testing.T) {
	c := mustNew(t, testConfig("http://127.0.0.1:1"))
	for _, req := range []Request{{}, {Messages: []Message{{Role: "tool", Content: "x"}}}} {
		if _, _, err := c.React(context.Background(), req); !errors.Is(err, ErrRejected) {
			t.Errorf("React(%+v) err = %v, want ErrRejected", req, err)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("New(empty) err = %v", err)
	}
	if _, err := New(Config{BaseURL: "ftp://x"}); err == nil {
		t.Error("New with ftp URL: want error")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		h    map[string]string
		want time.Duration
	}{
		{map[string]string{"retry-after-ms": "250"}, 250 * time.Millisecond},
		{map[string]string{"retry-after-ms": "12.5"}, 12500 * time.Microsecond},
		{map[string]string{"retry-after-ms": "20", "Retry-After": "3"}, 20 * time.Millisecond},
		{map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{map[string]string{"Retry-After": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second},
		{map[string]string{"Retry-After": now.Add(-7 * time.Second).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": "-1"}, 0},
		{map[string]string{"retry-after-ms": "x", "Retry-After": "2"}, 2 * time.Second},
		{nil, 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.h {
			h.Set(k, v)
		}
		if got := parseRetryAfter(h, now); got != tt.want {
			t.Errorf("parseRetryAfter(%v) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := mustNew(t, Config{BaseURL: "http://x", BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	for n := range 70 {
		ceil := min(time.Second, 100*time.Millisecond<<min(n, 20))
		for range 50 {
			if d := c.backoff(n, 0); d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want [0, %v]", n, d, ceil)
			}
		}
	}
	if d := c.backoff(0, 300*time.Millisecond); d < 300*time.Millisecond || d > 400*time.Millisecond {
		t.Errorf("retry-after backoff = %v", d)
	}
	if d := c.backoff(0, time.Hour); d != time.Second {
		t.Errorf("retry-after not capped: %v", d)
	}
}
