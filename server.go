// Command ethox is the Ethox GraphQL API server for LLM-driven social simulation.
//
//	ethox            serve the API and work simulation jobs (same as `ethox serve`)
//	ethox worker     work simulation jobs only, no HTTP API
//	ethox generate   generate and store a synthetic population
//	ethox migrate    apply the embedded database migrations and exit
//	ethox token      create, list and revoke API tokens
//	ethox healthcheck   probe /readyz (container health checks)
//	ethox fakellm    a fake OpenAI-compatible LLM for development and demos (canned answers)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"riverqueue.com/riverui"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/config"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/frontend"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/reporting"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/telemetry"
)

const usage = `usage: ethox [command]

commands:
  serve     serve the GraphQL API and work simulation jobs (default; WORKERS=0 for API only)
  worker    work simulation jobs only, no HTTP API
  generate  generate and store a synthetic population:
            ethox generate --agents N [--seed S] [--profiles survey.csv] [--name NAME]
              [--profile-source SURVEY|BUILTIN|CSV] [--profile-sampling WITHOUT_REPLACEMENT|WITH_REPLACEMENT]
              [--neighborhood CHOSEN|UNDIRECTED] [--min-ties K] [--trait-variance-scale S]
  migrate   apply the embedded database migrations and exit
  healthcheck  exit 0 when the server on this host answers /readyz (for container health checks;
            reads HOST/PORT; --url to probe another address)
  fakellm   serve a FAKE OpenAI-compatible LLM for development and demos: canned answers, no key,
            no cost; then run the server with OPENAI_BASE_URL=http://127.0.0.1:8081
            ethox fakellm [-addr 127.0.0.1:8081] [-latency 200ms] [-faults 429=0.05,500=0.05,malformed=0.05]
  token     manage API tokens stored in the database:
            ethox token create --name NAME --role reader|writer|admin   (prints the token once)
            ethox token list
            ethox token revoke NAME

Settings come from the environment and an optional .env file; see .env.example.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ethox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx)
	case "worker":
		return worker(ctx)
	case "generate":
		return generate(ctx, args[1:])
	case "migrate":
		return migrate(ctx)
	case "token":
		return token(ctx, args[1:])
	case "healthcheck":
		return healthcheck(ctx, args[1:])
	case "fakellm":
		return fakeLLM(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Production() {
		return slog.New(api.LogHandler{Handler: slog.NewJSONHandler(os.Stderr, opts)})
	}
	return slog.New(api.LogHandler{Handler: slog.NewTextHandler(os.Stderr, opts)})
}

func openDB(ctx context.Context, cfg config.Config) (*database.DB, error) {
	return database.Open(ctx, cfg.DatabaseURL, database.PoolConfig{
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLife,
		ConnMaxIdleTime: cfg.DBConnMaxIdle,
	})
}

// openMigrated loads the settings, opens the database and applies the migrations.
func openMigrated(ctx context.Context) (config.Config, *slog.Logger, *database.DB, error) {
	cfg, err := config.Load()
	if err != nil {
		return cfg, nil, nil, err
	}
	log := newLogger(cfg)
	slog.SetDefault(log)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	st, err := db.Migrate()
	if err != nil {
		db.Close()
		return cfg, nil, nil, err
	}
	log.Info("database ready", "dialect", db.Dialect, "migration", st.Current)
	return cfg, log, db, nil
}

func migrate(ctx context.Context) error {
	_, _, db, err := openMigrated(ctx)
	if err != nil {
		return err
	}
	return db.Close()
}

// start opens and migrates the database and builds the simulation service.
func start(ctx context.Context, workers func(config.Config) int) (config.Config, *slog.Logger, *database.DB, *simulation.Service, *experiment.Service, error) {
	cfg, log, db, err := openMigrated(ctx)
	if err != nil {
		return cfg, nil, nil, nil, nil, err
	}
	llmCfg := cfg.LLM
	var llmClient *llm.Client
	if llmCfg.Configured() {
		if llmClient, err = llm.New(llmCfg); err != nil {
			db.Close()
			return cfg, nil, nil, nil, nil, err
		}
		log.Info("LLM configured", "model", llmClient.Config().Model, "base_url", llmClient.Config().BaseURL)
	} else {
		log.Info("no LLM configured (OPENAI_API_KEY or OPENAI_BASE_URL): classical engines only")
	}
	graphs := graphstore.New(db)
	graphs.SetLimits(graphstore.Limits{MaxGenerateAgents: cfg.MaxGenerateAgents, Concurrent: cfg.MaxConcurrentImports})
	graphs.ServeFromMemory(ctx, int64(cfg.GraphMemoryMB)<<20, log)
	exps := experiment.New(db, experiment.Config{MaxReplicates: cfg.Experiments.MaxReplicates, MaxRuns: cfg.Experiments.MaxRuns,
		MaxConcurrentRuns: cfg.Experiments.MaxConcurrentRuns, BootstrapResamples: cfg.Experiments.BootstrapResamples,
		Poll: cfg.Experiments.Poll}, log)
	sims, err := simulation.New(db, llmClient, simulation.Config{
		AddWorkers:           exps.AddWorkers, // experiments' jobs
		Graphs:               graphs,
		Workers:              workers(cfg),
		ChunkSize:            cfg.SimChunkSize,
		FailShare:            cfg.SimFailShare,
		MaxAgentRounds:       cfg.SimMaxAgentRounds,
		MaxRounds:            cfg.SimMaxRounds,
		MaxTriggerChars:      cfg.SimMaxTriggerChars,
		DefaultConcurrency:   llmCfg.Concurrency,
		JobTimeout:           cfg.JobTimeout,
		RescueAfter:          cfg.JobRescueAfter,
		Lease:                cfg.WorkerLease,
		PollInterval:         cfg.JobPollInterval,
		EstimateAnswerTokens: cfg.EstimateAnswerTokens,
		EstimateLatency:      cfg.EstimateCallLatency,
		CacheMaxEntries:      cfg.LLMCacheMaxEntries,
		CacheTTL:             cfg.LLMCacheTTL,
	}, log)
	if err != nil {
		db.Close()
		return cfg, nil, nil, nil, nil, err
	}
	exps.Attach(sims)
	narrator := reporting.Narrator{Model: cfg.ReportModel, Temperature: cfg.ReportTemperature, MaxTokens: cfg.ReportMaxTokens}
	if llmClient != nil {
		exps.SetNarrator(reporting.New(db, llmClient, narrator))
	}
	return cfg, log, db, sims, exps, nil
}

func worker(ctx context.Context) error {
	cfg, log, db, sims, _, err := start(ctx, func(c config.Config) int { return max(c.Workers, 1) })
	if err != nil {
		return err
	}
	defer db.Close()
	if err := sims.Start(context.WithoutCancel(ctx)); err != nil { // stopped explicitly, after HTTP drains
		return err
	}
	log.Info("ethox worker running")
	<-ctx.Done()
	log.Info("stopping worker")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return sims.Stop(sctx)
}

func serve(ctx context.Context) error {
	cfg, log, db, sims, exps, err := start(ctx, func(c config.Config) int { return c.Workers })
	if err != nil {
		return err
	}
	defer db.Close()
	authn := auth.New(cfg.APITokens, db.Client, cfg.Production())
	if err := checkProduction(ctx, cfg, authn, db, log); err != nil {
		return err
	}
	var app http.Handler // FRONTEND_DIR: nil (not a typed nil) when unset
	if cfg.FrontendDir != "" {
		fe, err := frontend.New(cfg.FrontendDir, frontend.Options{Logger: log})
		if err != nil {
			return err
		}
		defer fe.Close()
		app = fe // frontend.New logs what it serves; GraphiQL moves to /graphiql
	}
	if !cfg.Production() && slices.Contains(cfg.CORSOrigins, "*") {
		log.Warn("CORS_ALLOWED_ORIGINS=*: any web page open in a browser may call this API, change data and open WebSockets; the default allows only pages on this machine")
	}
	if cfg.DemoData {
		if err := demoNetwork(ctx, db, log); err != nil {
			return fmt.Errorf("demo network: %w", err)
		}
	}
	if err := sims.Start(context.WithoutCancel(ctx)); err != nil { // stopped explicitly, after HTTP drains
		return err
	}

	metrics := telemetry.New(db.SQL)
	sims.SetMetrics(metrics)
	jobsUI, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(sims.Jobs(), nil),
		Logger:    log.With("component", "riverui"),
		Prefix:    "/riverui",
	})
	if err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	if err := jobsUI.Start(ctx); err != nil {
		return fmt.Errorf("river UI: %w", err)
	}
	shutdown := make(chan struct{})
	narrator := reporting.Narrator{Model: cfg.ReportModel, Temperature: cfg.ReportTemperature, MaxTokens: cfg.ReportMaxTokens}
	h := api.NewHandler(api.Options{
		Metrics:          metrics,
		DB:               db,
		Client:           db.Client,
		Graphs:           sims.Graphs(),
		Sims:             sims,
		Reports:          reporting.New(db, sims.LLM(), narrator),
		Experiments:      exps,
		Logger:           log,
		CORSOrigins:      cfg.CORSOrigins,
		MaxUploadBytes:   cfg.MaxUploadBytes,
		MaxBodyBytes:     cfg.MaxBodyBytes,
		ProgressInterval: cfg.ProgressInterval,
		Ready:            func(ctx context.Context) error { return ready(ctx, db, sims) },

		Auth:                          authn,
		RequireAuthForReads:           cfg.RequireAuthForReads,
		Production:                    cfg.Production(),
		Proxies:                       api.Proxies(cfg.TrustProxy),
		DisableIntrospection:          !cfg.EnableIntrospection,
		DisableIDE:                    !cfg.EnableIDE,
		MaxDepth:                      cfg.MaxQueryDepth,
		MaxTokens:                     cfg.MaxQueryTokens,
		MaxComplexity:                 cfg.MaxQueryComplexity,
		MutationRate:                  api.RateLimit{PerMinute: cfg.RateMutations, Burst: cfg.RateMutationsBurst},
		RunRate:                       api.RateLimit{PerMinute: cfg.RateRuns, Burst: cfg.RateRunsBurst},
		WriteTimeout:                  cfg.WriteTimeout,
		ReadTimeout:                   cfg.ReadTimeout,
		Shutdown:                      shutdown,
		MaxWSConnections:              cfg.MaxWSConnections,
		MaxSSEStreams:                 cfg.MaxSSEStreams,
		MaxSubscriptionsPerConnection: cfg.MaxSubsPerConn,
		AuthFailures:                  api.RateLimit{PerMinute: cfg.AuthFailureLimit, Burst: cfg.AuthFailureLimit},
		RiverUI:                       jobsUI,
		Frontend:                      app,
	})
	// Requests keep their context through a SIGTERM so Shutdown can drain
	// them; WebSocket and SSE streams are ended by closing shutdown instead
	// (WebSockets with a close frame).
	connCtx := transport.AppendCloseReason(context.WithoutCancel(ctx), "server shutting down")
	srv := &http.Server{
		Addr:              cfg.Addr(),
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		// WriteTimeout stays 0 here: api applies it per request, sparing streams.
		BaseContext: func(net.Listener) context.Context { return connCtx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(shutdown) })
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return err
	}
	log.Info("ethox listening", listenAttrs(ln.Addr())...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// In-flight steps finish or are resumed by another process (or the next start).
	return sims.Stop(sctx)
}

func ready(ctx context.Context, db *database.DB, sims *simulation.Service) error {
	if err := sims.WorkersReady(); err != nil {
		return err
	}
	if err := db.SQL.PingContext(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	st, err := db.MigrationStatus()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if !st.UpToDate() {
		return fmt.Errorf("migrations: at %d, want %d (dirty=%v)", st.Current, st.Latest, st.Dirty)
	}
	return nil
}

// checkProduction refuses to start a production server that is open to
// anyone, and says everything that is missing at once.
func checkProduction(ctx context.Context, cfg config.Config, authn *auth.Authenticator, db *database.DB, log *slog.Logger) error {
	if !cfg.Production() {
		return nil
	}
	var missing []string
	if !cfg.CORSExplicit {
		missing = append(missing, "CORS_ALLOWED_ORIGINS (comma-separated origins of your front ends, e.g. https://app.example.com)")
	}
	if err := authn.RequireAny(ctx); err != nil {
		missing = append(missing, "API tokens: "+strings.TrimPrefix(err.Error(), "no API tokens: "))
	}
	if len(missing) > 0 {
		return fmt.Errorf("ENV=production refuses to start without:\n  - %s", strings.Join(missing, "\n  - "))
	}
	if db.Dialect != dialect.Postgres {
		log.Warn("ENV=production ON SQLITE: one file on this host, one writer at a time, no second process; set DATABASE_URL=postgres://… for production")
	}
	if slices.Contains(cfg.CORSOrigins, "*") {
		log.Warn("ENV=production with CORS_ALLOWED_ORIGINS=*: any web page may call this API from a browser")
	}
	return nil
}

// listenAttrs describe the address the listener really has (PORT=0 shows the
// port it got): addr as bound, a URL that reaches it from this machine, and
// whether other machines can reach it too.
func listenAttrs(a net.Addr) []any {
	addr := a.String()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []any{"addr", addr, "graphql", "/query"}
	}
	ip := net.ParseIP(host)
	reach := "other machines too"
	switch {
	case ip != nil && ip.IsLoopback():
		reach = "this machine only"
	case ip != nil && ip.IsUnspecified():
		reach = "every interface: other machines too"
		// A URL for this machine (Go binds 0.0.0.0 as the dual-stack [::]);
		// addr says what is bound.
		host = "127.0.0.1"
	}
	return []any{"addr", addr, "url", "http://" + net.JoinHostPort(host, port) + "/", "graphql", "/query", "reachable_from", reach}
}

// Demo population: fixed, so every fresh install shows the same network.
const (
	demoAgents = 200
	demoSeed   = 2017
)

// demoNetwork gives an empty database one demo network, so the IDE has data
// from the first minute (DEMO_DATA=false turns it off).
func demoNetwork(ctx context.Context, db *database.DB, log *slog.Logger) error {
	n, err := db.Client.Network.Query().Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	seed := uint64(demoSeed)
	net, err := graphstore.New(db).Generate(ctx, graphstore.GenerateOptions{NumAgents: demoAgents, Seed: &seed,
		Name: "Demo population (200 agents)"})
	if err != nil {
		return err
	}
	log.Info("created a demo network", "id", net.ID, "agents", net.NodeCount, "ties", net.EdgeCount)
	return nil
}

func generate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	agents := fs.Int("agents", 0, "population size, 1..1,000,000 (required)")
	seed := fs.Int64("seed", -1, "seed (default: random, recorded on the network)")
	profiles := fs.String("profiles", "", "survey CSV to draw profiles from (default: the prototype's voter survey, built in)")
	name := fs.String("name", "", "network name")
	source := fs.String("profile-source", "", "SURVEY, BUILTIN or CSV (default: CSV with --profiles, else SURVEY)")
	sampling := fs.String("profile-sampling", "", "WITHOUT_REPLACEMENT (default) or WITH_REPLACEMENT")
	neighborhood := fs.String("neighborhood", "", "CHOSEN (default: directed choice ties) or UNDIRECTED")
	minTies := fs.Int("min-ties", 0, "the fewest agents an agent chooses, 0..100")
	scale := fs.Float64("trait-variance-scale", 0, "facet deviations' scale, in (0, 2] (default 0.65)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *agents <= 0 {
		return errors.New("generate: --agents N is required")
	}
	_, log, db, err := openMigrated(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	o := graphstore.GenerateOptions{NumAgents: *agents, Name: *name, ProfileSource: population.ProfileSource(*source),
		ProfileSampling: population.ProfileSampling(*sampling), Neighbourhood: population.Neighbourhood(*neighborhood),
		MinTies: *minTies, TraitVarianceScale: *scale}
	if *seed >= 0 {
		s := uint64(*seed)
		o.Seed = &s
	}
	if *profiles != "" {
		f, err := os.Open(*profiles)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Profiles = f
	}
	start := time.Now()
	net, err := graphstore.New(db).Generate(ctx, o)
	if err != nil {
		return err
	}
	log.Info("generated network", "id", net.ID, "name", net.Name, "agents", net.NodeCount, "ties", net.EdgeCount,
		"seed", net.Params["seed"], "took", time.Since(start).Round(time.Millisecond))
	fmt.Println(net.ID)
	return nil
}

func token(ctx context.Context, args []string) error {
	const tokenUsage = "usage: ethox token create --name NAME --role reader|writer|admin | list | revoke NAME"
	if len(args) == 0 {
		return errors.New(tokenUsage)
	}
	_, _, db, err := openMigrated(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens := auth.Tokens{Client: db.Client}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("token create", flag.ContinueOnError)
		name := fs.String("name", "", "a name for the token, e.g. the client using it (required)")
		roleName := fs.String("role", "reader", "reader, writer or admin")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		role, err := auth.ParseRole(*roleName)
		if err != nil {
			return err
		}
		t, err := tokens.Create(ctx, *name, role)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "created token %q with role %s; it is shown this once:\n", *name, role)
		fmt.Println(t)
		return nil
	case "list":
		list, err := tokens.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tREVOKED")
		for _, t := range list {
			revoked := "-"
			if t.RevokedAt != nil {
				revoked = t.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return errors.New(tokenUsage)
		}
		if err := tokens.Revoke(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "revoked token %q\n", args[1])
		return nil
	}
	return errors.New(tokenUsage)
}

// healthcheck probes /readyz, so distroless images (no shell, no curl) can
// have a container health check.
func healthcheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "readiness URL (default: http://127.0.0.1:$PORT/readyz)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		cfg, err := config.LoadEnvironment() // no .env and no database: only the port is needed
		if err != nil {
			return err
		}
		*url = fmt.Sprintf("http://127.0.0.1:%d/readyz", cfg.Port)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", *url, resp.Status)
	}
	return nil
}

// fakeLLM serves internal/fakellm, the OpenAI-compatible stand-in of the
// tests, so the LLM engine can be tried without a key and without cost. It
// needs no database and no settings.
func fakeLLM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fakellm", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	latency := fs.Duration("latency", 200*time.Millisecond, "delay of every answer, like a real model's")
	faultSpec := fs.String("faults", "", `share of calls answered with a fault, e.g. "429=0.05,500=0.05,malformed=0.05" (soak tests)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakellm: unexpected argument %q", fs.Arg(0))
	}
	if *latency < 0 {
		return errors.New("fakellm: -latency must not be negative")
	}
	faults, err := fakellm.ParseFaults(*faultSpec)
	if err != nil {
		return fmt.Errorf("fakellm: -faults: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		base = fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	log.Warn("FAKE LLM: every answer is canned (a hash of the prompt), not written by a model; for development and demos only",
		"addr", ln.Addr().String(), "latency", *latency)
	log.Info("ethox fakellm listening: start the server with this base URL (no key needed)",
		"OPENAI_BASE_URL", base, "endpoint", base+"/v1/chat/completions")
	h := fakellm.NewHandler(*latency, false)
	if faults != (fakellm.Faults{}) {
		h.SetFaults(faults)
		log.Warn("fakellm: injecting faults", "429", faults.RateLimited, "500", faults.ServerError, "malformed", faults.Malformed)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
