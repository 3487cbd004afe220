// Package config reads the server's settings from the environment and, when
// present, a .env file (which never overrides variables already set).
//
// Every setting is described once, in Settings (settings.go): its name,
// group, type, default (per environment where they differ) and description.
// FromEnv reads each variable through that table, and `go generate ./...`
// writes the README's Configuration table, .env.example and
// deploy/ethox.env.example from it (internal/configdoc).
package config

//go:generate go run github.com/ethox/ethox/internal/configdoc -root ..

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/internal/origins"
	"github.com/ethox/ethox/simulation/llm"
)

// Config is every setting of the server (Settings describes them).
type Config struct {
	Env  string // development or production
	Host string
	Port int

	DatabaseURL    string
	DBMaxOpenConns int
	DBMaxIdleConns int
	DBConnMaxLife  time.Duration
	DBConnMaxIdle  time.Duration
	CORSOrigins    []string
	MaxUploadBytes int64
	MaxBodyBytes   int64
	// Memory-heavy mutations: the largest generated population and how many
	// imports or generations run at once.
	MaxGenerateAgents    int
	MaxConcurrentImports int
	GraphMemoryMB        int // budget of graphstore's networks kept in memory
	LogLevel             string
	ShutdownTimeout      time.Duration

	Workers            int // simulation jobs this process works at once; 0 = API only
	SimChunkSize       int
	SimFailShare       float64
	SimMaxAgentRounds  int
	SimMaxRounds       int
	SimMaxTriggerChars int
	JobTimeout         time.Duration
	JobRescueAfter     time.Duration
	WorkerLease        time.Duration
	JobPollInterval    time.Duration
	Experiments        ExperimentLimits
	DemoData           bool   // create a demo network when the database has none
	FrontendDir        string // a built single-page app served at /; "" = none
	ProgressInterval   time.Duration
	// estimateRun's assumptions: completion tokens per call, time of a call.
	EstimateAnswerTokens int
	EstimateCallLatency  time.Duration
	// The LLM answer cache's bounds.
	LLMCacheMaxEntries int
	LLMCacheTTL        time.Duration

	// Security and limits (README "Production").
	APITokens           []auth.StaticToken
	RequireAuthForReads bool
	CORSExplicit        bool           // CORS_ALLOWED_ORIGINS was set (production requires it)
	TrustProxy          []netip.Prefix // TLS-terminating proxies whose X-Forwarded-* headers count
	EnableIntrospection bool
	EnableIDE           bool
	MaxQueryDepth       int
	MaxQueryComplexity  int
	MaxQueryTokens      int // lexical tokens of a document, checked while parsing
	RateMutations       int // per minute per token or IP; 0 = off
	RateMutationsBurst  int
	RateRuns            int // runSimulation per minute per token or IP; 0 = off
	RateRunsBurst       int
	ReadHeaderTimeout   time.Duration
	WriteTimeout        time.Duration // every response but streams
	ReadTimeout         time.Duration // every request but WebSockets
	IdleTimeout         time.Duration
	MaxWSConnections    int
	MaxSSEStreams       int
	MaxSubsPerConn      int // subscriptions one WebSocket carries at once
	AuthFailureLimit    int // invalid tokens per minute per client IP; 0 = off

	// LLM is the LLM client's configuration (OPENAI_*, LLM_*), defaults
	// filled in; LLM.Configured() says whether an endpoint was given.
	LLM llm.Config
	// ReportModel writes the report narratives (OPENAI_REPORT_MODEL), at
	// ReportTemperature (OPENAI_REPORT_TEMPERATURE; nil = not sent) with at
	// most ReportMaxTokens completion tokens (OPENAI_REPORT_MAX_TOKENS; 0 =
	// no limit sent).
	ReportModel       string
	ReportTemperature *float32
	ReportMaxTokens   int
}

// Production reports ENV=production.
func (c Config) Production() bool { return c.Env == "production" }

// Addr is the listen address (an IPv6 HOST with or without brackets).
func (c Config) Addr() string {
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(c.Host, "["), "]"), strconv.Itoa(c.Port))
}

// Load reads .env (if the file exists) and then the environment.
func Load() (Config, error) {
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf(".env: %w", err)
	}
	return FromEnv(os.Getenv)
}

