// Command ethox is the Ethox GraphQL API server for LLM-driven social simulation.
//
//	ethox            serve the API (same as `ethox serve`)
//	ethox migrate    apply the embedded database migrations and exit
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/config"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/graphstore"
)

const usage = `usage: ethox [command]

commands:
  serve     serve the GraphQL API (default)
  migrate   apply the embedded database migrations and exit

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
	case "migrate":
		return migrate(ctx)
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
	if cfg.Env == "production" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func openDB(ctx context.Context, cfg config.Config) (*database.DB, error) {
	return database.Open(ctx, cfg.DatabaseURL, database.PoolConfig{
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLife,
		ConnMaxIdleTime: cfg.DBConnMaxIdle,
	})
}

func migrate(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.Migrate()
	if err != nil {
		return err
	}
	log.Info("database migrated", "dialect", db.Dialect, "version", st.Current)
	return nil
}

func serve(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	slog.SetDefault(log)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.Migrate()
	if err != nil {
		return err
	}
	log.Info("database ready", "dialect", db.Dialect, "migration", st.Current)

	h := api.NewHandler(api.Options{
		Client:         db.Client,
		Graphs:         graphstore.New(db),
		Logger:         log,
		CORSOrigins:    cfg.CORSOrigins,
		MaxUploadBytes: cfg.MaxUploadBytes,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Ready:          func(ctx context.Context) error { return ready(ctx, db) },
	})
	srv := &http.Server{
		Addr:              cfg.Addr(),
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return err
	}
	log.Info("ethox listening", "url", "http://"+displayAddr(ln.Addr().String())+"/", "graphql", "/query")
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
	return nil
}

func ready(ctx context.Context, db *database.DB) error {
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

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, "0.0.0.0:") || strings.HasPrefix(addr, "[::]:") {
		return "localhost" + addr[strings.LastIndex(addr, ":"):]
	}
	return addr
}
