package experiment

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/ethox/ethox/export"
)

// CSVColumns are the columns of an experiment's CSV, in order: a row per run
// (row_type "run": its scores, empty intervals) and a row per arm (row_type
// "arm": the estimates across its replicates, replicate and run columns
// empty).
var CSVColumns = []string{"row_type", "arm", "replicate", "simulation_id", "seed", "status", "agents",
	"care_score", "support_score", "care_sd", "care_low", "care_high", "support_sd", "support_low", "support_high",
	"method", "runs", "succeeded", "calls", "tokens", "cost_usd", "support_per_dollar", "cache_hits", "cost_saved_usd"}

// WriteCSV writes r as CSV, row by row (export's style: text cells through
// export.CSVText, numbers the server's own).
func WriteCSV(r *Result, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	rec := make([]string, len(CSVColumns))
	for _, a := range r.Arms {
		for _, rep := range a.Replicates {
			clear(rec)
			rec[0], rec[1], rec[2] = "run", export.CSVText(a.Name), strconv.Itoa(rep.Replicate)
			if rep.SimulationID != nil {
				rec[3] = strconv.Itoa(*rep.SimulationID)
			}
			rec[4], rec[5], rec[6] = strconv.FormatInt(rep.Seed, 10), rep.Status, strconv.Itoa(rep.Agents)
			rec[7], rec[8] = numText(rep.CareScore), numText(rep.SupportScore)
			rec[18], rec[19], rec[20] = strconv.Itoa(rep.Calls), strconv.Itoa(rep.Tokens), strconv.FormatFloat(rep.CostUSD, 'g', -1, 64)
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	for _, a := range r.Arms {
		clear(rec)
		rec[0], rec[1] = "arm", export.CSVText(a.Name)
		rec[7], rec[8] = numText(a.Care.Mean), numText(a.Support.Mean)
		rec[9], rec[10], rec[11] = numText(a.Care.StdDev), numText(a.Care.Low), numText(a.Care.High)
		rec[12], rec[13], rec[14] = numText(a.Support.StdDev), numText(a.Support.Low), numText(a.Support.High)
		rec[15], rec[16], rec[17] = a.Support.Method, strconv.Itoa(a.Runs), strconv.Itoa(a.Succeeded)
		rec[18], rec[19], rec[20] = strconv.Itoa(a.Calls), strconv.Itoa(a.Tokens), strconv.FormatFloat(a.CostUSD, 'g', -1, 64)
		rec[21], rec[22], rec[23] = numText(a.SupportPerDollar), strconv.Itoa(a.CacheHits), strconv.FormatFloat(a.CostSavedUSD, 'g', -1, 64)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func numText(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}
