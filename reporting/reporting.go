// Package reporting generates and stores versioned reports of simulation
// runs: the metrics of package report over the stored agent states, and a
// narrative written by a supervisor LLM or, without one, from the metrics.
package reporting

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	entreport "github.com/ethox/ethox/ent/report"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/runmetrics"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/simulation/llm"
)

// Service generates reports.
type Service struct {
	db     *database.DB
	graphs *graphstore.Store
	llm    *llm.Client // nil: deterministic narratives only
	n      Narrator
}

// Narrator configures the narratives' LLM calls (the prototype's
// supervisor). The server sets it from OPENAI_REPORT_MODEL,
// OPENAI_REPORT_TEMPERATURE (default 0.3, the prototype's) and
// OPENAI_REPORT_MAX_TOKENS (default 2000): settings of their own, apart
// from the agents'.
type Narrator struct {
	Model       string   // "" = DefaultModel
	Temperature *float32 // nil = none sent
	MaxTokens   int      // 0 = no limit sent
}

// maxErrorChars bounds the LLM error quoted in a deterministic narrative.
const maxErrorChars = 1000

// DefaultModel writes narratives unless OPENAI_REPORT_MODEL says otherwise.
const DefaultModel = llm.DefaultReportModel

// New returns a Service; llmClient may be nil.
func New(db *database.DB, llmClient *llm.Client, n Narrator) *Service {
	if n.Model == "" {
		n.Model = DefaultModel
	}
	return &Service{db: db, graphs: graphstore.New(db), llm: llmClient, n: n}
}

// Generate computes and stores a new version of a run's report. A run still
// in progress (or stopped early) gets a report flagged provisional; a run
// with no stored step yet is a BAD_USER_INPUT.
func (s *Service) Generate(ctx context.Context, simID int, includeInitial bool) (*ent.Report, error) {
	sim, err := s.db.Client.Simulation.Get(ctx, simID)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "simulation %d not found", simID)
	}
	if err != nil {
		return nil, err
	}
	in, err := s.input(ctx, sim, includeInitial)
	if err != nil {
		return nil, err
	}
	if len(in.States) == 0 {
		return nil, apperr.New(apperr.BadInput, "simulation %d has no stored step yet (status %s): nothing to report", simID, sim.Status)
	}
	m, err := runmetrics.Compute(in)
	if err != nil {
		return nil, fmt.Errorf("report metrics: %w", err)
	}
	provisional := sim.Status != entsim.StatusSUCCEEDED
	text, source, model := deterministicNarrative(sim, m, provisional), entreport.NarrativeSourceDETERMINISTIC, ""
	if s.llm != nil {
		if t, err := s.narrate(ctx, sim, m, in, includeInitial); err == nil {
			text, source, model = t, entreport.NarrativeSourceLLM, s.n.Model
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		} else {
			// The error may quote the server's answer: stored text must be clean.
			text += "\n\n(The LLM narrative failed: " + llm.CleanText(err.Error(), maxErrorChars) + "; this one is written from the metrics.)"
		}
	}
	metrics, err := toMap(m)
	if err != nil {
		return nil, err
	}
	care, support := 0, 0
	if m.Headline.CareScore100 != nil {
		care, support = *m.Headline.CareScore100, *m.Headline.ChangeInSupport50
	}
	for attempt := 0; ; attempt++ {
		version, err := s.nextVersion(ctx, simID)
		if err != nil {
			return nil, err
		}
		c := s.db.Client.Report.Create().SetSimulationID(simID).SetVersion(version).SetProvisional(provisional).
			SetIncludeInitial(includeInitial).SetCareScore100(care).SetChangeInSupport50(support).
			SetReportText(text).SetNarrativeSource(source).SetMetrics(metrics)
		if model != "" {
			c.SetModel(model)
		}
		r, err := c.Save(ctx)
		if ent.IsConstraintError(err) && attempt < 3 {
			continue // another report of this run took the version: take the next one
		}
		if err == nil {
			slog.InfoContext(ctx, "report generated", "report", r.ID, "simulation", simID, "network", sim.NetworkID,
				"version", r.Version, "narrative_source", source, "model", model, "provisional", provisional)
		}
		return r, err
	}
}

