package experiment_test

import (
	"context"
	"testing"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/internal/testwait"
	"github.com/ethox/ethox/simulation"
)

func ptr[T any](v T) *T { return &v }

// process is one server's services over a database.
func process(t *testing.T, db *database.DB) (*simulation.Service, *experiment.Service) {
	t.Helper()
	exps := experiment.New(db, experiment.Config{Poll: 100 * time.Millisecond}, nil)
	sims, err := simulation.New(db, nil, simulation.Config{Workers: 2, PollInterval: 50 * time.Millisecond, AddWorkers: exps.AddWorkers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exps.Attach(sims)
	if err := sims.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sims, exps
}

// An experiment stopped with its process carries on in the next one from its
// stored rows, and ends with its result once.
func TestExperimentSurvivesRestart(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db := testdb.Open(t, dialect)
			net, err := graphstore.New(db).Generate(ctx, graphstore.GenerateOptions{NumAgents: 30, Seed: ptr(uint64(3))})
			if err != nil {
				t.Fatal(err)
			}
			sims1, exps1 := process(t, db)
			arm := func(name string, w float64) experiment.ArmInput {
				return experiment.ArmInput{Name: name, Input: simulation.RunInput{Trigger: "T", Engine: ptr("FRIEDKIN_JOHNSEN"), SelfWeight: &w}}
			}
			e, err := exps1.Create(ctx, experiment.CreateInput{NetworkID: &net.ID, Replicates: 6, Seed: ptr(int64(5)),
				ConcurrentRuns: ptr(1), Arms: []experiment.ArmInput{arm("a", 0.2), arm("b", 3)}})
			if err != nil {
				t.Fatal(err)
			}
			progress := func(exps *experiment.Service) *experiment.Progress {
				x, err := exps.Get(ctx, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				p, err := exps.ProgressOf(ctx, x)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			testwait.Until(t, time.Minute, 10*time.Millisecond, func() (bool, string) {
				return progress(exps1).RunsDone >= 1, "no run done"
			})
			stop, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := sims1.Stop(stop); err != nil {
				t.Fatal(err)
			}
			mid := progress(exps1)
			if mid.Status != "RUNNING" || mid.RunsStarted == 12 {
				t.Fatalf("nothing left for the next process: %+v", mid)
			}

			sims2, exps2 := process(t, db)
			t.Cleanup(func() { _ = sims2.Stop(context.Background()) })
			status := testwait.RunEnd(t, 2*time.Minute, func() (string, string) {
				p := progress(exps2)
				return string(p.Status), ""
			})
			p := progress(exps2)
			if status != "SUCCEEDED" || p.RunsSucceeded != 12 {
				t.Fatalf("after the restart: %s %+v", status, p)
			}
			results, err := exps2.Results(ctx, e.ID)
			if err != nil || len(results) != 1 {
				t.Fatalf("%d results (%v)", len(results), err)
			}
			r, err := experiment.ResultFromMap(results[0].Result)
			if err != nil || r.Arms[0].Succeeded != 6 || r.Arms[1].Care.N != 6 {
				t.Fatalf("result %+v %v", r, err)
			}
		})
	}
}
