package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/export"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/httpenc"
	"github.com/ethox/ethox/runmetrics"
)

func mountExports(mux *http.ServeMux, db *database.DB, graphs *graphstore.Store) {
	network := func(ext, contentType string, write func(*graphstore.Graph, io.Writer) error) {
		mux.HandleFunc("GET /exports/networks/{id}/network."+ext, func(w http.ResponseWriter, r *http.Request) {
			id, ok := pathID(w, r)
			if !ok {
				return
			}
			g, err := graphs.LoadGraph(r.Context(), &id)
			if err != nil {
				httpError(w, err)
				return
			}
			// A failure mid-stream aborts the response so the client sees a truncated download.
			export.Serve(w, r, contentType, fmt.Sprintf("network-%d.%s", id, ext), func(w io.Writer) error { return write(g, w) })
		})
	}
	network("json", "application/json", export.NetworkJSON)
	network("graphml", "application/graphml+xml", export.GraphML)

	states := func(ext, contentType string, write func(context.Context, *database.DB, int, io.Writer) error) {
		mux.HandleFunc("GET /exports/simulations/{id}/states."+ext, func(w http.ResponseWriter, r *http.Request) {
			id, ok := pathID(w, r)
			if !ok {
				return
			}
			if _, err := db.Client.Simulation.Get(r.Context(), id); err != nil {
				httpError(w, apperr.New(apperr.NotFound, "simulation %d not found", id))
				return
			}
			export.Serve(w, r, contentType, fmt.Sprintf("simulation-%d-states.%s", id, ext), func(w io.Writer) error {
				return write(r.Context(), db, id, w)
			})
		})
	}
	states("csv", "text/csv; charset=utf-8", export.StatesCSV)
	states("jsonl", "application/jsonl", export.StatesJSONL)
}

func pathID(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.Error(w, fmt.Sprintf("%q is not a valid id", r.PathValue("id")), http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

func httpError(w http.ResponseWriter, err error) {
	switch apperr.KindOf(err) {
	case apperr.NotFound:
		http.Error(w, err.Error(), http.StatusNotFound)
	case apperr.BadInput:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// mountCharts serves a stored report's charts, rendered from its metrics.
func mountCharts(mux *http.ServeMux, db *database.DB) {
	mux.HandleFunc("GET /reports/{id}/charts/{file}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		name, found := strings.CutSuffix(r.PathValue("file"), ".svg")
		rep, err := db.Client.Report.Get(r.Context(), id)
		if err != nil {
			httpError(w, apperr.New(apperr.NotFound, "report %d not found", id))
			return
		}
		m, err := runmetrics.FromMap(rep.Metrics)
		if err != nil {
			httpError(w, fmt.Errorf("report %d: unreadable metrics: %w", id, err))
			return
		}
		svg, known := runmetrics.Chart(m, name)
		if !found || !known {
			httpError(w, apperr.New(apperr.NotFound, "no chart %q; charts: %s", r.PathValue("file"), strings.Join(runmetrics.ChartNames, ", ")))
			return
		}
		w.Header().Set("Cache-Control", "private, max-age=86400") // a report version never changes; private: reads may need a token
		httpenc.NewBody(svg).Serve(w, r, "image/svg+xml", true)
	})
}
