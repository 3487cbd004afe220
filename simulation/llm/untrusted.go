package llm

import (
	"fmt"
	"strings"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
)

// Everything an LLM server sends back is untrusted input: its usage counts
// feed counters and budgets, its text is stored in the database. The client
// repairs what it can and reports each repair as an Anomaly.

// Anomaly kinds: a fixed set, fit for a metric label.
const (
	AnomalyNegativeTokens  = "negative_tokens"  // a usage count below 0, counted as 0
	AnomalyExcessiveTokens = "excessive_tokens" // a usage count above MaxTokensPerAnswer, counted as that
	AnomalyNULByte         = "nul_byte"         // NUL bytes, removed (PostgreSQL text and jsonb refuse them)
	AnomalyInvalidUTF8     = "invalid_utf8"     // invalid UTF-8, replaced by U+FFFD (PostgreSQL refuses it)
	AnomalyTooLong         = "too_long"         // text over its limit, cut
)

// Limits on what an answer may bring in.
const (
	// MaxTokensPerAnswer bounds each usage count of one answer: above any
	// context window, and small enough that a run's sums never overflow int64.
	MaxTokensPerAnswer = 10_000_000
	// MaxOpinionChars bounds a reaction's opinion.
	MaxOpinionChars = 4000
	// MaxTextChars bounds a Complete answer (a report narrative).
	MaxTextChars = 50_000
	// MaxResponseBytes bounds an HTTP response body, read before any parsing.
	MaxResponseBytes = 8 << 20
)

// Anomaly is one thing wrong with an answer that the client repaired.
type Anomaly struct {
	Kind   string // one of the Anomaly* constants
	Detail string
}

// CleanText makes text from outside storable: NUL bytes removed, invalid
// UTF-8 replaced by U+FFFD, and at most maxChars characters kept (0: no limit).
func CleanText(s string, maxChars int) string {
	out, _ := cleanText(s, maxChars, "")
	return out
}

// cleanText is CleanText, also listing what it repaired in what.
func cleanText(s string, maxChars int, what string) (string, []Anomaly) {
	var an []Anomaly
	if n := strings.Count(s, "\x00"); n > 0 {
		s = strings.ReplaceAll(s, "\x00", "")
		an = append(an, Anomaly{AnomalyNULByte, fmt.Sprintf("%s: %d NUL byte(s) removed", what, n)})
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		an = append(an, Anomaly{AnomalyInvalidUTF8, what + ": invalid UTF-8 replaced"})
	}
	if maxChars > 0 && len(s) > maxChars {
		if n := utf8.RuneCountInString(s); n > maxChars {
			cut, k := len(s), 0
			for i := range s {
				if k == maxChars {
					cut = i
					break
				}
				k++
			}
			s = s[:cut]
			an = append(an, Anomaly{AnomalyTooLong, fmt.Sprintf("%s: %d characters cut to %d", what, n, maxChars)})
		}
	}
	return s, an
}

// cleanUsage clamps a response's token counts into [0, MaxTokensPerAnswer].
func cleanUsage(u *openai.Usage) []Anomaly {
	var an []Anomaly
	for _, f := range []struct {
		name string
		v    *int
	}{{"prompt_tokens", &u.PromptTokens}, {"completion_tokens", &u.CompletionTokens}} {
		switch {
		case *f.v < 0:
			an = append(an, Anomaly{AnomalyNegativeTokens, fmt.Sprintf("usage.%s = %d, counted as 0", f.name, *f.v)})
			*f.v = 0
		case *f.v > MaxTokensPerAnswer:
			an = append(an, Anomaly{AnomalyExcessiveTokens, fmt.Sprintf("usage.%s = %d, counted as %d", f.name, *f.v, MaxTokensPerAnswer)})
			*f.v = MaxTokensPerAnswer
		}
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return an
}

// flag adds anomalies to u and passes each to the client's observer.
func (c *Client) flag(u *Usage, an ...Anomaly) {
	if len(an) == 0 {
		return
	}
	u.Anomalies = append(u.Anomalies, an...)
	if f := c.observer.Load(); f != nil {
		for _, a := range an {
			(*f)(a)
		}
	}
}

// OnAnomaly sets a function called for every anomaly of every call of this
// client (e.g. to count them in a metric); nil removes it. Callers also get
// them in Usage.Anomalies, to log with their own context.
func (c *Client) OnAnomaly(f func(Anomaly)) {
	if f == nil {
		c.observer.Store(nil)
		return
	}
	c.observer.Store(&f)
}