func (s *Service) nextVersion(ctx context.Context, simID int) (int, error) {
	var v sql.NullInt64
	err := s.db.SQL.QueryRowContext(ctx, `SELECT MAX(version) FROM reports WHERE simulation_id = `+s.db.Placeholder(1), simID).Scan(&v)
	return int(v.Int64) + 1, err
}

// input gathers the run's network and stored states.
func (s *Service) input(ctx context.Context, sim *ent.Simulation, includeInitial bool) (runmetrics.Input, error) {
	g, err := s.graphs.LoadGraph(ctx, &sim.NetworkID)
	if err != nil {
		return runmetrics.Input{}, err
	}
	in := runmetrics.Input{Rounds: sim.Rounds, IncludeInitial: includeInitial,
		Agents: make([]runmetrics.Agent, len(g.Nodes)), Ties: make([]runmetrics.Tie, len(g.Edges))}
	for i, n := range g.Nodes {
		in.Agents[i] = runmetrics.Agent{AgentID: n.AgentID, Profile: n.Profile, Cluster: n.Cluster, Age: n.Age, Gender: n.Gender}
	}
	for j, e := range g.Edges {
		in.Ties[j] = runmetrics.Tie{Source: e.Source, Target: e.Target, Weight: e.Weight}
	}
	last := -1
	err = simulation.EachState(ctx, s.db, sim.ID, func(r *simulation.StateRow) error {
		in.States = append(in.States, runmetrics.AgentState{AgentID: r.AgentKey, Round: r.Round,
			Opinion: r.Opinion, Care: r.Care, Support: r.Support, Failed: r.Failed})
		last = max(last, r.Round)
		return nil
	})
	if err != nil {
		return runmetrics.Input{}, err
	}
	// A provisional report ends at the last round with any stored state.
	if last >= 0 && last < in.Rounds {
		in.Rounds = last
	}
	return in, nil
}

func toMap(m *runmetrics.Metrics) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

// deterministicNarrative writes the report from the metrics alone, marked as such.
func deterministicNarrative(sim *ent.Simulation, m *runmetrics.Metrics, provisional bool) string {
	var b strings.Builder
	b.WriteString("[Written from the metrics, without an LLM.]\n")
	if provisional {
		fmt.Fprintf(&b, "Provisional: the run is %s; this covers the rounds stored so far.\n", sim.Status)
	}
	if m.Headline.CareScore100 != nil {
		fmt.Fprintf(&b, "Care score %d/100 and change in support %+d (on -50..50) over %d agents after round %d.\n",
			*m.Headline.CareScore100, *m.Headline.ChangeInSupport50, m.Headline.N, m.FinalRound)
	}
	if p := m.Polarization; p.SupportVariance != nil {
		fmt.Fprintf(&b, "Support variance %s", fixed(*p.SupportVariance, 2))
		if p.ExtremesShare != nil {
			fmt.Fprintf(&b, "; %s%% of agents at the extremes (|support| ≥ 4)", fixed(100**p.ExtremesShare, 0))
		}
		if p.BimodalityCoefficient != nil {
			verdict := "not bimodal"
			if *p.BimodalityCoefficient > 5.0/9 {
				verdict = "bimodal: opinion is split"
			}
			fmt.Fprintf(&b, "; bimodality coefficient %s (%s)", fixed(*p.BimodalityCoefficient, 2), verdict)
		}
		b.WriteString(".\n")
	}
	if c := m.Consensus; c.WithinOneOfMedianShare != nil {
		fmt.Fprintf(&b, "%s%% of agents sit within one point of the median support; %d opinion group(s).\n",
			fixed(100**c.WithinOneOfMedianShare, 0), c.Fragmentation)
	}
	if sh := m.Shift; sh.MeanSupportDelta != nil && m.FinalRound > 0 {
		fmt.Fprintf(&b, "From the first reaction to the last round, support moved %s and care %s on average.\n",
			signed(*sh.MeanSupportDelta, 2), signed(*sh.MeanCareDelta, 2))
	}
	if e := m.EchoChamber.SupportAssortativity; e != nil {
		fmt.Fprintf(&b, "Support assortativity along ties: %s (positive: connected agents think alike).\n", fixed(*e, 2))
	}
	return strings.TrimSpace(b.String())
}

