package legacyapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ethox/ethox/ent"
	entreport "github.com/ethox/ethox/ent/report"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation"
)

type runOut struct {
	SimulationID     string   `json:"simulation_id"`
	InitialGraph     graphOut `json:"initial_graph"`
	PostTriggerGraph graphOut `json:"post_trigger_graph"`
	FinalGraph       graphOut `json:"final_graph"`
}

type reportOut struct {
	SimulationID      string `json:"simulation_id"`
	CareScore100      int    `json:"care_score_100"`
	ChangeInSupport50 int    `json:"change_in_support_50"`
	ReportText        string `json:"report_text"`
	// IncludeInitial is only in GET's answer (the stored report's setting).
	IncludeInitial *bool `json:"include_initial,omitempty"`
}

// run is POST /api/simulations/run/ {trigger, num_agents}: as the prototype
// did, a fresh population of num_agents agents, the LLM's reaction to the
// trigger and one influence round (runSimulation with numAgents, engine LLM,
// rounds 1). The run is an ordinary durable run, visible through GraphQL;
// this request only waits for it, past WRITE_TIMEOUT, and a client that
// goes away leaves it running.
func (h *handler) run(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "runSimulation") {
		return
	}
	obj, ok := h.readObject(w, r)
	if !ok {
		return
	}
	trigger, msg := triggerField(obj)
	if msg != "" {
		writeDetail(w, http.StatusBadRequest, msg)
		return
	}
	n, msg := intField(obj, "num_agents")
	if msg != "" {
		writeDetail(w, http.StatusBadRequest, msg)
		return
	}
	// The body is read: from here on the request only waits, for the
	// population (up to MAX_GENERATE_AGENTS) and then the run, and neither
	// deadline may cut it (WRITE_TIMEOUT; READ_TIMEOUT, whose expiry would
	// also cancel the request). The answer is written at once when the run ends.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	rounds, engine := 1, string(entsim.EngineLLM)
	sim, err := h.o.Sims.Run(detachedFor(r.Context()), simulation.RunInput{
		Trigger: trigger, NumAgents: &n, Rounds: &rounds, Engine: &engine,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sim, err = h.wait(r.Context(), sim.ID)
	id := strconv.Itoa(sim.ID)
	switch {
	case errors.Is(err, errShutdown):
		writeDetail(w, http.StatusServiceUnavailable, "The server is shutting down; simulation "+id+
			" goes on and can be followed through GraphQL: simulation(id: \""+id+"\").")
		return
	case r.Context().Err() != nil:
		h.o.Logger.InfoContext(r.Context(), "client left before its run finished; the run goes on", "simulation", sim.ID)
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	if sim.Status != entsim.StatusSUCCEEDED {
		reason := "it was canceled"
		if sim.Error != nil && *sim.Error != "" {
			reason = *sim.Error
		}
		writeDetail(w, http.StatusInternalServerError, "Simulation failed: "+reason+" (simulation "+id+")")
		return
	}
	final, _ := simulation.FinalRound(sim)
	out := runOut{SimulationID: id}
	for _, g := range []struct {
		dst     *graphOut
		round   int
		initial bool
	}{{&out.InitialGraph, -1, false}, {&out.PostTriggerGraph, 0, false}, {&out.FinalGraph, final, true}} {
		if *g.dst, err = h.snapshot(r.Context(), sim, g.round, g.initial); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	writeOK(w, r, out)
}

func triggerField(obj map[string]json.RawMessage) (string, string) {
	raw, ok := present(obj, "trigger")
	if !ok {
		return "", "Missing 'trigger' field."
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", "'trigger' must be a string."
	}
	if s = strings.TrimSpace(s); s == "" {
		return "", "'trigger' must be non-empty."
	}
	return s, ""
}

var errShutdown = errors.New("server shutting down")

// wait follows a run until it ends (SUCCEEDED, FAILED or CANCELED). It
// returns early, with the run as last read, when ctx ends (the client left)
// or the server shuts down (errShutdown).
// closedProgress is a progress stream that has ended.
var closedProgress = func() <-chan *ent.Simulation { c := make(chan *ent.Simulation); close(c); return c }()

func (h *handler) wait(ctx context.Context, id int) (*ent.Simulation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopping := make(chan struct{})
	if h.o.Shutdown != nil {
		go func() {
			select {
			case <-h.o.Shutdown:
				close(stopping)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	last := &ent.Simulation{ID: id}
	for {
		progress, err := h.o.Sims.Progress(ctx, id, h.o.ProgressInterval)
		if err != nil && ctx.Err() == nil {
			return last, err
		}
		if err != nil {
			// Failed because ctx ended (the client left, or shutdown): progress
			// is nil, and ranging over it would block this handler for good.
			progress = closedProgress
		}
		for sim := range progress {
			last = sim
		}
		if ended(last.Status) {
			return last, nil
		}
		select {
		case <-stopping:
			return last, errShutdown
		default:
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		// The stream ended on a read error (logged by the service): read again.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

func ended(s entsim.Status) bool {
	return s == entsim.StatusSUCCEEDED || s == entsim.StatusFAILED || s == entsim.StatusCANCELED
}

// snapshot is the run's network at round (-1: as generated) in the
// prototype's simulation shape: integer ids, and each agent's view at that
// round as text_opinion, level_of_care (care on 0..1) and effect_on_usage;
// with initial, its stage-0 view too (initial_opinion, …), as the
// resolvers' Simulation.finalGraph gives it.
func (h *handler) snapshot(ctx context.Context, sim *ent.Simulation, round int, initial bool) (graphOut, error) {
	snap, err := h.o.Sims.Snapshot(ctx, sim, round)
	if err != nil {
		return graphOut{}, err
	}
	if snap == nil {
		return graphOut{}, fmt.Errorf("simulation %d: round %d is not complete", sim.ID, round)
	}
	out := graphView(snap.Graph, true)
	if round < 0 {
		return out, nil
	}
	for i, n := range out.Nodes {
		if v := snap.State[i]; v != nil {
			n["text_opinion"], n["level_of_care"], n["effect_on_usage"] = v.Opinion, v.Care/10, v.Support
		}
		if v := snap.Initial[i]; initial && v != nil {
			n["initial_opinion"], n["initial_level_of_care"], n["initial_effect_on_usage"] = v.Opinion, v.Care/10, v.Support
		}
	}
	return out, nil
}

// simulationID reads the prototype's simulation_id: a string (its ids were
// strings) or a number. ok is false when it is missing or of another type;
// id is -1 for a string that cannot be one of Ethox's ids.
func simulationID(raw json.RawMessage, present bool) (id int, text string, ok bool) {
	if !present {
		return 0, "", false
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
			return 0, "", false
		}
		return -1, s, true // a prototype id such as a UUID: no such run here
	}
	text = num.String()
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &text)
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil || n < 0 || int64(int(n)) != n {
		return -1, text, true
	}
	return int(n), text, true
}

// report is POST /api/simulations/report/ {simulation_id, trigger,
// include_initial}: generateReport, a new stored version of the run's report.
// The trigger is the stored run's (a different one in the request is not
// used: reports describe what the run was asked).
func (h *handler) report(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "generateReport") {
		return
	}
	obj, ok := h.readObject(w, r)
	if !ok {
		return
	}
	raw, has := present(obj, "simulation_id")
	id, text, ok := simulationID(raw, has)
	if !ok {
		writeDetail(w, http.StatusBadRequest, msgBadRunID)
		return
	}
	includeInitial := false
	if raw, has := present(obj, "include_initial"); has {
		if json.Unmarshal(raw, &includeInitial) != nil {
			writeDetail(w, http.StatusBadRequest, "'include_initial' must be a boolean.")
			return
		}
	}
	if raw, has := present(obj, "trigger"); has {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			writeDetail(w, http.StatusBadRequest, "'trigger' must be a string.")
			return
		}
	}
	if id < 0 {
		writeDetail(w, http.StatusNotFound, msgNoRun)
		return
	}
	rep, err := h.o.Reports.Generate(r.Context(), id, includeInitial)
	if err != nil {
		if notFound(err) {
			writeDetail(w, http.StatusNotFound, msgNoRun)
		} else {
			h.fail(w, r, err)
		}
		return
	}
	writeOK(w, r, reportOut{SimulationID: text, CareScore100: rep.CareScore100,
		ChangeInSupport50: rep.ChangeInSupport50, ReportText: rep.ReportText})
}

// latestReport is GET /api/simulations/report/?simulation_id=: the latest
// stored report of a run (Simulation.report), 404 when it has none.
func (h *handler) latestReport(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r, "") {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("simulation_id"))
	if q == "" {
		writeDetail(w, http.StatusBadRequest, msgBadRunID)
		return
	}
	id, err := strconv.Atoi(q)
	if err != nil || id < 0 {
		writeDetail(w, http.StatusNotFound, msgNoRun)
		return
	}
	sim, err := h.o.Client.Simulation.Get(r.Context(), id)
	if err != nil {
		if notFound(err) {
			writeDetail(w, http.StatusNotFound, msgNoRun)
		} else {
			h.fail(w, r, err)
		}
		return
	}
	rep, err := sim.QueryReports().Order(ent.Desc(entreport.FieldVersion)).First(r.Context())
	if ent.IsNotFound(err) {
		writeDetail(w, http.StatusNotFound, "No report for this simulation yet.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	inc := rep.IncludeInitial
	writeOK(w, r, reportOut{SimulationID: q, CareScore100: rep.CareScore100,
		ChangeInSupport50: rep.ChangeInSupport50, ReportText: rep.ReportText, IncludeInitial: &inc})
}
