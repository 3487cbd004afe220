// Package legacyapi serves the REST API of the Django/DRF prototype, so that
// its React front end ("Society Explorer") runs on Ethox unchanged:
//
//	GET  /api/graph/                  the default network with its metadata
//	GET  /api/nodes/<agent_id>/       one agent and its neighbours
//	POST /api/graph/upload/           a network.json upload (multipart, form key "file")
//	POST /api/simulations/run/        a fresh population, the LLM reaction, one influence round; waits for the run
//	POST /api/simulations/report/     a new report of a run
//	GET  /api/simulations/report/     the latest stored report of a run (?simulation_id=)
//
// with the prototype's exact request and response shapes and its errors, JSON
// {"detail": "…"}. It is a thin layer over the services the GraphQL resolvers
// use (graphstore, simulation, reporting): it decodes a request, calls them,
// and writes their answer in the old shape; it holds no logic of its own.
// Tokens, roles and rate limits are the GraphQL API's, through Guard. GraphQL
// stays the primary interface.
package legacyapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/httpenc"
	"github.com/ethox/ethox/reporting"
	"github.com/ethox/ethox/simulation"
)

// The routes Mount registers, as http.ServeMux patterns; request metrics are
// labelled with them. Prefix catches every other path under /api/ with a JSON
// 404 (or 405, or a redirect to the path with its trailing slash).
const (
	RouteGraph        = "GET /api/graph/{$}"
	RouteNode         = "GET /api/nodes/{agent_id}/{$}"
	RouteUpload       = "POST /api/graph/upload/{$}"
	RouteRun          = "POST /api/simulations/run/{$}"
	RouteReport       = "POST /api/simulations/report/{$}"
	RouteLatestReport = "GET /api/simulations/report/{$}"
	Prefix            = "/api/"
)

// Guard decides, before a request's body is read, whether its credentials
// allow what it asks, and charges the rate limits. The api package implements
// it with the GraphQL API's tokens, roles and limits, so that each endpoint
// costs what its GraphQL equivalent costs.
type Guard interface {
	// Allow checks r for mutation, the GraphQL mutation the endpoint stands
	// for ("uploadGraph", "runSimulation", "generateReport"), or for a query
	// when mutation is "". A refusal is an *apperr.Error (UNAUTHENTICATED,
	// FORBIDDEN or RATE_LIMITED); a rate-limit refusal may also have a
	// RetryAfter() time.Duration method.
	Allow(r *http.Request, mutation string) error
}

// Options are the services the endpoints call and the limits they apply.
type Options struct {
	Client  *ent.Client
	Graphs  *graphstore.Store
	Sims    *simulation.Service
	Reports *reporting.Service
	// Guard checks tokens and rate limits; nil allows everything.
	Guard Guard
	// MaxUploadBytes bounds an upload's whole multipart body and MaxBodyBytes a
	// JSON body, both enforced while reading (0: no limit).
	MaxUploadBytes int64
	MaxBodyBytes   int64
	Logger         *slog.Logger
	// Shutdown, when closed, ends the wait of /api/simulations/run/ requests
	// (their runs go on), so that a server shutdown is not held up by them.
	Shutdown <-chan struct{}
	// ProgressInterval is how often a waiting run request rereads its run at
	// most (default 200ms).
	ProgressInterval time.Duration
}

// Mount registers the endpoints on mux.
func Mount(mux *http.ServeMux, o Options) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 200 * time.Millisecond
	}
	h := &handler{o: o, mux: mux}
	mux.HandleFunc(RouteGraph, h.graph)
	mux.HandleFunc(RouteNode, h.node)
	mux.HandleFunc(RouteUpload, h.upload)
	mux.HandleFunc(RouteRun, h.run)
	mux.HandleFunc(RouteReport, h.report)
	mux.HandleFunc(RouteLatestReport, h.latestReport)
	mux.HandleFunc(Prefix, h.unknown)
}

type handler struct {
	o   Options
	mux *http.ServeMux
}

// The messages of the prototype, which its front end shows.
const (
	msgNotFound  = "Not found."
	msgNoFile    = "No file provided. Use form key 'file'."
	msgUploaded  = "Graph uploaded successfully."
	msgNotObject = "Request body must be JSON object."
	msgNoRun     = "Simulation not found or expired."
	msgBadRunID  = "Missing or invalid 'simulation_id'."
	msgInternal  = "internal error"
)

// ---- requests ----

// allow runs the Guard; a refusal is answered and false returned.
func (h *handler) allow(w http.ResponseWriter, r *http.Request, mutation string) bool {
	if h.o.Guard == nil {
		return true
	}
	if err := h.o.Guard.Allow(r, mutation); err != nil {
		h.fail(w, r, err)
		return false
	}
	return true
}

