// Package export writes runs and networks in formats other tools read: agent
// states as CSV and JSON Lines, networks in the prototype's network.json and as
// GraphML (Gephi, networkx). Everything is written row by row to the writer,
// so an HTTP response streams without building the file in memory.
package export

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation"
)

// URLs of the downloads the API serves (api/exports.go), for links in GraphQL.
func NetworkJSONURL(id int) string    { return fmt.Sprintf("/exports/networks/%d/network.json", id) }
func NetworkGraphMLURL(id int) string { return fmt.Sprintf("/exports/networks/%d/network.graphml", id) }
func StatesCSVURL(id int) string      { return fmt.Sprintf("/exports/simulations/%d/states.csv", id) }
func StatesJSONLURL(id int) string    { return fmt.Sprintf("/exports/simulations/%d/states.jsonl", id) }

// ReportChartURL is where a report's chart is served as SVG.
func ReportChartURL(reportID int, name string) string {
	return fmt.Sprintf("/reports/%d/charts/%s.svg", reportID, name)
}

// StateColumns are the columns of a states export, in order.
var StateColumns = []string{"agent_id", "round", "opinion", "care", "support", "failed", "error",
	"latency_ms", "prompt_tokens", "completion_tokens", "retries", "created_at"}

type stateRow struct {
	AgentID          string  `json:"agent_id"`
	Round            int     `json:"round"`
	Opinion          string  `json:"opinion"`
	Care             float64 `json:"care"`
	Support          float64 `json:"support"`
	Failed           bool    `json:"failed"`
	Error            *string `json:"error"`
	LatencyMs        int     `json:"latency_ms"`
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	Retries          int     `json:"retries"`
	CreatedAt        string  `json:"created_at"`
}

// eachState streams a run's states, by round then agent, to f, as exports
// write them.
func eachState(ctx context.Context, db *database.DB, simID int, f func(*stateRow) error) error {
	var r stateRow
	return simulation.EachState(ctx, db, simID, func(s *simulation.StateRow) error {
		r = stateRow{AgentID: s.AgentKey, Round: s.Round, Opinion: s.Opinion, Care: s.Care, Support: s.Support,
			Failed: s.Failed, Error: s.Error, LatencyMs: s.LatencyMs, PromptTokens: s.PromptTokens,
			CompletionTokens: s.CompletionTokens, Retries: s.Retries, CreatedAt: s.CreatedAt.UTC().Format(time.RFC3339Nano)}
		return f(&r)
	})
}

// CSVText neutralises a text cell of a CSV export against formula
// injection (OWASP, "CSV Injection"): a cell that starts with =, +, -, @,
// a tab or a carriage return is prefixed with a single quote, which
// spreadsheets show as text instead of evaluating (=HYPERLINK(…) stays
// inert). A cell that is a plain decimal number ("-3", "+2.5", "-1e3",
// e.g. a numeric agent id) is left as it is: a spreadsheet reads it as a
// number, which cannot execute anything. Numeric columns the server writes
// itself (care, support, counts) do not go through it.
func CSVText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		if isDecimal(s) {
			return s
		}
		return "'" + s
	}
	return s
}

// isDecimal reports whether s is a plain decimal number: a sign, digits
// with an optional fraction, an optional exponent.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// StatesCSV writes a run's agent states as CSV with a header row. Text
// cells go through [CSVText].
func StatesCSV(ctx context.Context, db *database.DB, simID int, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(StateColumns); err != nil {
		return err
	}
	rec := make([]string, len(StateColumns))
	err := eachState(ctx, db, simID, func(r *stateRow) error {
		errText := ""
		if r.Error != nil {
			errText = *r.Error
		}
		// Text cells (ids and opinions come from uploads and LLMs) are
		// neutralised; the numbers are the server's own.
		rec[0], rec[1], rec[2] = CSVText(r.AgentID), strconv.Itoa(r.Round), CSVText(r.Opinion)
		rec[3], rec[4] = strconv.FormatFloat(r.Care, 'g', -1, 64), strconv.FormatFloat(r.Support, 'g', -1, 64)
		rec[5], rec[6] = strconv.FormatBool(r.Failed), CSVText(errText)
		rec[7], rec[8], rec[9], rec[10] = strconv.Itoa(r.LatencyMs), strconv.Itoa(r.PromptTokens), strconv.Itoa(r.CompletionTokens), strconv.Itoa(r.Retries)
		rec[11] = r.CreatedAt
		return cw.Write(rec)
	})
	cw.Flush()
	if err != nil {
		return err
	}
	return cw.Error()
}

