package llm

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Answers are untrusted: usage counts are clamped, text is made storable and
// bounded, and every repair is reported to the caller and the observer.
func TestHostileAnswers(t *testing.T) {
	long := strings.Repeat("é", MaxOpinionChars+500)
	tests := []struct {
		name                 string
		content              string
		prompt, completion   int
		complete             bool // Complete instead of React
		wantText             string
		wantPrompt, wantComp int
		wantKinds            []string
	}{
		{name: "negative usage", content: validJSON, prompt: -500, completion: -7,
			wantText: "Bike lanes are good", wantKinds: []string{AnomalyNegativeTokens, AnomalyNegativeTokens}},
		{name: "usage at the int maximum", content: validJSON, prompt: math.MaxInt, completion: math.MaxInt,
			wantText: "Bike lanes are good", wantPrompt: MaxTokensPerAnswer, wantComp: MaxTokensPerAnswer,
			wantKinds: []string{AnomalyExcessiveTokens, AnomalyExcessiveTokens}},
		{name: "escaped NUL in the opinion", content: `{"opinion":"Bike\u0000 lanes","care":7,"change_in_support":2}`,
			prompt: 10, completion: 5, wantPrompt: 10, wantComp: 5, wantText: "Bike lanes", wantKinds: []string{AnomalyNULByte}},
		{name: "raw NUL bytes in the answer", content: "\x00{\"opinion\":\"Bike\x00 lanes\",\"care\":7,\"change_in_support\":2}\x00",
			prompt: 10, completion: 5, wantPrompt: 10, wantComp: 5, wantText: "Bike lanes", wantKinds: []string{AnomalyNULByte}},
		{name: "lone surrogate escape", content: `{"opinion":"Bike \ud800lanes","care":7,"change_in_support":2}`,
			prompt: 10, completion: 5, wantPrompt: 10, wantComp: 5, wantText: "Bike \uFFFDlanes"},
		{name: "opinion too long", content: `{"opinion":"` + long + `","care":7,"change_in_support":2}`,
			prompt: 10, completion: 5, wantPrompt: 10, wantComp: 5, wantText: long[:2*MaxOpinionChars], wantKinds: []string{AnomalyTooLong}},
		{name: "narrative with NUL bytes", complete: true, content: "Support\x00 grew.\u0000", prompt: 10, completion: 5,
			wantPrompt: 10, wantComp: 5, wantText: "Support grew.", wantKinds: []string{AnomalyNULByte}},
		{name: "narrative too long", complete: true, content: strings.Repeat("x", MaxTextChars+1), prompt: -1, completion: 5,
			wantComp: 5, wantText: strings.Repeat("x", MaxTextChars), wantKinds: []string{AnomalyNegativeTokens, AnomalyTooLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				writeChat(w, tt.content, "", tt.prompt, tt.completion)
			})
			c := mustNew(t, testConfig(f.URL))
			var (
				mu       sync.Mutex
				observed []string
			)
			c.OnAnomaly(func(a Anomaly) { mu.Lock(); observed = append(observed, a.Kind); mu.Unlock() })
			var (
				text string
				u    Usage
				err  error
			)
			if tt.complete {
				text, u, err = c.Complete(context.Background(), Request{Messages: []Message{{Role: "user", Content: "Summarise."}}})
			} else {
				var r Reaction
				r, u, err = c.React(context.Background(), agentRequest())
				text = r.Opinion
			}
			if err != nil {
				t.Fatal(err)
			}
			if text != tt.wantText {
				t.Errorf("text = %.60q… (%d bytes), want %.60q… (%d bytes)", text, len(text), tt.wantText, len(tt.wantText))
			}
			if strings.ContainsRune(text, 0) || !utf8.ValidString(text) {
				t.Errorf("text not storable: %q", text)
			}
			if u.Calls != 1 || u.PromptTokens != tt.wantPrompt || u.CompletionTokens != tt.wantComp ||
				!(u.CostUSD >= 0) || math.IsInf(u.CostUSD, 0) {
				t.Errorf("usage = %+v, want %d/%d tokens", u, tt.wantPrompt, tt.wantComp)
			}
			var kinds []string
			for _, a := range u.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !slices.Equal(kinds, tt.wantKinds) || !slices.Equal(observed, tt.wantKinds) {
				t.Errorf("anomalies %v, observed %v, want %v", u.Anomalies, observed, tt.wantKinds)
			}
		})
	}
}