// readObject reads a JSON object body within MaxBodyBytes. A body that is
// not a JSON object gets the prototype's fixed message: bodies are never echoed.
func (h *handler) readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	limit := h.o.MaxBodyBytes
	if limit > 0 {
		if r.ContentLength > limit {
			writeDetail(w, http.StatusRequestEntityTooLarge, tooLarge("MAX_BODY_BYTES", limit))
			return nil, false
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	dec := json.NewDecoder(r.Body)
	var obj map[string]json.RawMessage
	err := dec.Decode(&obj)
	if err == nil && dec.More() {
		err = errors.New("data after the object")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeDetail(w, http.StatusRequestEntityTooLarge, tooLarge("MAX_BODY_BYTES", limit))
		return nil, false
	case err != nil || obj == nil:
		writeDetail(w, http.StatusBadRequest, msgNotObject)
		return nil, false
	}
	return obj, true
}

func tooLarge(setting string, limit int64) string {
	return "request body exceeds " + setting + " (" + strconv.FormatInt(limit, 10) + " bytes)"
}

// present reports whether an object has key with a value other than null.
func present(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	raw, ok := obj[key]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// intField reads a positive integer field the way the prototype's int() did:
// a JSON number or a string holding one, integral; at most 2^31-1, GraphQL's
// Int, so that both APIs accept the same runs.
func intField(obj map[string]json.RawMessage, key string) (int, string) {
	raw, ok := present(obj, key)
	if !ok {
		return 0, "Missing '" + key + "' field."
	}
	var num json.Number // accepts a number, or a string holding a valid one
	if err := json.Unmarshal(raw, &num); err != nil {
		return 0, "'" + key + "' must be an integer."
	}
	f, err := strconv.ParseFloat(num.String(), 64)
	if err != nil || f != math.Trunc(f) {
		return 0, "'" + key + "' must be an integer."
	}
	if f < 1 {
		return 0, "'" + key + "' must be at least 1."
	}
	if f > math.MaxInt32 {
		return 0, "'" + key + "' must be at most " + strconv.Itoa(math.MaxInt32) + "."
	}
	return int(f), ""
}

// ---- responses ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Values come from validated, finite data; a failure is a bug.
		status, b = http.StatusInternalServerError, []byte(`{"detail":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeOK sends a successful answer compressed when the client accepts it
// (a run's answer holds every agent's opinion: megabytes on a large network).
func writeOK(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, detail{msgInternal})
		return
	}
	httpenc.NewBody(b).Serve(w, r, "application/json", false)
}

type detail struct {
	Detail string `json:"detail"`
}

func writeDetail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, detail{msg})
}

// fail answers an error from a service (or the Guard) with the status its
// kind stands for. Internal errors go to the log, never to the client.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var ae *apperr.Error
	switch {
	case errors.As(err, &ae):
		switch ae.Kind {
		case apperr.BadInput:
			status = http.StatusBadRequest
		case apperr.NotFound:
			status = http.StatusNotFound
		case apperr.Unauthenticated:
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="ethox"`)
		case apperr.Forbidden:
			status = http.StatusForbidden
		case apperr.RateLimited:
			status = http.StatusTooManyRequests
			var ra interface{ RetryAfter() time.Duration }
			if errors.As(err, &ra) {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.RetryAfter().Seconds()))))
			}
		case apperr.LLMUnavailable:
			status = http.StatusServiceUnavailable
		}
		if status != http.StatusInternalServerError {
			writeDetail(w, status, ae.Error())
			return
		}
	case ent.IsNotFound(err):
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	case ent.IsValidationError(err):
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	}
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelWarn // the client left: not a failure of ours
	}
	h.o.Logger.Log(r.Context(), level, "legacy API request failed", "path", r.URL.Path, "error", err)
	writeDetail(w, status, msgInternal)
}

// unknown answers every other path under /api/: 405 with Allow when the path
// exists for another method, else 404. (A path missing only its trailing
// slash never gets here: http.ServeMux redirects it, 307, as Django's
// APPEND_SLASH did.)
func (h *handler) unknown(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m != r.Method && h.routed(r, m, r.URL.Path) {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeDetail(w, http.StatusMethodNotAllowed, `Method "`+r.Method+`" not allowed.`)
		return
	}
	writeDetail(w, http.StatusNotFound, msgNotFound)
}

// routed reports whether method and path reach one of the endpoints.
func (h *handler) routed(r *http.Request, method, path string) bool {
	probe := r.Clone(r.Context())
	probe.Method = method
	probe.URL.Path, probe.URL.RawPath = path, ""
	_, pattern := h.mux.Handler(probe)
	switch pattern {
	case RouteGraph, RouteNode, RouteUpload, RouteRun, RouteReport, RouteLatestReport:
		return true
	}
	return false
}

// detachedFor is ctx without its cancellation: work a request starts goes on
// when its client leaves.
func detachedFor(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func notFound(err error) bool {
	return apperr.KindOf(err) == apperr.NotFound || ent.IsNotFound(err)
}