// narrate asks the supervisor LLM for the narrative, from the metrics and
// the agents' final opinions (with includeInitial, their initial and final
// opinions), of at most 60 agents.
func (s *Service) narrate(ctx context.Context, sim *ent.Simulation, m *runmetrics.Metrics, in runmetrics.Input, includeInitial bool) (string, error) {
	mb, err := json.Marshal(m.Headline)
	if err != nil {
		return "", err
	}
	// The model is shown the numbers as a reader should see them (two
	// decimals, no -0): it tends to copy what it is given.
	dist, _ := roundedJSON(struct {
		Rounds       any `json:"rounds"`
		Polarization any `json:"polarization"`
		Consensus    any `json:"consensus"`
		Shift        any `json:"shift"`
		Segments     any `json:"segments"`
		EchoChamber  any `json:"echoChamber"`
	}{m.Rounds, m.Polarization, m.Consensus, map[string]any{"meanCareDelta": m.Shift.MeanCareDelta, "meanSupportDelta": m.Shift.MeanSupportDelta}, m.Segments, m.EchoChamber})
	// The opinions the supervisor reads: every agent's final one or, with
	// includeInitial, every agent's initial and final ones together (as the
	// prototype's supervisor read them), for at most maxOpinions agents
	// drawn at random (the same for the same run) so big runs fit the context.
	const maxOpinions = 60
	includeInitial = includeInitial && m.FinalRound > 0 // after stage 0 only, initial and final are the same
	type pair struct{ initial, final *runmetrics.AgentState }
	byAgent := map[string]*pair{}
	var order []string
	for k := range in.States {
		st := &in.States[k]
		if st.Opinion == "" || st.Failed || (st.Round != m.FinalRound && (!includeInitial || st.Round != 0)) {
			continue
		}
		pr := byAgent[st.AgentID]
		if pr == nil {
			pr = &pair{}
			byAgent[st.AgentID] = pr
			order = append(order, st.AgentID)
		}
		if st.Round == m.FinalRound {
			pr.final = st
		}
		if st.Round == 0 {
			pr.initial = st
		}
	}
	if !includeInitial {
		order = slices.DeleteFunc(order, func(id string) bool { return byAgent[id].final == nil })
	}
	if len(order) > maxOpinions {
		r := rand.New(rand.NewPCG(uint64(sim.ID), 7)) // the same sample for the same run
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		order = order[:maxOpinions]
	}
	view := func(st *runmetrics.AgentState) string {
		if st == nil {
			return "(none)"
		}
		return fmt.Sprintf("(care %s, support %s) %s", fixed(st.Care, 0), signed(st.Support, 0), st.Opinion)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The message:\n%q\n\nHeadline: %s\nMetrics: %s\n\n", sim.Trigger, mb, dist)
	if includeInitial {
		fmt.Fprintf(&b, "The initial reaction (round 0) and final opinion (round %d) of %d agents:\n", m.FinalRound, len(order))
		for _, id := range order {
			b.WriteString("- initial " + view(byAgent[id].initial) + "\n  final " + view(byAgent[id].final) + "\n")
		}
		b.WriteString("\nAlso describe the shift from the initial reactions to the final round.\n")
	} else {
		fmt.Fprintf(&b, "A sample of %d final opinions:\n", len(order))
		for _, id := range order {
			b.WriteString("- " + view(byAgent[id].final) + "\n")
		}
	}
	msgs := []llm.Message{
		{Role: "system", Content: `You are a communication analyst writing a report on how a simulated population reacted to a message.
Cover, in plain prose with short headed sections: the top perceived meanings of the message; the care distribution;
the support distribution; misunderstanding clusters and the phrases that trigger them; polarization patterns;
consensus or fragmentation. Use the metrics as given; do not invent numbers.`},
		{Role: "user", Content: b.String()},
	}
	// Complete returns the text cleaned and bounded; what it repaired is logged
	// here with the run (and counted by the client's observer).
	maxTokens := s.n.MaxTokens
	text, u, err := s.llm.Complete(ctx, llm.Request{Messages: msgs, Model: s.n.Model, Temperature: s.n.Temperature,
		MaxTokens: &maxTokens, Check: checkNarrative})
	for _, a := range u.Anomalies {
		slog.WarnContext(ctx, "LLM answer repaired", "simulation", sim.ID, "report", true, "kind", a.Kind, "detail", a.Detail)
	}
	if err != nil {
		return "", err
	}
	if err := checkNarrative(text, false); err != nil {
		return "", err // Complete checked it already; kept so no path stores a non-narrative
	}
	return text, nil
}
