package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ethox/ethox/internal/origins"
	"github.com/ethox/ethox/simulation/llm"
)

// Group is where a setting is listed: a section of .env.example and of the
// README's Configuration table.
type Group string

// The groups, in the order the documentation lists them.
const (
	GroupServer     Group = "Server"
	GroupDatabase   Group = "Database"
	GroupSecurity   Group = "Security"
	GroupLimits     Group = "Limits"
	GroupSimulation Group = "Simulations"
	GroupLLM        Group = "LLM (OpenAI or any OpenAI-compatible server: vLLM, Ollama, LM Studio, gateways)"
)

// Groups lists every Group in documentation order.
var Groups = []Group{GroupServer, GroupDatabase, GroupSecurity, GroupLimits, GroupSimulation, GroupLLM}

// Type is how a setting's value is written.
type Type string

// The types of settings.
const (
	TypeString   Type = "string"
	TypeInt      Type = "integer"
	TypeFloat    Type = "number"
	TypeBool     Type = "boolean"
	TypeDuration Type = "duration" // Go syntax: 500ms, 30s, 5m
	TypeList     Type = "list"     // comma-separated
)

// Setting describes one environment variable. Settings is the only place a
// default is written: FromEnv reads every variable through it, and
// `go generate ./...` (internal/configdoc) writes the README's Configuration
// table, .env.example and deploy/ethox.env.example from it.
type Setting struct {
	Name  string
	Group Group
	Type  Type
	// Default is the value an empty or unset variable stands for, written as
	// it would be in the environment ("" = empty).
	Default string
	// ProdDefault, when not empty, replaces Default with ENV=production.
	ProdDefault string
	// DefaultText describes a default that is not a value to copy into an
	// env file (the examples leave such a variable empty).
	DefaultText string
	// Doc is the one-line description (Markdown; the env files get it as
	// plain text).
	Doc string
	// ProdExample is the value deploy/ethox.env.example sets when it is not
	// the production default; ProdNote adds production advice to its comment.
	ProdExample string
	ProdNote    string
}

// DefaultFor is the setting's default in development or production.
func (s Setting) DefaultFor(production bool) string {
	if production && s.ProdDefault != "" {
		return s.ProdDefault
	}
	return s.Default
}