// StatesJSONL writes a run's agent states as JSON Lines, one state per line.
func StatesJSONL(ctx context.Context, db *database.DB, simID int, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := eachState(ctx, db, simID, func(r *stateRow) error { return enc.Encode(r) })
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// NetworkJSON writes a network in the prototype's network.json format: every
// field an upload carried comes back, so the file re-uploads to the same graph.
func NetworkJSON(g *graphstore.Graph, w io.Writer) error {
	bw := bufio.NewWriter(w)
	if g.Directed {
		bw.WriteString(`{"directed":true,"nodes":[`)
	} else {
		bw.WriteString(`{"nodes":[`)
	}
	for i := range g.Nodes {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(NodeObject(&g.Nodes[i]))
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString(`],"edges":[`)
	for j, e := range g.Edges {
		if j > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(map[string]any{"source": e.Source, "target": e.Target, "weight": e.Weight})
		if err != nil {
			return err
		}
		bw.Write(b)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// NodeObject is one node of network.json: its attributes, the named fields it
// has, traits and profile. The prototype's REST API (legacyapi) serves nodes
// in this shape too.
func NodeObject(n *networkfile.Node) map[string]any {
	m := make(map[string]any, len(n.Attributes)+12)
	for k, v := range n.Attributes {
		m[k] = v
	}
	m["agent_id"] = n.AgentID
	m["traits"] = n.Traits
	if len(n.Profile) > 0 {
		m["profile"] = n.Profile
	}
	set := func(key string, v any, ok bool) {
		if ok {
			m[key] = v
		}
	}
	set("degree", deref(n.Degree), n.Degree != nil)
	set("cluster", deref(n.Cluster), n.Cluster != nil)
	set("degree_centrality", deref(n.DegreeCentrality), n.DegreeCentrality != nil)
	set("betweenness_centrality", deref(n.BetweennessCentrality), n.BetweennessCentrality != nil)
	set("age", deref(n.Age), n.Age != nil)
	set("gender", deref(n.Gender), n.Gender != nil)
	set("text_opinion", deref(n.TextOpinion), n.TextOpinion != nil)
	set("level_of_care", deref(n.LevelOfCare), n.LevelOfCare != nil)
	set("effect_on_usage", deref(n.EffectOnUsage), n.EffectOnUsage != nil)
	return m
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// GraphML writes a network as GraphML: numeric node fields and every trait
// as typed attributes (traits as "trait:<name>"), edges with their weight.
func GraphML(g *graphstore.Graph, w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(xml.Header)
	bw.WriteString(`<graphml xmlns="http://graphml.graphdrawing.org/xmlns">` + "\n")
	type key struct{ id, name, typ, for_ string }
	keys := []key{
		{"d_degree", "degree", "int", "node"}, {"d_cluster", "cluster", "int", "node"},
		{"d_dc", "degree_centrality", "double", "node"}, {"d_bc", "betweenness_centrality", "double", "node"},
		{"d_age", "age", "int", "node"}, {"d_gender", "gender", "string", "node"},
		{"d_opinion", "text_opinion", "string", "node"}, {"d_care", "level_of_care", "double", "node"},
		{"d_effect", "effect_on_usage", "double", "node"},
	}
	traitKeys := slices.Clone(g.TraitKeys)
	for i, t := range traitKeys {
		keys = append(keys, key{fmt.Sprintf("t%d", i), "trait:" + t, "double", "node"})
	}
	keys = append(keys, key{"d_weight", "weight", "double", "edge"})
	for _, k := range keys {
		fmt.Fprintf(bw, `  <key id="%s" for="%s" attr.name="%s" attr.type="%s"/>`+"\n", k.id, k.for_, escape(k.name), k.typ)
	}
	edgeDefault := "undirected"
	if g.Directed {
		edgeDefault = "directed"
	}
	fmt.Fprintf(bw, `  <graph id="G" edgedefault="%s">`+"\n", edgeDefault)
	data := func(id string, v string) { fmt.Fprintf(bw, `      <data key="%s">%s</data>`+"\n", id, escape(v)) }
	for i := range g.Nodes {
		n := &g.Nodes[i]
		fmt.Fprintf(bw, `    <node id="%s">`+"\n", escape(n.AgentID))
		if n.Degree != nil {
			data("d_degree", strconv.Itoa(*n.Degree))
		}
		if n.Cluster != nil {
			data("d_cluster", strconv.Itoa(*n.Cluster))
		}
		if n.DegreeCentrality != nil {
			data("d_dc", strconv.FormatFloat(*n.DegreeCentrality, 'g', -1, 64))
		}
		if n.BetweennessCentrality != nil {
			data("d_bc", strconv.FormatFloat(*n.BetweennessCentrality, 'g', -1, 64))
		}
		if n.Age != nil {
			data("d_age", strconv.Itoa(*n.Age))
		}
		if n.Gender != nil {
			data("d_gender", *n.Gender)
		}
		if n.TextOpinion != nil {
			data("d_opinion", *n.TextOpinion)
		}
		if n.LevelOfCare != nil {
			data("d_care", strconv.FormatFloat(*n.LevelOfCare, 'g', -1, 64))
		}
		if n.EffectOnUsage != nil {
			data("d_effect", strconv.FormatFloat(*n.EffectOnUsage, 'g', -1, 64))
		}
		for ti, t := range traitKeys {
			if v, ok := n.Traits[t]; ok {
				data(fmt.Sprintf("t%d", ti), strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		bw.WriteString("    </node>\n")
	}
	for j, e := range g.Edges {
		fmt.Fprintf(bw, `    <edge id="e%d" source="%s" target="%s">`+"\n", j, escape(e.Source), escape(e.Target))
		data("d_weight", strconv.FormatFloat(e.Weight, 'g', -1, 64))
		bw.WriteString("    </edge>\n")
	}
	bw.WriteString("  </graph>\n</graphml>\n")
	return bw.Flush()
}

func escape(s string) string {
	var b bytesBuilder
	_ = xml.EscapeText(&b, []byte(s))
	return string(b)
}

type bytesBuilder []byte

func (b *bytesBuilder) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
