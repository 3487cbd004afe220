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

// Defaults applied by New (and filled in by ConfigFromEnv) for zero fields.
const (
	DefaultModel             = "gpt-4.1-mini"
	DefaultConcurrency       = 8
	DefaultCallTimeout       = 60 * time.Second
	DefaultMaxRetries        = 5
	DefaultMaxInvalidRetries = 2
	DefaultBackoffBase       = 500 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
)

// Config configures a Client. Zero values mean "default" (see the Default*
// constants). MaxRetries and MaxInvalidRetries use a negative value for
// "none", because 0 means the default.
type Config struct {
	APIKey  string // OPENAI_API_KEY; may be empty for local servers
	BaseURL string // OPENAI_BASE_URL; with or without /v1 (see package doc); empty = OpenAI
	Model   string // OPENAI_MODEL, default gpt-4.1-mini

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

// ConfigFromEnv builds a Config from a lookup function (os.Getenv in
// production) and fills in the defaults. Variables:
//
//	OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL (default gpt-4.1-mini)
//	OPENAI_ALLOWED_MODELS (comma-separated models a run may ask for; empty = any)
//	OPENAI_TEMPERATURE (float), OPENAI_MAX_TOKENS (int), OPENAI_SEED (int)
//	LLM_CONCURRENCY (default 8), LLM_REQUESTS_PER_MINUTE, LLM_TOKENS_PER_MINUTE (0 = unlimited)
//	LLM_CALL_TIMEOUT (Go duration like "45s", or plain seconds; default 60s)
//	LLM_MAX_RETRIES (default 5; 0 = no retries)
//	LLM_PRICES ("gpt-4.1-mini=0.4/1.6,my-model=0/0": model=prompt/completion USD per 1M tokens,
//	            merged over DefaultPrices; model names may contain '/' and ':')
//
// Empty variables mean "default". Malformed values are reported together.
func ConfigFromEnv(get func(string) string) (Config, error) {
	p := envParser{get: get}
	c := Config{
		APIKey:            p.str("OPENAI_API_KEY"),
		BaseURL:           p.str("OPENAI_BASE_URL"),
		Model:             p.str("OPENAI_MODEL"),
		MaxTokens:         p.nonNegInt("OPENAI_MAX_TOKENS", 0),
		Concurrency:       p.nonNegInt("LLM_CONCURRENCY", DefaultConcurrency),
		RequestsPerMinute: p.nonNegInt("LLM_REQUESTS_PER_MINUTE", 0),
		TokensPerMinute:   p.nonNegInt("LLM_TOKENS_PER_MINUTE", 0),
		CallTimeout:       p.duration("LLM_CALL_TIMEOUT", DefaultCallTimeout),
		MaxRetries:        p.nonNegInt("LLM_MAX_RETRIES", DefaultMaxRetries),
		MaxInvalidRetries: DefaultMaxInvalidRetries,
		BackoffBase:       DefaultBackoffBase,
		BackoffMax:        DefaultBackoffMax,
		Prices:            DefaultPrices(),
	}
	if c.Model == "" {
		c.Model = DefaultModel
	}
	for m := range strings.SplitSeq(p.str("OPENAI_ALLOWED_MODELS"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			c.AllowedModels = append(c.AllowedModels, m)
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxRetries == 0 && p.str("LLM_MAX_RETRIES") != "" {
		c.MaxRetries = -1 // explicit 0: no retries (0 in Config means default)
	}
	if s := p.str("OPENAI_TEMPERATURE"); s != "" {
		f, err := strconv.ParseFloat(s, 32)
		if err != nil || f < 0 || f > 2 {
			p.fail("OPENAI_TEMPERATURE", s, "a number between 0 and 2")
		} else {
			t := float32(f)
			c.Temperature = &t
		}
	}
	if s := p.str("OPENAI_SEED"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			p.fail("OPENAI_SEED", s, "an integer")
		} else {
			c.Seed = &n
		}
	}
	if s := p.str("LLM_PRICES"); s != "" {
		prices, err := ParsePrices(s)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("LLM_PRICES: %w", err))
		}
		maps.Copy(c.Prices, prices)
	}
	if c.BaseURL != "" {
		if _, err := normalizeBaseURL(c.BaseURL); err != nil {
			p.errs = append(p.errs, fmt.Errorf("OPENAI_BASE_URL: %w", err))
		}
	}
	return c, errors.Join(p.errs...)
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

type envParser struct {
	get  func(string) string
	errs []error
}

func (p *envParser) str(key string) string { return strings.TrimSpace(p.get(key)) }

func (p *envParser) fail(key, val, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: want %s", key, val, want))
}

func (p *envParser) nonNegInt(key string, def int) int {
	s := p.str(key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		p.fail(key, s, "a non-negative integer")
		return def
	}
	return n
}

func (p *envParser) duration(key string, def time.Duration) time.Duration {
	s := p.str(key)
	if s == "" {
		return def
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second))
	}
	p.fail(key, s, `a positive duration such as "45s" or a number of seconds`)
	return def
}

var versionSegment = regexp.MustCompile(`^v\d+`)

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