// LoadEnvironment reads the process environment only, without .env.
func LoadEnvironment() (Config, error) { return FromEnv(os.Getenv) }

// FromEnv builds a Config from a lookup function, so tests need no process environment.
//
// To add a setting, add its row to Settings (its default goes there and
// nowhere else), read it here by name (p.int("NAME"), p.duration("NAME"), ...)
// and run `go generate ./...` to document it.
func FromEnv(get func(string) string) (Config, error) {
	p := parser{get: get}
	// ENV first: it picks the defaults of the others.
	env := p.str("ENV")
	p.prod = env == "production"
	c := Config{
		Env:                  env,
		Host:                 p.str("HOST"),
		Port:                 p.int("PORT"),
		DatabaseURL:          p.str("DATABASE_URL"),
		DBMaxOpenConns:       p.int("DB_MAX_OPEN_CONNS"),
		DBMaxIdleConns:       p.int("DB_MAX_IDLE_CONNS"),
		DBConnMaxLife:        p.duration("DB_CONN_MAX_LIFETIME"),
		DBConnMaxIdle:        p.duration("DB_CONN_MAX_IDLE_TIME"),
		CORSOrigins:          p.list("CORS_ALLOWED_ORIGINS"),
		MaxUploadBytes:       p.int64("MAX_UPLOAD_BYTES"),
		MaxBodyBytes:         p.int64("MAX_BODY_BYTES"),
		MaxGenerateAgents:    p.int("MAX_GENERATE_AGENTS"),
		MaxConcurrentImports: p.int("MAX_CONCURRENT_IMPORTS"),
		GraphMemoryMB:        p.int("GRAPH_MEMORY_MB"),
		LogLevel:             p.str("LOG_LEVEL"),
		ShutdownTimeout:      p.duration("SHUTDOWN_TIMEOUT"),

		Workers:              p.int("WORKERS"),
		SimChunkSize:         p.int("SIM_CHUNK_SIZE"),
		SimFailShare:         p.float("SIM_FAIL_SHARE"),
		SimMaxAgentRounds:    p.int("SIM_MAX_AGENT_ROUNDS"),
		SimMaxRounds:         p.int("SIM_MAX_ROUNDS"),
		SimMaxTriggerChars:   p.int("SIM_MAX_TRIGGER_CHARS"),
		JobTimeout:           p.duration("JOB_TIMEOUT"),
		JobRescueAfter:       p.duration("JOB_RESCUE_AFTER"),
		WorkerLease:          p.duration("WORKER_LEASE"),
		JobPollInterval:      p.duration("JOB_POLL_INTERVAL"),
		DemoData:             p.bool("DEMO_DATA"),
		FrontendDir:          p.str("FRONTEND_DIR"),
		ProgressInterval:     p.duration("SIM_PROGRESS_INTERVAL"),
		EstimateAnswerTokens: p.int("SIM_ESTIMATE_ANSWER_TOKENS"),
		EstimateCallLatency:  p.duration("SIM_ESTIMATE_CALL_LATENCY"),
		Experiments: ExperimentLimits{MaxReplicates: p.int("EXPERIMENT_MAX_REPLICATES"), MaxRuns: p.int("EXPERIMENT_MAX_RUNS"),
			MaxConcurrentRuns: p.int("EXPERIMENT_MAX_CONCURRENT_RUNS"), BootstrapResamples: p.int("EXPERIMENT_BOOTSTRAP_RESAMPLES"),
			Poll: p.duration("EXPERIMENT_POLL_INTERVAL")},
		LLMCacheMaxEntries: p.int("LLM_CACHE_MAX_ENTRIES"),
		LLMCacheTTL:        p.duration("LLM_CACHE_TTL"),

		// Development stays open and friendly; production is closed unless
		// opened (Settings gives these their per-environment defaults).
		RequireAuthForReads: p.bool("REQUIRE_AUTH_FOR_READS"),
		CORSExplicit:        p.set("CORS_ALLOWED_ORIGINS"),
		EnableIntrospection: p.bool("ENABLE_INTROSPECTION"),
		EnableIDE:           p.bool("ENABLE_IDE"),
		MaxQueryDepth:       p.int("MAX_QUERY_DEPTH"),
		MaxQueryComplexity:  p.int("MAX_QUERY_COMPLEXITY"),
		MaxQueryTokens:      p.int("MAX_QUERY_TOKENS"),
		RateMutations:       p.int("RATE_LIMIT_MUTATIONS"),
		RateMutationsBurst:  p.int("RATE_LIMIT_MUTATIONS_BURST"),
		RateRuns:            p.int("RATE_LIMIT_RUNS"),
		RateRunsBurst:       p.int("RATE_LIMIT_RUNS_BURST"),
		ReadHeaderTimeout:   p.duration("READ_HEADER_TIMEOUT"),
		WriteTimeout:        p.duration("WRITE_TIMEOUT"),
		ReadTimeout:         p.duration("READ_TIMEOUT"),
		IdleTimeout:         p.duration("IDLE_TIMEOUT"),
		MaxWSConnections:    p.int("MAX_WS_CONNECTIONS"),
		MaxSSEStreams:       p.int("MAX_SSE_STREAMS"),
		MaxSubsPerConn:      p.int("MAX_SUBSCRIPTIONS_PER_CONNECTION"),
		AuthFailureLimit:    p.int("AUTH_FAILURE_LIMIT"),

		ReportModel:       p.str("OPENAI_REPORT_MODEL"),
		ReportTemperature: p.temperature("OPENAI_REPORT_TEMPERATURE"),
		ReportMaxTokens:   p.nonNegInt("OPENAI_REPORT_MAX_TOKENS"),
	}
	if _, err := origins.Parse(c.CORSOrigins); err != nil {
		p.errs = append(p.errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err))
	}
	if v := p.str("API_TOKENS"); v != "" {
		toks, err := auth.ParseTokens(v)
		if err != nil {
			p.errs = append(p.errs, err)
		}
		c.APITokens = toks
	}
	for _, s := range p.list("TRUST_PROXY") {
		pre, err := parsePrefix(s)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("TRUST_PROXY entry %q: want an IP or CIDR", s))
			continue
		}
		c.TrustProxy = append(c.TrustProxy, pre)
	}
	for key, v := range map[string]int{"MAX_QUERY_DEPTH": c.MaxQueryDepth, "MAX_QUERY_COMPLEXITY": c.MaxQueryComplexity, "MAX_QUERY_TOKENS": c.MaxQueryTokens,
		"RATE_LIMIT_MUTATIONS": c.RateMutations, "RATE_LIMIT_RUNS": c.RateRuns, "MAX_WS_CONNECTIONS": c.MaxWSConnections,
		"MAX_SSE_STREAMS": c.MaxSSEStreams, "MAX_CONCURRENT_IMPORTS": c.MaxConcurrentImports, "GRAPH_MEMORY_MB": c.GraphMemoryMB, "MAX_SUBSCRIPTIONS_PER_CONNECTION": c.MaxSubsPerConn,
		"AUTH_FAILURE_LIMIT": c.AuthFailureLimit} {
		if v < 0 {
			p.errs = append(p.errs, fmt.Errorf("%s must be 0 (no limit) or more", key))
		}
	}
	for key, v := range map[string]int{"RATE_LIMIT_MUTATIONS_BURST": c.RateMutationsBurst, "RATE_LIMIT_RUNS_BURST": c.RateRunsBurst} {
		if v < 1 {
			p.errs = append(p.errs, fmt.Errorf("%s must be 1 or more", key))
		}
	}
	if c.Env != "development" && c.Env != "production" {
		p.errs = append(p.errs, fmt.Errorf("ENV=%q: want development or production", c.Env))
	}
	if strings.ContainsAny(c.Host, "/ ") || strings.Count(c.Host, ":") == 1 {
		p.errs = append(p.errs, fmt.Errorf("HOST=%q: want an address or host name without scheme or port (PORT sets the port)", c.Host))
	}
	if c.Port < 0 || c.Port > 65535 {
		p.errs = append(p.errs, fmt.Errorf("PORT=%d: out of range", c.Port))
	}
	if c.MaxUploadBytes <= 0 {
		p.errs = append(p.errs, fmt.Errorf("MAX_UPLOAD_BYTES must be positive"))
	}
	if c.MaxGenerateAgents < 1 {
		p.errs = append(p.errs, fmt.Errorf("MAX_GENERATE_AGENTS must be 1 or more"))
	}
	if c.Workers < 0 {
		p.errs = append(p.errs, fmt.Errorf("WORKERS must be 0 or more"))
	}
	if !(c.SimFailShare > 0 && c.SimFailShare <= 1) {
		p.errs = append(p.errs, fmt.Errorf("SIM_FAIL_SHARE must be in (0, 1]"))
	}
	if c.EstimateAnswerTokens < 1 || c.EstimateAnswerTokens > 100_000 {
		p.errs = append(p.errs, fmt.Errorf("SIM_ESTIMATE_ANSWER_TOKENS must be between 1 and 100000"))
	}
	if c.LLMCacheMaxEntries < 1 {
		p.errs = append(p.errs, fmt.Errorf("LLM_CACHE_MAX_ENTRIES must be 1 or more"))
	}
	if c.LLMCacheTTL <= 0 {
		p.errs = append(p.errs, fmt.Errorf("LLM_CACHE_TTL must be positive"))
	}
	if c.EstimateCallLatency <= 0 {
		p.errs = append(p.errs, fmt.Errorf("SIM_ESTIMATE_CALL_LATENCY must be positive"))
	}
	if c.WorkerLease < 3*time.Second {
		p.errs = append(p.errs, fmt.Errorf("WORKER_LEASE (%s) must be at least 3s", c.WorkerLease))
	}
	if c.JobRescueAfter <= c.JobTimeout {
		p.errs = append(p.errs, fmt.Errorf("JOB_RESCUE_AFTER (%s) must exceed JOB_TIMEOUT (%s)", c.JobRescueAfter, c.JobTimeout))
	}
	if c.MaxBodyBytes <= 0 {
		p.errs = append(p.errs, fmt.Errorf("MAX_BODY_BYTES must be positive"))
	}
	c.LLM = p.llm()
	return c, errors.Join(p.errs...)
}

