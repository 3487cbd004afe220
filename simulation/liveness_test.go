package simulation

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/internal/testdb"
)

// rescueOrphans re-queues exactly the running jobs whose process has no live
// lease, and fails the run of one that had used its last attempt.
func TestRescueOrphans(t *testing.T) {
	self := strings.Split(thisProcess, "/")
	if len(self) != 4 {
		t.Fatalf("no process identity on this machine (%q): /proc is needed", thisProcess)
	}
	// This very process, under a start time it does not have: "exited" (its PID reused).
	reused := strings.Join([]string{self[0], self[1], self[2], "1"}, "/")
	// A process of another machine: known only by its lease.
	remote := "other-boot/pid:[1]/" + strconv.Itoa(os.Getpid()) + "/1"
	now := time.Now().UTC()
	cases := []struct {
		name       string
		lease      *leaseState // nil: no lease row
		ranFor     time.Duration
		exhausted  bool
		lock       string // SQLite: the holder's lock file "abandoned" or "held"; none when empty
		wantState  rivertype.JobState
		wantFailed bool
	}{
		{name: "expired lease", lease: &leaseState{expires: now.Add(-time.Second)}, ranFor: time.Minute, wantState: rivertype.JobStateAvailable},
		{name: "live lease, slow job", lease: &leaseState{expires: now.Add(time.Minute)}, ranFor: time.Hour, wantState: rivertype.JobStateRunning},
		{name: "live lease of another machine", lease: &leaseState{process: remote, expires: now.Add(time.Minute)}, ranFor: time.Minute, wantState: rivertype.JobStateRunning},
		{name: "live lease of this process", lease: &leaseState{process: thisProcess, expires: now.Add(time.Minute)}, ranFor: time.Minute, wantState: rivertype.JobStateRunning},
		{name: "live lease, holder exited", lease: &leaseState{process: reused, expires: now.Add(time.Minute)}, ranFor: time.Second, wantState: rivertype.JobStateAvailable},
		{name: "no lease, just taken", ranFor: time.Second, wantState: rivertype.JobStateRunning},
		{name: "no lease, taken long ago", ranFor: time.Minute, wantState: rivertype.JobStateAvailable},
		{name: "live lease, lock file abandoned", lease: &leaseState{process: remote, expires: now.Add(time.Minute)}, ranFor: time.Second,
			lock: "abandoned", wantState: rivertype.JobStateAvailable},
		{name: "live lease, lock file held", lease: &leaseState{process: remote, expires: now.Add(time.Minute)}, ranFor: time.Minute,
			lock: "held", wantState: rivertype.JobStateRunning},
		{name: "expired lease, last attempt", lease: &leaseState{expires: now.Add(-time.Second)}, ranFor: time.Minute, exhausted: true,
			wantState: rivertype.JobStateDiscarded, wantFailed: true},
	}
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, dialect, 0)
			s := h.service(0, nil) // not working jobs: the jobs below stay as the test leaves them
			exec := s.river.Driver().GetExecutor()
			ph := h.db.Placeholder
			if dialect == "sqlite" {
				if err := s.takeLock(ctx); err != nil || s.lockDir == "" {
					t.Fatalf("lock dir %q: %v", s.lockDir, err)
				}
				t.Cleanup(s.dropLock)
			}
			skip := func(i int) bool { return cases[i].lock != "" && dialect != "sqlite" } // no lock files on PostgreSQL
			ids := make([]int64, len(cases))
			sims := make([]int, len(cases))
			for i := range cases {
				sim, err := s.Run(ctx, RunInput{Trigger: "Orphans.", Rounds: ptrTo(1)})
				if err != nil {
					t.Fatal(err)
				}
				sims[i] = sim.ID
			}
			// The runs' own jobs would do as well, but one job per case is easier to follow.
			if _, err := h.db.SQL.Exec(`DELETE FROM river_job`); err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				if skip(i) {
					continue
				}
				res, err := s.river.Insert(ctx, ChunkArgs{SimulationID: sims[i]}, nil)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = res.Job.ID
				client := "client-" + strconv.Itoa(i)
				switch c.lock {
				case "abandoned":
					if err := os.WriteFile(filepath.Join(s.lockDir, lockName(client)), nil, 0o600); err != nil {
						t.Fatal(err)
					}
				case "held":
					f, err := lockFile(filepath.Join(s.lockDir, lockName(client)))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { f.Close() })
				}
				if c.lease != nil {
					if _, err := h.db.SQL.Exec(`INSERT INTO worker_leases (client_id, process, expires_at) VALUES (`+ph(1)+`, `+ph(2)+`, `+ph(3)+`)`,
						client, c.lease.process, c.lease.expires); err != nil {
						t.Fatal(err)
					}
				}
				at := now.Add(-c.ranFor)
				attempts := 10
				if c.exhausted {
					attempts = 1
				}
				if _, err := exec.JobUpdateFull(ctx, &riverdriver.JobUpdateFullParams{ID: res.Job.ID,
					StateDoUpdate: true, State: rivertype.JobStateRunning, AttemptDoUpdate: true, Attempt: 1,
					MaxAttemptsDoUpdate: true, MaxAttempts: attempts,
					AttemptedAtDoUpdate: true, AttemptedAt: &at, AttemptedByDoUpdate: true, AttemptedBy: []string{"earlier", client}}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.rescueOrphans(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i, c := range cases {
				if skip(i) {
					continue
				}
				job, err := s.river.JobGet(ctx, ids[i])
				if err != nil {
					t.Fatal(err)
				}
				if job.State != c.wantState {
					t.Errorf("%s: job %s, want %s", c.name, job.State, c.wantState)
				}
				if c.wantState != rivertype.JobStateRunning {
					want++
					if len(job.Errors) == 0 || !strings.Contains(job.Errors[len(job.Errors)-1].Error, "no live lease") {
						t.Errorf("%s: errors %v", c.name, job.Errors)
					}
				}
				sim, err := h.db.Client.Simulation.Get(ctx, sims[i])
				if err != nil {
					t.Fatal(err)
				}
				if failed := sim.Status == entsim.StatusFAILED; failed != c.wantFailed {
					t.Errorf("%s: run %s (error %v)", c.name, sim.Status, sim.Error)
				}
			}
			if n != want {
				t.Errorf("rescued %d jobs, want %d", n, want)
			}
			// A second sweep finds nothing more.
			if n, err := s.rescueOrphans(ctx); err != nil || n != 0 {
				t.Errorf("second sweep: %d, %v", n, err)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	cases := []struct {
		line, state, start string
		ok                 bool
	}{
		{"42 (ethox) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 12345 100 1", "S", "12345", true},
		{"42 (a) b (c)) Z 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 777 100 1", "Z", "777", true},
		{"42 (short) S 1", "", "", false},
		{"garbage", "", "", false},
	}
	for _, c := range cases {
		state, start, ok := parseStat(c.line)
		if state != c.state || start != c.start || ok != c.ok {
			t.Errorf("parseStat(%q) = %q %q %v", c.line, state, start, ok)
		}
	}
	if processExited(thisProcess) {
		t.Error("this process counts as exited")
	}
	if processExited("") || processExited("a/b/c") {
		t.Error("an unknown process counts as exited")
	}
}
