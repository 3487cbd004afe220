// Package config reads the server's settings from the environment and, when
// present, a .env file (which never overrides variables already set).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/internal/origins"
)

// Config is every setting of the server. .env.example lists them all.
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
	JobPollInterval    time.Duration
	DemoData           bool // create a demo network when the database has none
	ProgressInterval   time.Duration

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

// FromEnv builds a Config from a lookup function, so tests need no process environment.
func FromEnv(get func(string) string) (Config, error) {
	p := parser{get: get}
	c := Config{
		Env:                  p.str("ENV", "development"),
		Host:                 p.str("HOST", "127.0.0.1"), // this machine only; containers set 0.0.0.0
		Port:                 p.int("PORT", 8080),
		DatabaseURL:          p.str("DATABASE_URL", ""),
		DBMaxOpenConns:       p.int("DB_MAX_OPEN_CONNS", 20),
		DBMaxIdleConns:       p.int("DB_MAX_IDLE_CONNS", 10),
		DBConnMaxLife:        p.duration("DB_CONN_MAX_LIFETIME", 30*time.Minute),
		DBConnMaxIdle:        p.duration("DB_CONN_MAX_IDLE_TIME", 5*time.Minute),
		CORSOrigins:          p.list("CORS_ALLOWED_ORIGINS", append([]string(nil), origins.Loopback...)), // pages on this machine, any port
		MaxUploadBytes:       p.int64("MAX_UPLOAD_BYTES", 256<<20),
		MaxBodyBytes:         p.int64("MAX_BODY_BYTES", 64<<20),
		MaxGenerateAgents:    p.int("MAX_GENERATE_AGENTS", 100_000),
		MaxConcurrentImports: p.int("MAX_CONCURRENT_IMPORTS", 2),
		LogLevel:             p.str("LOG_LEVEL", "info"),
		ShutdownTimeout:      p.duration("SHUTDOWN_TIMEOUT", 30*time.Second),

		Workers:            p.int("WORKERS", 8),
		SimChunkSize:       p.int("SIM_CHUNK_SIZE", 32),
		SimFailShare:       p.float("SIM_FAIL_SHARE", 0.2),
		SimMaxAgentRounds:  p.int("SIM_MAX_AGENT_ROUNDS", 10_000_000),
		SimMaxRounds:       p.int("SIM_MAX_ROUNDS", 50),
		SimMaxTriggerChars: p.int("SIM_MAX_TRIGGER_CHARS", 4000),
		JobTimeout:         p.duration("JOB_TIMEOUT", 5*time.Minute),
		JobRescueAfter:     p.duration("JOB_RESCUE_AFTER", 6*time.Minute),
		JobPollInterval:    p.duration("JOB_POLL_INTERVAL", 50*time.Millisecond),
		DemoData:           p.bool("DEMO_DATA", true),
		ProgressInterval:   p.duration("SIM_PROGRESS_INTERVAL", 250*time.Millisecond),
	}
	prod := c.Env == "production"
	// Development stays open and friendly; production is closed unless opened.
	rateDefault := func(dev, production int) int {
		if prod {
			return production
		}
		return dev
	}
	c.RequireAuthForReads = p.bool("REQUIRE_AUTH_FOR_READS", false)
	c.CORSExplicit = strings.TrimSpace(get("CORS_ALLOWED_ORIGINS")) != ""
	if _, err := origins.Parse(c.CORSOrigins); err != nil {
		p.errs = append(p.errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err))
	}
	c.EnableIntrospection = p.bool("ENABLE_INTROSPECTION", !prod)
	c.EnableIDE = p.bool("ENABLE_IDE", !prod)
	c.MaxQueryDepth = p.int("MAX_QUERY_DEPTH", 15)
	c.MaxQueryComplexity = p.int("MAX_QUERY_COMPLEXITY", 200_000)
	c.MaxQueryTokens = p.int("MAX_QUERY_TOKENS", 15_000)
	c.RateMutations = p.int("RATE_LIMIT_MUTATIONS", rateDefault(0, 60))
	c.RateMutationsBurst = p.int("RATE_LIMIT_MUTATIONS_BURST", 20)
	c.RateRuns = p.int("RATE_LIMIT_RUNS", rateDefault(0, 6))
	c.RateRunsBurst = p.int("RATE_LIMIT_RUNS_BURST", 3)
	c.ReadHeaderTimeout = p.duration("READ_HEADER_TIMEOUT", 10*time.Second)
	c.WriteTimeout = p.duration("WRITE_TIMEOUT", 60*time.Second)
	c.ReadTimeout = p.duration("READ_TIMEOUT", 10*time.Minute)
	c.IdleTimeout = p.duration("IDLE_TIMEOUT", 120*time.Second)
	c.MaxWSConnections = p.int("MAX_WS_CONNECTIONS", 1000)
	c.MaxSSEStreams = p.int("MAX_SSE_STREAMS", 1000)
	c.MaxSubsPerConn = p.int("MAX_SUBSCRIPTIONS_PER_CONNECTION", 100)
	c.AuthFailureLimit = p.int("AUTH_FAILURE_LIMIT", 20)
	if v := get("API_TOKENS"); strings.TrimSpace(v) != "" {
		toks, err := auth.ParseTokens(v)
		if err != nil {
			p.errs = append(p.errs, err)
		}
		c.APITokens = toks
	}
	for _, s := range p.list("TRUST_PROXY", nil) {
		pre, err := parsePrefix(s)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("TRUST_PROXY entry %q: want an IP or CIDR", s))
			continue
		}
		c.TrustProxy = append(c.TrustProxy, pre)
	}
	for key, v := range map[string]int{"MAX_QUERY_DEPTH": c.MaxQueryDepth, "MAX_QUERY_COMPLEXITY": c.MaxQueryComplexity, "MAX_QUERY_TOKENS": c.MaxQueryTokens,
		"RATE_LIMIT_MUTATIONS": c.RateMutations, "RATE_LIMIT_RUNS": c.RateRuns, "MAX_WS_CONNECTIONS": c.MaxWSConnections,
		"MAX_SSE_STREAMS": c.MaxSSEStreams, "MAX_CONCURRENT_IMPORTS": c.MaxConcurrentImports, "MAX_SUBSCRIPTIONS_PER_CONNECTION": c.MaxSubsPerConn,
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
	if c.JobRescueAfter <= c.JobTimeout {
		p.errs = append(p.errs, fmt.Errorf("JOB_RESCUE_AFTER (%s) must exceed JOB_TIMEOUT (%s)", c.JobRescueAfter, c.JobTimeout))
	}
	if c.MaxBodyBytes <= 0 {
		p.errs = append(p.errs, fmt.Errorf("MAX_BODY_BYTES must be positive"))
	}
	return c, errors.Join(p.errs...)
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

type parser struct {
	get  func(string) string
	errs []error
}

func (p *parser) str(key, def string) string {
	if v := strings.TrimSpace(p.get(key)); v != "" {
		return v
	}
	return def
}

func (p *parser) int(key string, def int) int {
	return int(p.int64(key, int64(def)))
}

func (p *parser) int64(key string, def int64) int64 {
	v := strings.TrimSpace(p.get(key))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not an integer", key, v))
		return def
	}
	return n
}

func (p *parser) bool(key string, def bool) bool {
	v := strings.TrimSpace(p.get(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: want true or false", key, v))
		return def
	}
	return b
}

func (p *parser) float(key string, def float64) float64 {
	v := strings.TrimSpace(p.get(key))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not a number", key, v))
		return def
	}
	return f
}

func (p *parser) duration(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.get(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s, 5m)", key, v))
		return def
	}
	return d
}

func (p *parser) list(key string, def []string) []string {
	v := strings.TrimSpace(p.get(key))
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
