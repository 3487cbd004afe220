package llm

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

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