// An opinion that cleaning empties is invalid (re-asked), not an empty view.
func TestOpinionOnlyNULs(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		if n == 1 {
			writeChat(w, `{"opinion":"\u0000 \u0000","care":7,"change_in_support":2}`, "", 10, 5)
			return
		}
		writeChat(w, validJSON, "", 10, 5)
	})
	c := mustNew(t, testConfig(f.URL))
	r, u, err := c.React(context.Background(), agentRequest())
	if err != nil || r.Opinion != "Bike lanes are good" || u.Calls != 2 {
		t.Fatalf("reaction %+v, usage %+v, err %v", r, u, err)
	}
}

// A body past MaxResponseBytes is refused while reading, never held whole.
func TestResponseBodyLimit(t *testing.T) {
	f := newFake(t, func(n int, w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		writeChat(w, `{"opinion":"`+strings.Repeat("x", MaxResponseBytes)+`","care":7,"change_in_support":2}`, "", 10, 5)
	})
	cfg := testConfig(f.URL)
	cfg.MaxRetries = -1
	c := mustNew(t, cfg)
	r, _, err := c.React(context.Background(), agentRequest())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "response body over") {
		t.Fatalf("reaction of %d bytes, err %v", len(r.Opinion), err)
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in  string
		max       int
		want      string
		wantKinds []string
	}{
		{"clean", "héllo", 0, "héllo", nil},
		{"NUL", "a\x00b\x00", 0, "ab", []string{AnomalyNULByte}},
		{"invalid UTF-8", "a\xffb\xc3", 0, "a\uFFFDb\uFFFD", []string{AnomalyInvalidUTF8}},
		{"all of it", "\x00ééé\xfe", 3, "ééé", []string{AnomalyNULByte, AnomalyInvalidUTF8, AnomalyTooLong}},
		{"at the limit", "ééé", 3, "ééé", nil},
		{"bytes over, characters not", "ééé", 4, "ééé", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, an := cleanText(tt.in, tt.max, "x")
			var kinds []string
			for _, a := range an {
				kinds = append(kinds, a.Kind)
			}
			if got != tt.want || !slices.Equal(kinds, tt.wantKinds) {
				t.Errorf("cleanText(%q, %d) = %q %v, want %q %v", tt.in, tt.max, got, kinds, tt.want, tt.wantKinds)
			}
			if CleanText(tt.in, tt.max) != tt.want {
				t.Errorf("CleanText differs from cleanText")
			}
		})
	}
}

// A cost budget needs a price; OPENAI_ALLOWED_MODELS restricts what a request
// may name (the configured model always passes).
func TestModelPolicy(t *testing.T) {
	// The environment's side (OPENAI_ALLOWED_MODELS, LLM_PRICES) is
	// config.TestLLMSettings.
	prices, err := ParsePrices("my-model=0/0")
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, Config{BaseURL: "http://localhost:1", Model: "llama3.1:8b",
		AllowedModels: []string{"gpt-4.1-nano", "my-model"}, Prices: prices})
	open := mustNew(t, Config{BaseURL: "http://localhost:1"})
	tests := []struct {
		model                string
		priced, allowed, any bool
	}{
		{"gpt-4.1-nano", true, true, true},
		{"gpt-4.1-mini-2025-04-14", true, false, true},
		{"my-model", true, true, true},
		{"llama3.1:8b", false, true, true},
		{"gpt-4.1-mnii", false, false, true},
	}
	for _, tt := range tests {
		if got := c.Priced(tt.model); got != tt.priced {
			t.Errorf("Priced(%q) = %v", tt.model, got)
		}
		if got := c.ModelAllowed(tt.model); got != tt.allowed {
			t.Errorf("ModelAllowed(%q) = %v", tt.model, got)
		}
		if got := open.ModelAllowed(tt.model); got != tt.any {
			t.Errorf("without a list, ModelAllowed(%q) = %v", tt.model, got)
		}
	}
	for _, bad := range []string{"m=inf/1", "m=1/+Inf", "m=NaN/1", "m=-1/1"} {
		if _, err := ParsePrices(bad); err == nil {
			t.Errorf("ParsePrices(%q) accepted", bad)
		}
	}
}
