// Package api assembles the HTTP surface: the GraphQL endpoint with its
// transports, error codes and limits, CORS, health and the IDE.
package api

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/ide"
	"github.com/ethox/ethox/reporting"
	"github.com/ethox/ethox/resolvers"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/telemetry"
)

// Options are the dependencies and limits of the HTTP surface.
type Options struct {
	DB             *database.DB // for streamed exports
	Client         *ent.Client
	Graphs         *graphstore.Store
	Sims           *simulation.Service
	Reports        *reporting.Service
	Logger         *slog.Logger
	CORSOrigins    []string // "*" allows any origin
	MaxUploadBytes int64    // multipart requests, enforced while reading
	MaxBodyBytes   int64    // JSON POST bodies, enforced while reading
	Ready          func(ctx context.Context) error
	// Metrics, when set, are served at /metrics and fed by every request.
	Metrics *telemetry.Metrics
	// ProgressInterval throttles simulationProgress messages (default 250ms).
	ProgressInterval time.Duration
	// DisableGraphFastPath sends whole-graph queries through gqlgen's executor
	// too (tests compare the two).
	DisableGraphFastPath bool
}

// NewHandler returns the server's root handler.
func NewHandler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("/query", credentials(NewGraphQL(o)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := o.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if o.DB != nil && o.Graphs != nil {
		mountExports(mux, o.DB, o.Graphs)
		mountCharts(mux, o.DB)
	}
	ide.Mount(mux, "/query", "Ethox")
	var h http.Handler = mux
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics.Handler())
		h = o.Metrics.Instrument(mux)
	}
	return corsHandler(o.CORSOrigins).Handler(h)
}

// NewGraphQL builds the GraphQL handler with explicit transports (gqlgen's
// default server is deprecated and caps uploads at 32 MiB).
func NewGraphQL(o Options) http.Handler {
	srv := handler.New(resolvers.NewSchema(&resolvers.Resolver{Client: o.Client, Graphs: o.Graphs, Sims: o.Sims, Reports: o.Reports, ProgressInterval: cmp.Or(o.ProgressInterval, 250*time.Millisecond)}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		// A peer that stops answering pings cancels its subscriptions.
		PingPongInterval: 15 * time.Second,
		InitTimeout:      30 * time.Second,
		InitFunc:         wsInit,
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocketAcceptOptions(o.CORSOrigins),
		},
	})
	srv.AddTransport(transport.Options{})
	// SSE before POST: both accept a JSON POST, SSE only with Accept: text/event-stream.
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(codedTransport{Transport: transport.GET{}})
	srv.AddTransport(codedTransport{Transport: jsonPOST{}, limit: o.MaxBodyBytes, name: "MAX_BODY_BYTES"})
	srv.AddTransport(codedTransport{
		Transport: transport.MultipartForm{
			// The limit is enforced by codedTransport while reading; MaxMemory only
			// decides when gqlgen spools a file part to disk.
			MaxUploadSize: o.MaxUploadBytes + 1,
			MaxMemory:     32 << 20,
		},
		limit: o.MaxUploadBytes,
		name:  "MAX_UPLOAD_BYTES",
	})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	if o.Metrics != nil {
		srv.AroundOperations(operationMetrics(o.Metrics)) // outermost: it also sees the fast path
	}
	if !o.DisableGraphFastPath && o.Graphs != nil {
		srv.AroundOperations(fastGraph(o.Graphs))
	}
	srv.SetErrorPresenter(errorPresenter(o.Logger))
	srv.SetRecoverFunc(recoverFunc(o.Logger))
	return srv
}

func corsHandler(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "Accept", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"},
		AllowCredentials: !slices.Contains(origins, "*"),
		MaxAge:           600,
	})
}

func websocketAcceptOptions(origins []string) websocket.AcceptOptions {
	if slices.Contains(origins, "*") {
		return websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	// coder/websocket matches host patterns, without the scheme.
	patterns := make([]string, 0, len(origins))
	for _, o := range origins {
		if u, err := parseOrigin(o); err == nil {
			patterns = append(patterns, u)
		}
	}
	return websocket.AcceptOptions{OriginPatterns: patterns}
}