// llm reads the LLM client's settings. Empty variables mean the default;
// the integers are non-negative and LLM_CALL_TIMEOUT also takes plain
// seconds, as simulation/llm has always accepted.
func (p *parser) llm() llm.Config {
	c := llm.Config{
		APIKey:            p.str("OPENAI_API_KEY"),
		BaseURL:           p.str("OPENAI_BASE_URL"),
		Model:             p.str("OPENAI_MODEL"),
		AllowedModels:     p.list("OPENAI_ALLOWED_MODELS"),
		MaxTokens:         p.nonNegInt("OPENAI_MAX_TOKENS"),
		Concurrency:       p.nonNegInt("LLM_CONCURRENCY"),
		RequestsPerMinute: p.nonNegInt("LLM_REQUESTS_PER_MINUTE"),
		TokensPerMinute:   p.nonNegInt("LLM_TOKENS_PER_MINUTE"),
		CallTimeout:       p.llmDuration("LLM_CALL_TIMEOUT"),
		MaxRetries:        p.nonNegInt("LLM_MAX_RETRIES"),
		// Not settings: the client's own defaults, spelled out.
		MaxInvalidRetries: llm.DefaultMaxInvalidRetries,
		BackoffBase:       llm.DefaultBackoffBase,
		BackoffMax:        llm.DefaultBackoffMax,
		Prices:            llm.DefaultPrices(),
	}
	if c.Concurrency == 0 {
		c.Concurrency = p.defaultInt("LLM_CONCURRENCY")
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = -1 // 0: no retries (0 in llm.Config means its default)
	}
	c.Temperature = p.temperature("OPENAI_TEMPERATURE")
	if s := p.raw("OPENAI_SEED", TypeInt); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			p.want("OPENAI_SEED", s, "an integer")
		} else {
			c.Seed = &n
		}
	}
	if s := p.str("LLM_PRICES"); s != "" {
		prices, err := llm.ParsePrices(s)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("LLM_PRICES: %w", err))
		}
		maps.Copy(c.Prices, prices)
	}
	if c.BaseURL != "" {
		if err := llm.CheckBaseURL(c.BaseURL); err != nil {
			p.errs = append(p.errs, fmt.Errorf("OPENAI_BASE_URL: %w", err))
		}
	}
	return c
}

