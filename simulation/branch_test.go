package simulation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/testdb"
)

// TestBranchResumesWithoutRedoingCopiedStages: a branch's River jobs,
// stopped hard mid-round and resumed by a restarted process, ask neither the
// copied stage 0 nor a stored step of their own again; the branch ends
// complete. Then deleting the network purges parent and branch alike.
func TestBranchResumesWithoutRedoingCopiedStages(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 2*time.Millisecond)
			first := h.service(1, func(c *Config) { c.DefaultConcurrency = 1 })
			ctx := context.Background()
			parent, err := first.Run(ctx, RunInput{Trigger: "Branch me.", Rounds: ptrTo(1)})
			if err != nil {
				t.Fatal(err)
			}
			h.wait(parent.ID, 60*time.Second)
			if n := reactionCalls(h); n != 20 {
				t.Fatalf("parent made %d stage-0 calls, want 20", n)
			}

			h.fk.SetLatency(150 * time.Millisecond)
			callsBefore := len(h.fk.Requests())
			branch, err := first.Run(ctx, RunInput{FromSimulation: &parent.ID, Rounds: ptrTo(2)})
			if err != nil {
				t.Fatal(err)
			}
			if branch.ParentID == nil || *branch.ParentID != parent.ID || *branch.BranchedFromRound != 0 || branch.TotalSteps != 40 ||
				branch.CurrentRound != 1 || h.states(branch.ID, 0) != 20 {
				t.Fatalf("queued branch = %+v with %d states at round 0", branch, h.states(branch.ID, 0))
			}
			for h.states(branch.ID, 1) < 3 {
				time.Sleep(10 * time.Millisecond)
			}
			// A hard stop: in-flight jobs are canceled mid-call, as in a crash.
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := first.river.StopAndCancel(sctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			// Every step of the branch makes one call (every agent has a view):
			// after the restart, exactly the steps not stored are asked.
			stored := h.states(branch.ID, 1) + h.states(branch.ID, 2)
			if stored == 0 || stored >= 40 {
				t.Fatalf("stopped with %d of 40 steps stored", stored)
			}
			resumeFrom := len(h.fk.Requests())

			h.fk.SetLatency(2 * time.Millisecond)
			h.service(2, nil) // a restarted process
			done := h.wait(branch.ID, 60*time.Second)
			if done.Status != entsim.StatusSUCCEEDED || h.states(branch.ID, 0) != 20 || h.states(branch.ID, 1) != 20 || h.states(branch.ID, 2) != 20 {
				t.Fatalf("after resume: %s with %d/%d/%d states", done.Status, h.states(branch.ID, 0), h.states(branch.ID, 1), h.states(branch.ID, 2))
			}
			reqs := h.fk.Requests()
			if n := reactionCallsIn(reqs[callsBefore:]); n != 0 {
				t.Fatalf("the branch asked %d stage-0 reactions", n)
			}
			if n := len(reqs) - resumeFrom; n != 40-stored {
				t.Fatalf("after the restart the branch made %d calls for its %d missing steps", n, 40-stored)
			}
			if done.CompletedSteps != 40 || done.TotalSteps != 40 {
				t.Fatalf("branch progress %d/%d, want 40/40", done.CompletedSteps, done.TotalSteps)
			}

			// The purge deletes parent and branch (SET NULL keeps any order valid).
			if err := first.Graphs().Delete(ctx, h.net.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := h.db.Client.Simulation.Get(ctx, branch.ID); !ent.IsNotFound(err) {
				t.Fatalf("a deleted network's branch is still read: %v", err)
			}
			if ok, err := first.Graphs().Purge(ctx, h.net.ID, 0); !ok || err != nil {
				t.Fatalf("purge: %v %v", ok, err)
			}
			var left int
			if err := h.db.SQL.QueryRow("SELECT COUNT(*) FROM simulations").Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d simulations left after the purge (%v)", left, err)
			}
		})
	}
}

// reactionCalls counts the stage-0 calls the fake has seen.
func reactionCalls(h *harness) int { return reactionCallsIn(h.fk.Requests()) }

// reactionCallsIn counts the stage-0 calls among reqs: the reaction prompt is
// the only one without the agent's own view.
func reactionCallsIn(reqs []fakellm.Request) int {
	n := 0
	for _, r := range reqs {
		if !strings.Contains(r.User, "Your view (") && !strings.Contains(r.User, "no view on it yet") {
			n++
		}
	}
	return n
}

// TestBranchFromRunningParent: a run still working on its later rounds can
// be branched from a round it has completed (a complete round's states never
// change), but not from one it has not.
func TestBranchFromRunningParent(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, 100*time.Millisecond)
			s := h.service(1, func(c *Config) { c.DefaultConcurrency = 1 })
			ctx := context.Background()
			parent, err := s.Run(ctx, RunInput{Trigger: "Still running.", Rounds: ptrTo(2)})
			if err != nil {
				t.Fatal(err)
			}
			for h.states(parent.ID, 0) < 20 {
				time.Sleep(10 * time.Millisecond)
			}
			// Round 1 takes 20 calls of 100 ms one at a time: it is far from complete.
			_, err = s.Run(ctx, RunInput{FromSimulation: &parent.ID, FromRound: ptrTo(1), Engine: ptrTo("DEGROOT")})
			if err == nil || !strings.Contains(err.Error(), "fromRound 1") || !strings.Contains(err.Error(), "rounds 0..0 complete") {
				t.Fatalf("branch from an incomplete round: %v", err)
			}
			branch, err := s.Run(ctx, RunInput{FromSimulation: &parent.ID, Engine: ptrTo("DEGROOT")})
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := s.status(ctx, parent.ID); st != entsim.StatusRUNNING {
				t.Fatalf("the parent is %s, not running any more: the test proves nothing", st)
			}
			done := h.wait(branch.ID, 60*time.Second)
			if done.Status != entsim.StatusSUCCEEDED || h.states(branch.ID, 2) != 20 || done.Calls != 0 {
				t.Fatalf("branch of a running parent: %+v", done)
			}
			if _, err := s.Cancel(ctx, parent.ID); err != nil { // no need to finish it
				t.Fatal(err)
			}
		})
	}
}

// A branch keeps its parent's answer-cache opt-in where its engine asks an
// LLM, and drops it (rather than refusing the branch) where it does not.
func TestBranchInheritsCache(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			h := newHarness(t, dialect, time.Millisecond)
			s := h.service(2, nil)
			ctx := context.Background()
			parent, err := s.Run(ctx, RunInput{Trigger: "Cache me.", Rounds: ptrTo(1), Temperature: ptrTo(0.0), Seed: ptrTo(int64(3)), Cache: ptrTo(true)})
			if err != nil {
				t.Fatal(err)
			}
			h.wait(parent.ID, 60*time.Second)
			for _, c := range []struct {
				engine *string
				cache  *bool
				want   bool
			}{{nil, nil, true}, {ptrTo("HYBRID"), nil, true}, {ptrTo("DEGROOT"), nil, false}, {nil, ptrTo(false), false}} {
				b, err := s.Run(ctx, RunInput{FromSimulation: &parent.ID, Engine: c.engine, Cache: c.cache})
				if err != nil {
					t.Fatalf("engine %v, cache %v: %v", c.engine, c.cache, err)
				}
				if b.Params.Cache != c.want {
					t.Fatalf("engine %v, cache %v: branch cache %v, want %v", c.engine, c.cache, b.Params.Cache, c.want)
				}
				h.wait(b.ID, 60*time.Second)
			}
		})
	}
}
