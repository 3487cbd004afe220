// Package api assembles the HTTP surface: the GraphQL endpoint with its
// transports, error codes and limits, CORS, health and the IDE.
package api

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/ide"
	"github.com/ethox/ethox/internal/origins"
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
	Experiments    *experiment.Service // nil: experiments are not served
	Logger         *slog.Logger
	CORSOrigins    []string // allowed browser origins (CORS, cross-site requests, WebSockets); syntax in internal/origins
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

	// Auth checks tokens and roles; nil leaves the API open (development
	// without tokens behaves the same way).
	Auth *auth.Authenticator
	// RequireAuthForReads makes queries and subscriptions need a reader token.
	RequireAuthForReads bool
	// Production turns on the security headers and, with Proxies, the HTTPS redirect.
	Production bool
	// Proxies are the trusted TLS-terminating proxies (TRUST_PROXY).
	Proxies              Proxies
	DisableIntrospection bool
	DisableIDE           bool
	// MaxDepth and MaxComplexity bound every operation; 0 means no limit.
	MaxDepth      int
	MaxComplexity int
	// MaxTokens bounds a document's size while it is parsed, before any
	// validation (whose cost can grow with its square); 0 means no limit.
	MaxTokens int
	// MutationRate limits mutations per token (or IP, without one); RunRate
	// limits runSimulation on top of it.
	MutationRate RateLimit
	RunRate      RateLimit
	// WriteTimeout bounds writing a response, except for streams; ReadTimeout
	// bounds reading a request, except for WebSockets.
	WriteTimeout time.Duration
	ReadTimeout  time.Duration
	// Shutdown, when closed, ends WebSocket and SSE streams (server shutdown).
	Shutdown <-chan struct{}
	// SSEKeepAlive is how often an SSE stream gets a comment line, counted
	// from its start (default 15s; negative turns it off).
	SSEKeepAlive time.Duration
	// SSEReservationTimeout is how long a graphql-sse single-connection
	// reservation waits for its stream (default 30s); MaxSSEReservationsPerClient
	// caps one client's reservations, open or not (default 16).
	SSEReservationTimeout       time.Duration
	MaxSSEReservationsPerClient int
	// MaxWSConnections caps open WebSocket connections, MaxSSEStreams open
	// SSE subscriptions, and MaxSubscriptionsPerConnection the subscriptions
	// one WebSocket carries at once; 0 means no cap.
	MaxWSConnections              int
	MaxSSEStreams                 int
	MaxSubscriptionsPerConnection int
	// WSInitTimeout is how long a WebSocket may wait before connection_init
	// (default 10s); WSPingInterval how often a graphql-transport-ws socket is
	// pinged (default 15s; a peer silent for two intervals is dropped).
	WSInitTimeout  time.Duration
	WSPingInterval time.Duration
	// RiverUI, when set, is served at /riverui/ to admin tokens only.
	RiverUI http.Handler
	// Frontend, when set, is a built single-page app (FRONTEND_DIR) served at
	// every path no route of the API takes; GraphiQL then moves to GraphiQLPath.
	Frontend http.Handler
	// AuthFailures limits invalid tokens per client IP (0: no limit).
	AuthFailures RateLimit

	checker checker     // Auth behind the failure limit, shared by every entry point
	limits  *rateLimits // mutation and run limits, shared by GraphQL and the REST API
}

