package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/simulation/llm"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// The OPENAI_* and LLM_* settings (formerly llm.ConfigFromEnv): same
// defaults, rules and messages.
func TestLLMSettings(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := FromEnv(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.LLM
		if c.Configured() {
			t.Error("empty env reported as configured")
		}
		if c.Model != "gpt-4.1-mini" || c.Concurrency != 8 || c.CallTimeout != 60*time.Second ||
			c.MaxRetries != 5 || c.MaxInvalidRetries != 2 || c.BackoffBase != 500*time.Millisecond ||
			c.BackoffMax != 30*time.Second || c.Temperature == nil || *c.Temperature != 0.4 || c.Seed != nil || c.MaxTokens != 200 ||
			c.RequestsPerMinute != 0 || c.TokensPerMinute != 0 || len(c.Prices) != 5 || c.AllowedModels != nil {
			t.Errorf("defaults = %+v", c)
		}
		// The prototype's sampling: agents at 0.4 with 200 tokens, its supervisor at 0.3.
		if cfg.ReportModel != "gpt-4.1" || cfg.ReportTemperature == nil || *cfg.ReportTemperature != 0.3 || cfg.ReportMaxTokens != 2000 {
			t.Errorf("report model %q, temperature %v, max tokens %d", cfg.ReportModel, cfg.ReportTemperature, cfg.ReportMaxTokens)
		}
	})

	t.Run("all set", func(t *testing.T) {
		cfg, err := FromEnv(envOf(map[string]string{
			"OPENAI_API_KEY":            "sk-x",
			"OPENAI_BASE_URL":           "http://localhost:11434",
			"OPENAI_MODEL":              "llama3.1:8b",
			"OPENAI_ALLOWED_MODELS":     " gpt-4.1-nano , ,my-model",
			"OPENAI_REPORT_MODEL":       "llama3.1:70b",
			"OPENAI_REPORT_TEMPERATURE": "1.5",
			"OPENAI_REPORT_MAX_TOKENS":  "0",
			"OPENAI_TEMPERATURE":        "0",
			"OPENAI_MAX_TOKENS":         "200",
			"OPENAI_SEED":               "-3",
			"LLM_CONCURRENCY":           "16",
			"LLM_REQUESTS_PER_MINUTE":   "500",
			"LLM_TOKENS_PER_MINUTE":     "200000",
			"LLM_CALL_TIMEOUT":          "45",
			"LLM_MAX_RETRIES":           "0",
			"LLM_PRICES":                " gpt-4.1-mini=0.5/2, llama3.1:8b=0/0 ; openai/gpt-4o=2.5/10",
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := cfg.LLM
		if !c.Configured() || c.APIKey != "sk-x" || c.BaseURL != "http://localhost:11434" || c.Model != "llama3.1:8b" ||
			c.Temperature == nil || *c.Temperature != 0 || c.MaxTokens != 200 || c.Seed == nil || *c.Seed != -3 ||
			c.Concurrency != 16 || c.RequestsPerMinute != 500 || c.TokensPerMinute != 200000 ||
			c.CallTimeout != 45*time.Second || c.MaxRetries != -1 || cfg.ReportModel != "llama3.1:70b" ||
			cfg.ReportTemperature == nil || *cfg.ReportTemperature != 1.5 || cfg.ReportMaxTokens != 0 {
			t.Errorf("config = %+v", c)
		}
		if !slices.Equal(c.AllowedModels, []string{"gpt-4.1-nano", "my-model"}) {
			t.Errorf("AllowedModels = %q", c.AllowedModels)
		}
		want := map[string]llm.Price{
			"gpt-4.1-mini":  {PromptPerMTok: 0.5, CompletionPerMTok: 2},
			"llama3.1:8b":   {},
			"openai/gpt-4o": {PromptPerMTok: 2.5, CompletionPerMTok: 10},
			"gpt-4.1":       {PromptPerMTok: 2, CompletionPerMTok: 8}, // default kept
		}
		for m, p := range want {
			if c.Prices[m] != p {
				t.Errorf("price %s = %+v, want %+v", m, c.Prices[m], p)
			}
		}
		cl, err := llm.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Config().MaxRetries != 0 || cl.Config().BaseURL != "http://localhost:11434/v1" {
			t.Errorf("effective config = %+v", cl.Config())
		}
		if !cl.ModelAllowed("my-model") || cl.ModelAllowed("gpt-4.1") || !cl.Priced("llama3.1:8b") {
			t.Errorf("model policy of %+v", cl.Config())
		}
	})

	t.Run("duration syntax and zero concurrency", func(t *testing.T) {
		cfg, err := FromEnv(envOf(map[string]string{"LLM_CALL_TIMEOUT": "1m30s", "OPENAI_BASE_URL": "localhost:1234", "LLM_CONCURRENCY": "0"}))
		if c := cfg.LLM; err != nil || c.CallTimeout != 90*time.Second || !c.Configured() || c.Concurrency != 8 {
			t.Errorf("config = %+v, err %v", c, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := FromEnv(envOf(map[string]string{
			"OPENAI_TEMPERATURE":        "hot",
			"OPENAI_SEED":               "1.5",
			"OPENAI_MAX_TOKENS":         "-1",
			"LLM_CONCURRENCY":           "many",
			"LLM_TOKENS_PER_MINUTE":     "-5",
			"LLM_CALL_TIMEOUT":          "0",
			"LLM_PRICES":                "gpt-4.1=1,bad",
			"OPENAI_BASE_URL":           "ftp://example.com",
			"OPENAI_REPORT_TEMPERATURE": "3",
		}))
		if err == nil {
			t.Fatal("want error")
		}
		for _, key := range []string{`OPENAI_TEMPERATURE="hot": want a number between 0 and 2`, `OPENAI_SEED="1.5": want an integer`,
			`OPENAI_MAX_TOKENS="-1": want a non-negative integer`, `LLM_CONCURRENCY="many": want a non-negative integer`,
			`LLM_TOKENS_PER_MINUTE="-5"`, `LLM_CALL_TIMEOUT="0": want a positive duration`, "LLM_PRICES", "OPENAI_BASE_URL", `"bad"`,
			`OPENAI_REPORT_TEMPERATURE="3": want a number between 0 and 2`} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not mention %s: %v", key, err)
			}
		}
	})
}
