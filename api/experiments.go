package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/export"
)

// mountExperimentExports serves an experiment's latest result as CSV and its
// charts as SVG, under /exports/ (the downloads' authorization).
func mountExperimentExports(mux *http.ServeMux, exps *experiment.Service) {
	latest := func(w http.ResponseWriter, r *http.Request) (*experiment.Result, int, bool) {
		id, ok := pathID(w, r)
		if !ok {
			return nil, 0, false
		}
		if _, err := exps.Get(r.Context(), id); err != nil {
			httpError(w, err)
			return nil, 0, false
		}
		res, err := exps.LatestResult(r.Context(), id)
		if err != nil {
			httpError(w, err)
			return nil, 0, false
		}
		if res == nil {
			httpError(w, apperr.New(apperr.NotFound, "experiment %d has no result yet: it is stored when its last run ends, or by generateExperimentReport", id))
			return nil, 0, false
		}
		out, err := experiment.ResultFromMap(res.Result)
		if err != nil {
			httpError(w, fmt.Errorf("experiment %d: unreadable result: %w", id, err))
			return nil, 0, false
		}
		return out, id, true
	}
	mux.HandleFunc("GET /exports/experiments/{id}/results.csv", func(w http.ResponseWriter, r *http.Request) {
		res, id, ok := latest(w, r)
		if !ok {
			return
		}
		export.Serve(w, r, "text/csv; charset=utf-8", fmt.Sprintf("experiment-%d-results.csv", id), func(w io.Writer) error {
			return experiment.WriteCSV(res, w)
		})
	})
	mux.HandleFunc("GET /exports/experiments/{id}/charts/{file}", func(w http.ResponseWriter, r *http.Request) {
		name, found := strings.CutSuffix(r.PathValue("file"), ".svg")
		if !found || !knownChart(name) {
			httpError(w, apperr.New(apperr.NotFound, "no chart %q; charts: %s", r.PathValue("file"), strings.Join(experiment.ChartNames, ", ")))
			return
		}
		res, _, ok := latest(w, r)
		if !ok {
			return
		}
		svg, _ := experiment.Chart(res, name)
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "private, no-cache") // a later result version replaces it
		_, _ = io.Copy(w, bytes.NewReader(svg))
	})
}

func knownChart(name string) bool {
	for _, n := range experiment.ChartNames {
		if n == name {
			return true
		}
	}
	return false
}