// NewHandler returns the server's root handler.
func NewHandler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Auth == nil {
		o.Auth = auth.New(nil, nil, false)
	}
	o.checker = throttleAuth(o.Auth, o.AuthFailures)
	o.limits = newRateLimits(o.MutationRate, o.RunRate)
	mux := http.NewServeMux()
	mux.Handle("/query", credentials(uploadsNeedWriter(o.checker, o.Logger,
		streamLimit(o.MaxWSConnections, isUpgrade, "WebSocket connections", "MAX_WS_CONNECTIONS",
			streamLimit(o.MaxSSEStreams, isSSE, "SSE subscriptions", "MAX_SSE_STREAMS",
				NewGraphQL(o))))))
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
				// The detail goes to the log; probes only need the status.
				o.Logger.WarnContext(r.Context(), "not ready", "error", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if o.DB != nil && o.Graphs != nil {
		readNeed := auth.None
		if o.RequireAuthForReads {
			readNeed = auth.Reader
		}
		reads := http.NewServeMux()
		mountExports(reads, o.DB, o.Graphs)
		mountCharts(reads, o.DB)
		if o.Experiments != nil {
			mountExperimentExports(reads, o.Experiments)
		}
		guarded := requireRole(o.checker, readNeed, "downloads", false, o.Logger, reads)
		mux.Handle("/exports/", guarded)
		mux.Handle("/reports/", guarded)
	}
	if o.Client != nil && o.Graphs != nil && o.Sims != nil && o.Reports != nil {
		mountLegacy(mux, o) // the prototype's REST API, under /api/
	}
	if o.RiverUI != nil {
		// Cross-origin protection: a browser's cached Basic credentials must not
		// let another site post to the UI's API (cancel, retry, delete jobs).
		mux.Handle("/riverui/", http.NewCrossOriginProtection().Handler(
			requireRole(o.checker, auth.Admin, "the job queue UI", true, o.Logger, o.RiverUI)))
	}
	if !o.DisableIDE {
		if o.Frontend != nil {
			ide.MountAt(mux, GraphiQLPath, "/query", "Ethox")
		} else {
			ide.Mount(mux, "/query", "Ethox")
		}
	}
	if o.Frontend != nil {
		mux.Handle("/", outsideAPI(o.Frontend)) // GET and HEAD; other methods get 405
	}
	// Cross-site form posts, no-cors fetches and WebSockets are refused before
	// any handler reads them, unless their origin is allowed.
	sameSite := refuseCrossSite(allowedOrigins(o.CORSOrigins, o.Logger), o.Logger, mux)
	var h http.Handler = deadlines(o.ReadTimeout, o.WriteTimeout, onShutdown(o.Shutdown, sameSite))
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics.Handler())
		h = o.Metrics.Instrument(h)
	}
	h = corsHandler(o.CORSOrigins).Handler(h)
	if o.Production {
		h = securityHeaders(h)
		if len(o.Proxies) > 0 {
			h = httpsRedirect(o.Proxies, h)
		}
	}
	return requestContext(o.Proxies, o.Logger, h)
}