// parsePrefix reads an IP (a /32 or /128) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if pre, err := netip.ParsePrefix(s); err == nil {
		return pre.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parser reads variables through Settings: a name missing from the table, or
// read as another type than the table says, is a programming error (panic,
// caught by the tests); an empty variable is the table's default.
type parser struct {
	get  func(string) string
	prod bool // ENV=production: Settings' production defaults apply
	errs []error
}

// value is the variable's trimmed value and the setting's default.
func (p *parser) value(key string, types ...Type) (v, def string) {
	s, ok := byName[key]
	if !ok {
		panic("config: " + key + " is not in Settings")
	}
	if len(types) > 0 && !slices.Contains(types, s.Type) {
		panic(fmt.Sprintf("config: %s is a %s in Settings, read as %v", key, s.Type, types))
	}
	return strings.TrimSpace(p.get(key)), s.DefaultFor(p.prod)
}

// set reports whether the variable is set to something other than blanks.
func (p *parser) set(key string) bool {
	v, _ := p.value(key)
	return v != ""
}

func (p *parser) str(key string) string {
	v, def := p.value(key, TypeString)
	if v == "" {
		return def
	}
	return v
}

// raw is the variable's trimmed value, without a default.
func (p *parser) raw(key string, t Type) string {
	v, _ := p.value(key, t)
	return v
}

