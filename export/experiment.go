package export

import "fmt"

// ExperimentCSVURL is where an experiment's result is served as CSV.
func ExperimentCSVURL(id int) string { return fmt.Sprintf("/exports/experiments/%d/results.csv", id) }

// ExperimentChartURL is where a chart of an experiment's result is served as SVG.
func ExperimentChartURL(id int, name string) string {
	return fmt.Sprintf("/exports/experiments/%d/charts/%s.svg", id, name)
}