// Settings is every setting of the server and the LLM client, in
// documentation order.
var Settings = []Setting{
	// Server
	{Name: "ENV", Group: GroupServer, Type: TypeString, Default: "development",
		Doc: "`development` or `production`; production refuses to start without `CORS_ALLOWED_ORIGINS` and an API token, " +
			"sends security headers (HSTS, nosniff, Referrer-Policy, CSP frame-ancestors), logs JSON, warns on SQLite, " +
			"turns the IDE and introspection off and rate limits on; see [Security and limits](#security-and-limits)",
		ProdExample: "production"},
	{Name: "HOST", Group: GroupServer, Type: TypeString, Default: "127.0.0.1",
		Doc: "listen address: `127.0.0.1` is this machine only; `0.0.0.0` is every interface (set by the Dockerfile, " +
			"`docker-compose.yml` and `Procfile`): whoever reaches the port reaches the API",
		ProdNote: "Behind nginx on this host (deploy/nginx/ethox.conf): loopback only."},
	{Name: "PORT", Group: GroupServer, Type: TypeInt, Default: "8080",
		Doc: "listen port; `0` picks a free one (the start-up log prints the address really listened on)"},
	{Name: "LOG_LEVEL", Group: GroupServer, Type: TypeString, Default: "info",
		Doc: "`debug`, `info`, `warn` or `error`; logs are text in development, JSON in production"},
	{Name: "SHUTDOWN_TIMEOUT", Group: GroupServer, Type: TypeDuration, Default: "30s",
		Doc:      "how long SIGTERM waits for requests in flight",
		ProdNote: "The unit's TimeoutStopSec (45s) must exceed it."},
	{Name: "DEMO_DATA", Group: GroupServer, Type: TypeBool, Default: "true",
		Doc:         "on first start with an empty database, create a demo network (200 synthetic agents, fixed seed)",
		ProdExample: "false", ProdNote: "No demo network in production."},
	{Name: "FRONTEND_DIR", Group: GroupServer, Type: TypeString, Default: "",
		Doc: "a built single-page app (the prototype's React front end: Vite's `dist/`) served at `/` beside the API, " +
			"as WhiteNoise did: files compressed once (brotli, zstd, gzip), fingerprinted assets cached for a year, " +
			"`index.html` for client-side routes; GraphiQL moves to `/graphiql`. Empty: no front end, GraphiQL at `/`; " +
			"see [Migrating from the prototype](#migrating-from-the-prototype)",
		ProdNote: "A directory the service user can read; the server refuses to start when it has no index.html."},

	// Database
	{Name: "DATABASE_URL", Group: GroupDatabase, Type: TypeString, Default: "",
		Doc: "empty: SQLite file `ethox.db` in the working directory; `postgres://user:pass@host:5432/db?sslmode=disable` " +
			"for PostgreSQL (pgx); `sqlite:///abs/path.db` or `sqlite://rel/path.db` for another SQLite file",
		ProdExample: "postgres://ethox:CHANGE_ME@127.0.0.1:5432/ethox?sslmode=disable",
		ProdNote: "On this host through its Unix socket with peer authentication (createuser ethox && createdb -O ethox ethox), " +
			"no password needed:\n  DATABASE_URL=postgres:///ethox?host=/var/run/postgresql\n" +
			"or over TCP; use sslmode=verify-full (with sslrootcert) for a remote server. " +
			"The password must be URL-encoded if it has characters other than letters, digits and -._~"},
	{Name: "DB_MAX_OPEN_CONNS", Group: GroupDatabase, Type: TypeInt, Default: "20",
		Doc: "PostgreSQL pool size (SQLite uses at most 32 connections)"},
	{Name: "DB_MAX_IDLE_CONNS", Group: GroupDatabase, Type: TypeInt, Default: "10",
		Doc: "idle connections kept"},
	{Name: "DB_CONN_MAX_LIFETIME", Group: GroupDatabase, Type: TypeDuration, Default: "30m",
		Doc: "recycle connections after this long"},
	{Name: "DB_CONN_MAX_IDLE_TIME", Group: GroupDatabase, Type: TypeDuration, Default: "5m",
		Doc: "close idle connections after this long"},

	// Security
	{Name: "CORS_ALLOWED_ORIGINS", Group: GroupSecurity, Type: TypeList, Default: strings.Join(origins.Loopback, ","),
		DefaultText: "pages on this machine",
		Doc: "comma-separated browser origins allowed to call the API (CORS), to post to it from their pages and to open " +
			"WebSockets: `scheme://host[:port]`, where `:*` is any port and `*.` any subdomain; other sites' pages get " +
			"403 `FORBIDDEN`. Pages on this machine are `http(s)://localhost:*`, `127.0.0.1:*` and `[::1]:*`; `*` " +
			"allows every site, with a warning at start; production requires it set",
		ProdExample: "https://app.example.com"},
	{Name: "API_TOKENS", Group: GroupSecurity, Type: TypeString, Default: "",
		Doc: "`name:role:token,…` with roles `reader`, `writer`, `admin`; tokens of 16+ characters without `:` or `,`. " +
			"Tokens can also live hashed in the database (`ethox token create --name NAME --role ROLE`, `list`, `revoke NAME`)",
		ProdNote: "Production refuses to start without CORS_ALLOWED_ORIGINS and at least one API token (from API_TOKENS " +
			"or the database); `ethox migrate` and `ethox token` don't check. Make tokens with e.g. openssl rand -hex 32:\n" +
			"  API_TOKENS=dashboard:reader:<64 hex>,pipeline:writer:<64 hex>\n" +
			"Or keep them in the database (only their hash is stored; no restart to add or revoke one). " +
			"As the service user, with this file:\n" +
			"  systemd-run --pipe --wait --quiet -p User=ethox -p EnvironmentFile=/etc/ethox/ethox.env \\\n" +
			"    /usr/local/bin/ethox token create --name ops --role admin      (prints the token once)\n" +
			"  (same with: token list | token revoke NAME)\n" +
			"Clients send \"Authorization: Bearer <token>\"; WebSocket clients put it in the connection_init payload."},
	{Name: "REQUIRE_AUTH_FOR_READS", Group: GroupSecurity, Type: TypeBool, Default: "false",
		Doc: "queries, subscriptions and downloads need a `reader` token too"},
	{Name: "TRUST_PROXY", Group: GroupSecurity, Type: TypeList, Default: "",
		Doc: "IPs/CIDRs of the TLS-terminating proxy: its `X-Forwarded-For` names the client (rate limits, logs), and in " +
			"production its `X-Forwarded-Proto: http` is redirected to https (except `/healthz` and `/readyz`)",
		ProdExample: "127.0.0.2",
		ProdNote: "deploy/nginx/ethox.conf connects from 127.0.0.2 (proxy_bind), so local clients on 127.0.0.1, e.g. " +
			"a Prometheus scraping http://127.0.0.1:8080/metrics, are not redirected."},
	{Name: "ENABLE_IDE", Group: GroupSecurity, Type: TypeBool, Default: "true", ProdDefault: "false",
		Doc: "the GraphiQL page at `/` (at `/graphiql` when `FRONTEND_DIR` serves a front end)"},
	{Name: "ENABLE_INTROSPECTION", Group: GroupSecurity, Type: TypeBool, Default: "true", ProdDefault: "false",
		Doc: "schema introspection"},
	{Name: "AUTH_FAILURE_LIMIT", Group: GroupSecurity, Type: TypeInt, Default: "20",
		Doc: "invalid tokens per minute per client IP; past it the IP's requests with a token get `RATE_LIMITED` " +
			"(HTTP 429 on downloads) until it refills, without a database lookup (0 = off)"},

	// Limits
	{Name: "MAX_QUERY_DEPTH", Group: GroupLimits, Type: TypeInt, Default: "15",
		Doc: "deepest field nesting of an operation (0 = no limit)"},
	{Name: "MAX_QUERY_COMPLEXITY", Group: GroupLimits, Type: TypeInt, Default: "200000",
		Doc: "cost of an operation: 1 per field, connections `first`/`last` × their selection (1,000 × without either)" +
			"; 0 = no limit"},
	{Name: "MAX_QUERY_TOKENS", Group: GroupLimits, Type: TypeInt, Default: "15000",
		Doc: "lexical tokens of a GraphQL document, counted while parsing, before validation; past it `BAD_USER_INPUT` " +
			"with `reason` `TOKEN_LIMIT_EXCEEDED` (0 = no limit)"},
	{Name: "RATE_LIMIT_MUTATIONS", Group: GroupLimits, Type: TypeInt, Default: "0", ProdDefault: "60",
		Doc: "mutations per minute per token (per client IP without one); refused ones get `RATE_LIMITED` (0 = off)"},
	{Name: "RATE_LIMIT_MUTATIONS_BURST", Group: GroupLimits, Type: TypeInt, Default: "20",
		Doc: "mutations a token or IP may send at once before `RATE_LIMIT_MUTATIONS` paces them (1 or more)"},
	{Name: "RATE_LIMIT_RUNS", Group: GroupLimits, Type: TypeInt, Default: "0", ProdDefault: "6",
		Doc: "`runSimulation` and `generateReport` (both spend LLM calls; their REST endpoints `/api/simulations/run/` " +
			"and `/api/simulations/report/` too) per minute per token or IP, on top of the mutation limit (0 = off)"},
	{Name: "RATE_LIMIT_RUNS_BURST", Group: GroupLimits, Type: TypeInt, Default: "3",
		Doc: "runs a token or IP may start at once before `RATE_LIMIT_RUNS` paces them (1 or more)"},
	{Name: "READ_HEADER_TIMEOUT", Group: GroupLimits, Type: TypeDuration, Default: "10s",
		Doc: "time to read a request's headers"},
	{Name: "READ_TIMEOUT", Group: GroupLimits, Type: TypeDuration, Default: "10m",
		Doc: "time to read a whole request, body included; spares WebSockets, and `/api/simulations/run/` once its body is read"},
	{Name: "WRITE_TIMEOUT", Group: GroupLimits, Type: TypeDuration, Default: "60s",
		Doc: "time to write a response; spares WebSockets, SSE subscriptions, `/exports/` downloads and " +
			"`/api/simulations/run/`, which waits for its run"},
	{Name: "IDLE_TIMEOUT", Group: GroupLimits, Type: TypeDuration, Default: "120s",
		Doc: "how long an idle keep-alive connection stays open"},
	{Name: "MAX_WS_CONNECTIONS", Group: GroupLimits, Type: TypeInt, Default: "1000",
		Doc: "open WebSocket connections; one more gets HTTP 503 (0 = no limit)"},
	{Name: "MAX_SSE_STREAMS", Group: GroupLimits, Type: TypeInt, Default: "1000",
		Doc: "open SSE streams (distinct ones, and graphql-sse single-connection reservations, open or not); one more gets " +
			"HTTP 503 `RATE_LIMITED` (0 = no limit)"},
	{Name: "MAX_SUBSCRIPTIONS_PER_CONNECTION", Group: GroupLimits, Type: TypeInt, Default: "100",
		Doc: "subscriptions one WebSocket (operations one graphql-sse single-connection stream) carries at once; one more " +
			"gets a `RATE_LIMITED` error on that subscription (HTTP 429 on the stream) (0 = no limit)"},
	{Name: "MAX_UPLOAD_BYTES", Group: GroupLimits, Type: TypeInt, Default: "268435456",
		Doc:      "largest multipart request (upload), 256 MiB by default, refused while reading",
		ProdNote: "nginx's client_max_body_size (256m in deploy/nginx/ethox.conf) must not be smaller."},
	{Name: "MAX_BODY_BYTES", Group: GroupLimits, Type: TypeInt, Default: "67108864",
		Doc: "largest JSON POST body (SSE requests too), 64 MiB by default, refused while reading"},
	{Name: "MAX_GENERATE_AGENTS", Group: GroupLimits, Type: TypeInt, Default: "100000",
		Doc: "largest generated population (`generateNetwork`, `ethox generate`): about 10 KB an agent, so 100,000 " +
			"agents allocate about 1 GB"},
	{Name: "MAX_CONCURRENT_IMPORTS", Group: GroupLimits, Type: TypeInt, Default: "2",
		Doc: "uploads and generations running at once in this process; one more is `RATE_LIMITED` (0 = no limit)"},
	{Name: "GRAPH_MEMORY_MB", Group: GroupLimits, Type: TypeInt, Default: "256",
		Doc: "memory for networks read back (stored networks never change): `graph`, `agent` and `/api/` reads are served " +
			"from it without a query, with their encoded and compressed responses; least recently read networks leave " +
			"first, and one network may take half of it at most (a 10k-agent / 50k-tie network takes about 45 MB with its " +
			"responses); larger ones are read from the database each time (0 = keep none)"},

	// Simulations
	{Name: "WORKERS", Group: GroupSimulation, Type: TypeInt, Default: "8",
		Doc:      "simulation jobs this process works at once (River workers); `0` = API only (`ethox worker` = jobs only)",
		ProdNote: "With 0, run `ethox worker` processes elsewhere against the same PostgreSQL."},
	{Name: "SIM_CHUNK_SIZE", Group: GroupSimulation, Type: TypeInt, Default: "32",
		Doc: "fewest agents per LLM job; a job takes 4 × the run's calls in flight when that is more (jobs stay short so several processes share a run)"},
	{Name: "SIM_FAIL_SHARE", Group: GroupSimulation, Type: TypeFloat, Default: "0.2",
		Doc: "a run fails when more than this share of its steps failed (above 0, at most 1)"},
	{Name: "SIM_MAX_AGENT_ROUNDS", Group: GroupSimulation, Type: TypeInt, Default: "10000000",
		Doc: "largest agents × (rounds+1) of a run"},
	{Name: "SIM_MAX_ROUNDS", Group: GroupSimulation, Type: TypeInt, Default: "50",
		Doc: "most rounds of a run"},
	{Name: "SIM_MAX_TRIGGER_CHARS", Group: GroupSimulation, Type: TypeInt, Default: "4000",
		Doc: "longest trigger message"},
	{Name: "SIM_ESTIMATE_ANSWER_TOKENS", Group: GroupSimulation, Type: TypeInt, Default: "60",
		Doc: "`estimateRun`: completion tokens assumed per LLM call (a JSON answer with an opinion of one to three sentences; at most the run's `maxOutputTokens`); the opinions later rounds show are taken to be that long"},
	{Name: "SIM_ESTIMATE_CALL_LATENCY", Group: GroupSimulation, Type: TypeDuration, Default: "1s",
		Doc: "`estimateRun`: time of one LLM call assumed for the expected wall time"},
	{Name: "SIM_PROGRESS_INTERVAL", Group: GroupSimulation, Type: TypeDuration, Default: "250ms",
		Doc: "at most one `simulationProgress` message per interval (the final state always)"},
	{Name: "JOB_TIMEOUT", Group: GroupSimulation, Type: TypeDuration, Default: "5m",
		Doc: "one job's time limit"},
	{Name: "JOB_RESCUE_AFTER", Group: GroupSimulation, Type: TypeDuration, Default: "6m",
		Doc: "a job \"running\" this long is taken over by another process even when its own is alive (a job that " +
			"ignores its time limit; a dead process's jobs are taken over after `WORKER_LEASE`); must exceed `JOB_TIMEOUT`"},
	{Name: "WORKER_LEASE", Group: GroupSimulation, Type: TypeDuration, Default: "15s",
		Doc: "a process that works jobs renews a liveness lease every third of this; once its lease lapses (or at once " +
			"when it exited on the same machine) its running jobs are re-queued for the others: a crashed process's run " +
			"resumes within about this long; at least 3s"},
	{Name: "JOB_POLL_INTERVAL", Group: GroupSimulation, Type: TypeDuration, Default: "50ms",
		Doc: "how often workers look for jobs"},
	{Name: "EXPERIMENT_MAX_REPLICATES", Group: GroupSimulation, Type: TypeInt, Default: "100",
		Doc: "most replicates (runs per arm) of an experiment (`createExperiment`)"},
	{Name: "EXPERIMENT_MAX_RUNS", Group: GroupSimulation, Type: TypeInt, Default: "500",
		Doc: "most runs of an experiment: arms × replicates"},
	{Name: "EXPERIMENT_MAX_CONCURRENT_RUNS", Group: GroupSimulation, Type: TypeInt, Default: "4",
		Doc: "most runs of one experiment in flight at once (its `concurrentRuns`, which defaults to this); the others wait their turn"},
	{Name: "EXPERIMENT_BOOTSTRAP_RESAMPLES", Group: GroupSimulation, Type: TypeInt, Default: "2000",
		Doc: "resamples of the bootstrap over agents that gives an experiment with one replicate its intervals (an experiment's `bootstrapResamples` overrides it)"},
	{Name: "EXPERIMENT_POLL_INTERVAL", Group: GroupSimulation, Type: TypeDuration, Default: "1s",
		Doc: "how often a live experiment's job checks its runs (budget, next runs, end); a run ending in the same process wakes it at once"},

	// LLM
	{Name: "OPENAI_API_KEY", Group: GroupLLM, Type: TypeString, Default: "",
		Doc: "OpenAI key; with neither a key nor a base URL only the classical engines run (default `FRIEDKIN_JOHNSEN`)"},
	{Name: "OPENAI_BASE_URL", Group: GroupLLM, Type: TypeString, Default: "",
		Doc: "any OpenAI-compatible server, e.g. `http://localhost:11434` (Ollama) or `http://localhost:8000/v1` " +
			"(vLLM); `/v1` is added when missing; empty = OpenAI"},
	{Name: "OPENAI_MODEL", Group: GroupLLM, Type: TypeString, Default: llm.DefaultModel,
		Doc: "model of the agents"},
	{Name: "OPENAI_ALLOWED_MODELS", Group: GroupLLM, Type: TypeList, Default: "",
		Doc: "comma-separated models a run may ask for besides `OPENAI_MODEL`, which is always allowed; empty = any; " +
			"a run asking for another model is `BAD_USER_INPUT`",
		ProdExample: "gpt-4.1-mini,gpt-4.1-nano",
		ProdNote:    "Any writer may name the model of a run: list the ones you pay for."},
	{Name: "OPENAI_REPORT_MODEL", Group: GroupLLM, Type: TypeString, Default: llm.DefaultReportModel,
		Doc: "model of the report narratives (`generateReport`)"},
	{Name: "OPENAI_TEMPERATURE", Group: GroupLLM, Type: TypeFloat, Default: floatText(llm.DefaultTemperature),
		Doc: "the agents' sampling temperature, 0 to 2 (the prototype's 0.4); a run's `temperature` overrides it"},
	{Name: "OPENAI_MAX_TOKENS", Group: GroupLLM, Type: TypeInt, Default: strconv.Itoa(llm.DefaultMaxTokens),
		Doc: "most completion tokens of an agent's answer (the prototype's 200; 0 = no limit sent); a run's " +
			"`maxOutputTokens` overrides it. Reasoning models (o1, o3, o4, gpt-5…) count their reasoning in it: " +
			"their runs send no limit unless the run gives one"},
	{Name: "OPENAI_REPORT_TEMPERATURE", Group: GroupLLM, Type: TypeFloat, Default: floatText(llm.DefaultReportTemperature),
		Doc: "sampling temperature of the report narratives, 0 to 2 (the prototype's supervisor: 0.3)"},
	{Name: "OPENAI_REPORT_MAX_TOKENS", Group: GroupLLM, Type: TypeInt, Default: strconv.Itoa(llm.DefaultReportMaxTokens),
		Doc: "most completion tokens of a report narrative (0 = no limit sent)"},
	{Name: "OPENAI_SEED", Group: GroupLLM, Type: TypeInt, Default: "", DefaultText: "none sent",
		Doc: "sampling seed"},
	{Name: "LLM_CONCURRENCY", Group: GroupLLM, Type: TypeInt, Default: strconv.Itoa(llm.DefaultConcurrency),
		Doc: "LLM calls in flight per process (and per run, unless the run says); 0 = the default"},
	{Name: "LLM_REQUESTS_PER_MINUTE", Group: GroupLLM, Type: TypeInt, Default: "0",
		Doc:      "client-side limit of LLM requests per minute (0 = none)",
		ProdNote: "Set it to your provider account's limit."},
	{Name: "LLM_TOKENS_PER_MINUTE", Group: GroupLLM, Type: TypeInt, Default: "0",
		Doc:      "client-side limit of LLM tokens per minute (0 = none)",
		ProdNote: "Set it to your provider account's limit."},
	{Name: "LLM_CALL_TIMEOUT", Group: GroupLLM, Type: TypeDuration, Default: seconds(llm.DefaultCallTimeout),
		Doc: "time limit of one attempt: a duration such as `45s` or a number of seconds"},
	{Name: "LLM_MAX_RETRIES", Group: GroupLLM, Type: TypeInt, Default: strconv.Itoa(llm.DefaultMaxRetries),
		Doc: "retries on 429, 5xx and timeouts, with jittered backoff honouring Retry-After; quota errors are never " +
			"retried (0 = none)"},
	{Name: "LLM_CACHE_MAX_ENTRIES", Group: GroupLLM, Type: TypeInt, Default: "100000",
		Doc: "most answers the opt-in answer cache (`runSimulation(input: {cache: true})`) keeps; beyond it the earliest stored are deleted first"},
	{Name: "LLM_CACHE_TTL", Group: GroupLLM, Type: TypeDuration, Default: "720h",
		Doc: "how long a cached answer may be reused (then it is deleted)"},
	{Name: "LLM_PRICES", Group: GroupLLM, Type: TypeString, Default: "", DefaultText: "built-in list prices",
		Doc: "`model=prompt/completion` USD per million tokens, e.g. `gpt-4.1-mini=0.4/1.6,my-model=0/0`, merged over " +
			"the built-in list prices, for cost estimates and budgets; a run with `maxCostUSD` on a model without a " +
			"price is refused (its cost could not be counted)"},
}

// floatText writes a default number as it would be set ("0.4").
func floatText(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// seconds writes d as a whole number of seconds ("60s", not "1m0s").
func seconds(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

var byName = func() map[string]*Setting {
	m := make(map[string]*Setting, len(Settings))
	for i := range Settings {
		m[Settings[i].Name] = &Settings[i]
	}
	return m
}()

// Lookup returns the named setting.
func Lookup(name string) (Setting, bool) {
	s, ok := byName[name]
	if !ok {
		return Setting{}, false
	}
	return *s, true
}