// NewGraphQL builds the GraphQL handler with explicit transports (gqlgen's
// default server is deprecated and caps uploads at 32 MiB).
func NewGraphQL(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Auth == nil {
		o.Auth = auth.New(nil, nil, false)
	}
	if o.checker == nil {
		o.checker = throttleAuth(o.Auth, o.AuthFailures)
	}
	schema := resolvers.NewSchema(&resolvers.Resolver{Client: o.Client, Graphs: o.Graphs, Sims: o.Sims, Reports: o.Reports, Exps: o.Experiments, ProgressInterval: cmp.Or(o.ProgressInterval, 250*time.Millisecond)})
	srv := handler.New(schema)
	authenticate := wsAuthenticate(o.checker, o.RequireAuthForReads, o.Logger)
	acceptOpts := websocketAcceptOptions(o.CORSOrigins)
	srv.AddTransport(wsTransport{
		accept:       acceptOpts,
		initTimeout:  cmp.Or(o.WSInitTimeout, 10*time.Second),
		pingInterval: cmp.Or(o.WSPingInterval, 15*time.Second),
		readLimit:    1 << 20, // gqlgen's default for the legacy protocol
		authenticate: authenticate,
		log:          o.Logger,
		legacy: transport.Websocket{
			KeepAlivePingInterval: 10 * time.Second,
			InitTimeout:           cmp.Or(o.WSInitTimeout, 10*time.Second),
			InitFunc:              wsInit(authenticate),
			Implementation:        legacyImplementation{transport.CoderWebsocketImplementation{AcceptOptions: acceptOpts}},
		},
	})
	srv.AddTransport(transport.Options{})
	// SSE before GET and POST: it takes those with Accept: text/event-stream
	// or a single-connection stream token.
	sse := newSSETransport(o)
	srv.AddTransport(codedTransport{Transport: sse, limit: o.MaxBodyBytes, name: "MAX_BODY_BYTES"})
	srv.AddTransport(codedTransport{Transport: jsonGET{}})
	srv.AddTransport(codedTransport{Transport: jsonPOST{}, limit: o.MaxBodyBytes, name: "MAX_BODY_BYTES"})
	srv.AddTransport(codedTransport{
		// The limit is enforced by codedTransport while reading; maxMemory only
		// decides when files are spooled to disk.
		Transport: multipartForm{maxMemory: 32 << 20, maxJSON: o.MaxBodyBytes, limit: o.MaxUploadBytes},
		limit:     o.MaxUploadBytes,
		name:      "MAX_UPLOAD_BYTES",
		spool:     true,
	})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(o.MaxTokens)
	// Suggestions ("Did you mean …") would reveal the schema that disabled
	// introspection hides.
	srv.SetDisableSuggestion(o.DisableIntrospection)
	srv.SetValidationRulesFn(cappedRules(o.DisableIntrospection))
	if !o.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(depthLimit{max: o.MaxDepth}) // also caps fragment expansion, before the complexity walk
	if o.MaxComplexity > 0 {
		srv.Use(extension.FixedComplexityLimit(o.MaxComplexity))
	}
	if o.Metrics != nil {
		srv.AroundOperations(operationMetrics(o.Metrics)) // outermost: it also sees the fast path
	}
	// Before the fast path, so whole-graph reads are checked too.
	srv.AroundOperations(authorize(o.checker, o.RequireAuthForReads, o.rateLimits(), o.Logger))
	srv.AroundOperations(subscriptionLimit(o.MaxSubscriptionsPerConnection))
	if !o.DisableGraphFastPath && o.Graphs != nil {
		// Panics when the schema has a graph field the fast path cannot write.
		srv.AroundOperations(mustFastGraph(schema.Schema(), o.Graphs, o.Logger, o.Metrics))
	}
	srv.SetErrorPresenter(errorPresenter(o.Logger))
	srv.SetRecoverFunc(recoverFunc(o.Logger))
	// What no transport serves is answered by specHTTP; HEAD never reaches
	// gqlgen's Options transport, which answers it without Allow.
	return specHTTP{next: srv, transports: []graphql.Transport{
		wsTransport{}, transport.Options{}, sse, jsonGET{}, jsonPOST{}, multipartForm{},
	}}
}

func corsHandler(allowed []string) *cors.Cors {
	policy, _ := origins.Parse(allowed) // bad entries are logged by NewHandler
	opts := cors.Options{
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "Apollo-Require-Preflight", "X-Apollo-Operation-Name",
			"X-GraphQL-Event-Stream-Token", // graphql-sse single connection mode
			// Apollo Client sends these when its name and version options are set.
			"Apollographql-Client-Name", "Apollographql-Client-Version"},
		AllowCredentials: !policy.Any,
		MaxAge:           600,
	}
	if policy.Any {
		opts.AllowedOrigins = []string{"*"}
	} else {
		// The same matcher as cross-site requests and WebSockets (never rs/cors's
		// "all" when the list is empty).
		opts.AllowOriginFunc = policy.Allows
	}
	return cors.New(opts)
}

func websocketAcceptOptions(allowed []string) websocket.AcceptOptions {
	policy, _ := origins.Parse(allowed)
	if policy.Any {
		return websocket.AcceptOptions{InsecureSkipVerify: true}
	}
	// NewHandler's refuseCrossSite decides first; this matches scheme://host[:port]
	// too, for NewGraphQL used on its own.
	return websocket.AcceptOptions{OriginPatterns: wsOriginPatterns(policy)}
}
