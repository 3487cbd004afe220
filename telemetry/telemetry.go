// Package telemetry holds the Prometheus metrics of the server: HTTP and
// GraphQL operations, simulation runs, LLM calls, the job queue and the
// database pool. Gauges that live in the database are read at scrape time.
package telemetry

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors the rest of the server updates.
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests  *prometheus.CounterVec   // method, route, code
	HTTPDuration  *prometheus.HistogramVec // method, route
	Operations    *prometheus.CounterVec   // operation, type, outcome (ok | error)
	OperationTime *prometheus.HistogramVec // operation, type
	LLMCalls      prometheus.Counter
	LLMTokens     *prometheus.CounterVec // kind (prompt | completion)
	LLMRetries    prometheus.Counter
	LLMFailures   prometheus.Counter
	LLMLatency    prometheus.Histogram
	LLMAnomalies  *prometheus.CounterVec // kind (llm.Anomaly*: a fixed set)
	// GraphFastPathFallbacks counts graph queries the fast path handed to
	// gqlgen, by reason (a fixed set in api/fastgraph.go).
	GraphFastPathFallbacks *prometheus.CounterVec
}

// New registers every collector; db feeds the pool statistics and the gauges
// read from the database (runs by status, job queue depth).
func New(db *sql.DB) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethox_http_requests_total",
			Help: "HTTP requests by method, route and status code."}, []string{"method", "route", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ethox_http_request_duration_seconds",
			Help: "HTTP request latency (streams and WebSockets excluded).", Buckets: prometheus.DefBuckets}, []string{"method", "route"}),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethox_graphql_operations_total",
			Help: "GraphQL operations by name, type and outcome."}, []string{"operation", "type", "outcome"}),
		OperationTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ethox_graphql_operation_duration_seconds",
			Help: "GraphQL operation latency (to the first response).", Buckets: prometheus.DefBuckets}, []string{"operation", "type"}),
		LLMCalls:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ethox_llm_calls_total", Help: "LLM requests sent."}),
		LLMTokens:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethox_llm_tokens_total", Help: "LLM tokens by kind."}, []string{"kind"}),
		LLMRetries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ethox_llm_retries_total", Help: "LLM retries and re-asks."}),
		LLMFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ethox_llm_failed_steps_total", Help: "Agent steps whose LLM call failed for good."}),
		LLMLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ethox_llm_call_duration_seconds",
			Help: "Wall time of an agent's LLM call, retries included.", Buckets: []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60}}),
		LLMAnomalies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethox_llm_answer_anomalies_total",
			Help: "Repairs made to LLM answers by kind: token counts out of range, NUL bytes, invalid UTF-8, text too long."}, []string{"kind"}),
		GraphFastPathFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ethox_graph_fast_path_fallbacks_total",
			Help: "graph queries answered by gqlgen's executor instead of the fast path, by reason."}, []string{"reason"}),
	}
	r.MustRegister(m.HTTPRequests, m.HTTPDuration, m.Operations, m.OperationTime,
		m.LLMCalls, m.LLMTokens, m.LLMRetries, m.LLMFailures, m.LLMLatency, m.LLMAnomalies, m.GraphFastPathFallbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		r.MustRegister(collectors.NewDBStatsCollector(db, "ethox"),
			newTableGauge(db, "ethox_simulations", "Simulations by status.", "status",
				`SELECT status, COUNT(*) FROM simulations GROUP BY status`),
			newTableGauge(db, "ethox_jobs", "Jobs in the queue by state.", "state",
				`SELECT state, COUNT(*) FROM river_job GROUP BY state`))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Instrument counts and times requests by route pattern (never the raw path,
// which would make one series per id). Upgraded and streamed requests count
// but are not timed.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		method := knownMethod(r.Method)
		m.HTTPRequests.WithLabelValues(method, route, strconv.Itoa(rec.code)).Inc()
		if r.Header.Get("Upgrade") == "" && r.Header.Get("Accept") != "text/event-stream" {
			m.HTTPDuration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	// ResponseController reaches a Flusher through other wrappers' Unwrap.
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController (and WebSocket upgrades) reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// tableGauge reads label → count rows at scrape time.
type tableGauge struct {
	db    *sql.DB
	desc  *prometheus.Desc
	query string
}

func newTableGauge(db *sql.DB, name, help, label, query string) *tableGauge {
	return &tableGauge{db: db, query: query, desc: prometheus.NewDesc(name, help, []string{label}, nil)}
}

func (g *tableGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *tableGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := g.db.QueryContext(ctx, g.query)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var label string
		var n float64
		if err := rows.Scan(&label, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, n, label)
	}
}

// knownMethod keeps the method label to a fixed set: any token is a valid
// HTTP method, and each would be a new time series.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
