package llm

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := ConfigFromEnv(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.Configured() {
			t.Error("empty env reported as configured")
		}
		if c.Model != "gpt-4.1-mini" || c.Concurrency != 8 || c.CallTimeout != 60*time.Second ||
			c.MaxRetries != 5 || c.MaxInvalidRetries != 2 || c.BackoffBase != 500*time.Millisecond ||
			c.BackoffMax != 30*time.Second || c.Temperature != nil || c.Seed != nil ||
			c.RequestsPerMinute != 0 || c.TokensPerMinute != 0 || len(c.Prices) != 5 {
			t.Errorf("defaults = %+v", c)
		}
	})

	t.Run("all set", func(t *testing.T) {
		c, err := ConfigFromEnv(envOf(map[string]string{
			"OPENAI_API_KEY":          "sk-x",
			"OPENAI_BASE_URL":         "http://localhost:11434",
			"OPENAI_MODEL":            "llama3.1:8b",
			"OPENAI_TEMPERATURE":      "0",
			"OPENAI_MAX_TOKENS":       "200",
			"OPENAI_SEED":             "-3",
			"LLM_CONCURRENCY":         "16",
			"LLM_REQUESTS_PER_MINUTE": "500",
			"LLM_TOKENS_PER_MINUTE":   "200000",
			"LLM_CALL_TIMEOUT":        "45",
			"LLM_MAX_RETRIES":         "0",
			"LLM_PRICES":              " gpt-4.1-mini=0.5/2, llama3.1:8b=0/0 ; openai/gpt-4o=2.5/10",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Configured() || c.APIKey != "sk-x" || c.BaseURL != "http://localhost:11434" || c.Model != "llama3.1:8b" ||
			c.Temperature == nil || *c.Temperature != 0 || c.MaxTokens != 200 || c.Seed == nil || *c.Seed != -3 ||
			c.Concurrency != 16 || c.RequestsPerMinute != 500 || c.TokensPerMinute != 200000 ||
			c.CallTimeout != 45*time.Second || c.MaxRetries != -1 {
			t.Errorf("config = %+v", c)
		}
		want := map[string]Price{
			"gpt-4.1-mini":  {0.5, 2},
			"llama3.1:8b":   {0, 0},
			"openai/gpt-4o": {2.5, 10},
			"gpt-4.1":       {2, 8}, // default kept
		}
		for m, p := range want {
			if c.Prices[m] != p {
				t.Errorf("price %s = %+v, want %+v", m, c.Prices[m], p)
			}
		}
		cl := mustNew(t, c)
		if cl.Config().MaxRetries != 0 || cl.Config().BaseURL != "http://localhost:11434/v1" {
			t.Errorf("effective config = %+v", cl.Config())
		}
	})

	t.Run("duration syntax", func(t *testing.T) {
		c, err := ConfigFromEnv(envOf(map[string]string{"LLM_CALL_TIMEOUT": "1m30s", "OPENAI_BASE_URL": "localhost:1234"}))
		if err != nil || c.CallTimeout != 90*time.Second || !c.Configured() {
			t.Errorf("config = %+v, err %v", c, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := ConfigFromEnv(envOf(map[string]string{
			"OPENAI_TEMPERATURE":    "hot",
			"OPENAI_SEED":           "1.5",
			"OPENAI_MAX_TOKENS":     "-1",
			"LLM_CONCURRENCY":       "many",
			"LLM_TOKENS_PER_MINUTE": "-5",
			"LLM_CALL_TIMEOUT":      "0",
			"LLM_PRICES":            "gpt-4.1=1,bad",
			"OPENAI_BASE_URL":       "ftp://example.com",
		}))
		if err == nil {
			t.Fatal("want error")
		}
		for _, key := range []string{"OPENAI_TEMPERATURE", "OPENAI_SEED", "OPENAI_MAX_TOKENS", "LLM_CONCURRENCY",
			"LLM_TOKENS_PER_MINUTE", "LLM_CALL_TIMEOUT", "LLM_PRICES", "OPENAI_BASE_URL", `"bad"`} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not mention %s: %v", key, err)
			}
		}
	})
}

func TestConfigDefaultsInNew(t *testing.T) {
	c := mustNew(t, Config{APIKey: "sk", MaxRetries: -1, MaxInvalidRetries: -5})
	got := c.Config()
	if got.MaxRetries != 0 || got.MaxInvalidRetries != 0 || got.Model != DefaultModel ||
		got.Concurrency != DefaultConcurrency || got.BaseURL != "https://api.openai.com/v1" || len(got.Prices) != 5 {
		t.Errorf("effective config = %+v", got)
	}
	if _, err := New(Config{APIKey: "sk", RequestsPerMinute: -1}); err == nil {
		t.Error("negative RPM accepted")
	}
}

// TestTokenLimiterRefund guards the undocumented behaviour adjustTokens
// relies on: ReserveN with a negative n gives tokens back.
func TestTokenLimiterRefund(t *testing.T) {
	lim := rate.NewLimiter(rate.Limit(1), 1000) // 1 token/s: refill is negligible here
	now := time.Now()
	lim.ReserveN(now, 800)
	adjustTokens(lim, -500)
	if got := lim.Tokens(); got < 699 || got > 702 {
		t.Errorf("tokens after refund = %v, want ~700", got)
	}
	adjustTokens(lim, 300)
	if got := lim.Tokens(); got < 399 || got > 402 {
		t.Errorf("tokens after debt = %v, want ~400", got)
	}
	adjustTokens(lim, -5000) // capped at burst
	if got := lim.Tokens(); got > 1000.5 {
		t.Errorf("tokens after big refund = %v, want <= burst", got)
	}
}

// TestTokenLimiterCorrection: the estimate (prompt/4 + MaxTokens) is replaced
// by the usage the server reports.
func TestTokenLimiterCorrection(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeChat(w, validJSON, "", 20, 10)
	})
	cfg := testConfig(f.URL)
	cfg.TokensPerMinute = 60 // 1 token/s, burst 60
	cfg.MaxTokens = 40       // estimate ~ 40 + ~40 prompt, clamped to the burst of 60
	c := mustNew(t, cfg)
	if _, _, err := c.React(context.Background(), agentRequest()); err != nil {
		t.Fatal(err)
	}
	// 30 tokens were really used: ~30 must remain, not ~0.
	if got := c.tpm.Tokens(); got < 29 || got > 32 {
		t.Errorf("tokens left = %v, want ~30", got)
	}
	// The next call needs its estimate (clamped to 60) -> it must wait ~30s;
	// a short deadline proves it waits and returns the caller's ctx error.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.React(ctx, agentRequest()); err != context.DeadlineExceeded {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if f.calls.Load() != 1 {
		t.Errorf("calls = %d, want 1", f.calls.Load())
	}
}