func (p *parser) int(key string) int {
	return int(p.int64(key))
}

func (p *parser) int64(key string) int64 {
	v, def := p.value(key, TypeInt)
	if v == "" {
		return mustParse(key, def, parseInt)
	}
	n, err := parseInt(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not an integer", key, v))
		return mustParse(key, def, parseInt)
	}
	return n
}

func (p *parser) defaultInt(key string) int {
	_, def := p.value(key, TypeInt)
	return int(mustParse(key, def, parseInt))
}

func (p *parser) bool(key string) bool {
	v, def := p.value(key, TypeBool)
	if v == "" {
		return mustParse(key, def, strconv.ParseBool)
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: want true or false", key, v))
		return mustParse(key, def, strconv.ParseBool)
	}
	return b
}

func (p *parser) float(key string) float64 {
	v, def := p.value(key, TypeFloat)
	if v == "" {
		return mustParse(key, def, parseFloat)
	}
	f, err := parseFloat(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not a number", key, v))
		return mustParse(key, def, parseFloat)
	}
	return f
}

func (p *parser) duration(key string) time.Duration {
	v, def := p.value(key, TypeDuration)
	if v == "" {
		return mustParse(key, def, time.ParseDuration)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s, 5m)", key, v))
		return mustParse(key, def, time.ParseDuration)
	}
	return d
}

func (p *parser) list(key string) []string {
	v, def := p.value(key, TypeList)
	if v == "" {
		return splitList(def)
	}
	return splitList(v)
}

// nonNegInt and llmDuration keep simulation/llm's rules and messages.
func (p *parser) nonNegInt(key string) int {
	v, def := p.value(key, TypeInt)
	if v == "" {
		return int(mustParse(key, def, parseInt))
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.want(key, v, "a non-negative integer")
		return int(mustParse(key, def, parseInt))
	}
	return n
}

// temperature reads a sampling temperature, 0 to 2; nil when both the
// variable and its default are empty (not sent).
func (p *parser) temperature(key string) *float32 {
	v, def := p.value(key, TypeFloat)
	if v == "" {
		if def == "" {
			return nil
		}
		v = def
	}
	f, err := strconv.ParseFloat(v, 32)
	if err != nil || !(f >= 0 && f <= 2) {
		p.want(key, v, "a number between 0 and 2")
		return nil
	}
	t := float32(f)
	return &t
}

func (p *parser) llmDuration(key string) time.Duration {
	v, def := p.value(key, TypeDuration)
	if v == "" {
		return mustParse(key, def, time.ParseDuration)
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second))
	}
	p.want(key, v, `a positive duration such as "45s" or a number of seconds`)
	return mustParse(key, def, time.ParseDuration)
}

func (p *parser) want(key, val, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: want %s", key, val, want))
}

func parseInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

// mustParse parses a default from Settings; TestSettings checks they all parse.
func mustParse[T any](key, def string, parse func(string) (T, error)) T {
	v, err := parse(def)
	if err != nil {
		panic(fmt.Sprintf("config: default of %s (%q) in Settings: %v", key, def, err))
	}
	return v
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ExperimentLimits are the EXPERIMENT_* settings.
type ExperimentLimits struct {
	MaxReplicates      int
	MaxRuns            int
	MaxConcurrentRuns  int
	BootstrapResamples int
	Poll               time.Duration
}
