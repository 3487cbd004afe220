package llm

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by New for zero fields. They are also the defaults of the
// OPENAI_* and LLM_* settings, which package config reads (config.Settings
// refers to these constants, so each is written once).
const (
	DefaultModel             = "gpt-4.1-mini"
	DefaultReportModel       = "gpt-4.1" // report narratives (package reporting)
	DefaultConcurrency       = 8
	DefaultCallTimeout       = 60 * time.Second
	DefaultMaxRetries        = 5
	DefaultMaxInvalidRetries = 2
	DefaultBackoffBase       = 500 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
)

// The prototype's sampling: its agents at temperature 0.4 with at most 200
// completion tokens, its supervisor (the report narrative) at 0.3 with a
// large limit. They are the defaults of the settings OPENAI_TEMPERATURE,
// OPENAI_MAX_TOKENS, OPENAI_REPORT_TEMPERATURE and OPENAI_REPORT_MAX_TOKENS
// (package config), not of Config: New leaves a nil Temperature and a zero
// MaxTokens unsent.
const (
	DefaultTemperature       = 0.4
	DefaultMaxTokens         = 200
	DefaultReportTemperature = 0.3
	DefaultReportMaxTokens   = 2000
)

// Config configures a Client. Zero values mean "default" (see the Default*
// constants). MaxRetries and MaxInvalidRetries use a negative value for
// "none", because 0 means the default.
type Config struct {
	APIKey  string // OPENAI_API_KEY; may be empty for local servers
	BaseURL string // OPENAI_BASE_URL; with or without /v1 (see package doc); empty = OpenAI
	Model   string // OPENAI_MODEL; empty = DefaultModel

	// AllowedModels, when not empty, lists the models a request may name
	// besides Model (OPENAI_ALLOWED_MODELS); see Client.ModelAllowed.
	AllowedModels []string

	Temperature *float32 // nil = server default
	MaxTokens   int      // 0 = no limit sent
	Seed        *int     // nil = not sent

	Concurrency int // max in-flight HTTP attempts per Client, default 8

	RequestsPerMinute int // 0 = unlimited
	TokensPerMinute   int // 0 = unlimited

	CallTimeout       time.Duration // per attempt, default 60s
	MaxRetries        int           // transport retries, default 5; <0 = none
	MaxInvalidRetries int           // re-asks on an invalid answer, default 2; <0 = none
	BackoffBase       time.Duration // default 500ms
	BackoffMax        time.Duration // default 30s; also caps Retry-After

	// Prices maps a model name to its price. New merges it over DefaultPrices,
	// so it only needs the models to add or override.
	Prices map[string]Price

	// HTTPClient is optional. Its Transport (or http.DefaultTransport) is
	// wrapped, never modified; its Timeout, if any, applies on top of CallTimeout.
	HTTPClient *http.Client
}

// Price is USD per one million tokens.
type Price struct {
	PromptPerMTok     float64
	CompletionPerMTok float64
}

// DefaultPrices returns a fresh copy of the built-in price table: OpenAI list
// prices (standard tier, uncached input, no batch discount) in USD per 1M
// tokens at the time of writing. Override them through Config.Prices or
// LLM_PRICES when they change.
func DefaultPrices() map[string]Price {
	return map[string]Price{
		"gpt-4.1":      {PromptPerMTok: 2.00, CompletionPerMTok: 8.00},
		"gpt-4.1-mini": {PromptPerMTok: 0.40, CompletionPerMTok: 1.60},
		"gpt-4.1-nano": {PromptPerMTok: 0.10, CompletionPerMTok: 0.40},
		"gpt-4o":       {PromptPerMTok: 2.50, CompletionPerMTok: 10.00},
		"gpt-4o-mini":  {PromptPerMTok: 0.15, CompletionPerMTok: 0.60},
	}
}

// Configured reports whether an LLM endpoint has been configured at all
// (an API key for OpenAI, or a base URL for a local/compatible server).
func (c Config) Configured() bool {
	return strings.TrimSpace(c.APIKey) != "" || strings.TrimSpace(c.BaseURL) != ""
}

// ParsePrices parses the LLM_PRICES format: comma- or semicolon-separated
// "model=prompt/completion" entries, prices in USD per 1M tokens. The model
// name is everything before the last '=', so it may contain '/' or ':'.
func ParsePrices(s string) (map[string]Price, error) {
	out := map[string]Price{}
	var errs []error
	for entry := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndexByte(entry, '=')
		if i <= 0 {
			errs = append(errs, fmt.Errorf("%q: want model=prompt/completion", entry))
			continue
		}
		model := strings.TrimSpace(entry[:i])
		in, outStr, ok := strings.Cut(entry[i+1:], "/")
		pin, err1 := strconv.ParseFloat(strings.TrimSpace(in), 64)
		pout, err2 := strconv.ParseFloat(strings.TrimSpace(outStr), 64)
		if model == "" || !ok || err1 != nil || err2 != nil || !(pin >= 0 && pout >= 0) || // also NaN
			math.IsInf(pin, 0) || math.IsInf(pout, 0) {
			errs = append(errs, fmt.Errorf("%q: want model=prompt/completion with finite non-negative numbers", entry))
			continue
		}
		out[model] = Price{PromptPerMTok: pin, CompletionPerMTok: pout}
	}
	return out, errors.Join(errs...)
}

var versionSegment = regexp.MustCompile(`^v\d+`)

// CheckBaseURL reports whether raw is a base URL New accepts
// (OPENAI_BASE_URL; see the package documentation).
func CheckBaseURL(raw string) error {
	_, err := normalizeBaseURL(raw)
	return err
}

// normalizeBaseURL turns OPENAI_BASE_URL into the API root go-openai expects
// (ending in /v1 or another version segment). See the package documentation.
func normalizeBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "https://api.openai.com/v1", nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid base URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid base URL %q: want http(s)://host[:port][/path]", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	hasVersion := false
	for seg := range strings.SplitSeq(u.Path, "/") {
		if versionSegment.MatchString(seg) {
			hasVersion = true
		}
	}
	if !hasVersion {
		u.Path += "/v1"
	}
	return u.String(), nil
}

// withDefaults returns a copy of c with defaults applied.
func (c Config) withDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	switch {
	case c.MaxInvalidRetries == 0:
		c.MaxInvalidRetries = DefaultMaxInvalidRetries
	case c.MaxInvalidRetries < 0:
		c.MaxInvalidRetries = 0
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	prices := DefaultPrices()
	maps.Copy(prices, c.Prices)
	c.Prices = prices
	return c
}
