package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/internal/testwait"
)

// The crash tests run the real binary with the default JOB_TIMEOUT,
// JOB_RESCUE_AFTER and WORKER_LEASE (unless a test says otherwise), kill it
// with SIGKILL in the middle of an LLM run, and measure how soon the run
// resumes and how many LLM calls it made.

// lockedBuffer is a process's log, written by exec's copier while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a started ethox process.
type proc struct {
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan error
}

// startProc starts the binary with args in dir and waits until it is ready:
// /readyz for a server, its "ethox worker running" line for a worker.
func startProc(t *testing.T, dir string, env []string, base string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(buildBinary(t), args...), logs: &lockedBuffer{}, exited: make(chan error, 1)}
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = dir, env, p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop() })
	if len(args) > 0 && args[0] == "worker" {
		testwait.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
			select {
			case err := <-p.exited:
				p.exited <- err
				t.Fatalf("worker exited: %v\n%s", err, p.logs)
			default:
			}
			return strings.Contains(p.logs.String(), "ethox worker running"), "worker not running\n" + p.logs.String()
		})
		return p
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("server exited: %v\n%s", err, p.logs)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL and reaps it.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.exited
	p.exited <- err
}

// stop ends the process with SIGTERM (if it still runs) and reaps it.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := <-p.exited
	p.exited <- err
}

// crashEnv is the environment of a crash test's processes.
func crashEnv(port int, databaseURL string, fk *fakellm.Server, extra ...string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "JOB_TIMEOUT", "JOB_RESCUE_AFTER", "WORKER_LEASE", "WORKERS", "DATABASE_URL", "HOST", "PORT":
			continue // the defaults, unless a test says
		}
		env = append(env, kv)
	}
	return append(append(env, "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL="+databaseURL, "WORKERS=2",
		"OPENAI_BASE_URL="+fk.BaseURL(), "OPENAI_API_KEY=test", "LLM_CONCURRENCY=2", "SIM_CHUNK_SIZE=5", "DEMO_DATA=false"), extra...)
}

// startRun uploads the 20-agent fixture and starts a one-round LLM run (40 steps).
func startRun(t *testing.T, base string) (id string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadGraph(file: $f) { network { id } } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "network.json")
	_, _ = fw.Write(fixtures.Read(t, fixtures.Network20))
	_ = mw.Close()
	post(t, base, mw.FormDataContentType(), &body)
	out := post(t, base, "application/json", strings.NewReader(`{"query":"mutation { runSimulation(input: {trigger: \"Crash test.\", rounds: 1}) { id } }"}`))
	var run struct {
		Data struct{ RunSimulation struct{ ID string } } `json:"data"`
	}
	_ = json.Unmarshal([]byte(out), &run)
	return run.Data.RunSimulation.ID
}

// runProgress reads a run's status and completed steps over GraphQL.
func runProgress(t *testing.T, base, id string) (status string, steps int) {
	t.Helper()
	out := post(t, base, "application/json", strings.NewReader(`{"query":"{ simulation(id: \"`+id+`\") { status progress { completedSteps } } }"}`))
	var r struct {
		Data struct {
			Simulation struct {
				Status   string
				Progress struct{ CompletedSteps int }
			}
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(out), &r)
	return r.Data.Simulation.Status, r.Data.Simulation.Progress.CompletedSteps
}

// TestCrashResume kills the server with SIGKILL in the middle of an LLM run,
// restarts it with the default settings, and checks that the run resumes
// within 10 s of the server being ready and completes without asking the LLM
// again for any step stored before the crash.
func TestCrashResume(t *testing.T) {
	fk := fakellm.New(150 * time.Millisecond)
	defer fk.Close()
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := crashEnv(port, "", fk)
	srv := startProc(t, dir, env, base)
	id := startRun(t, base)
	testwait.Until(t, 30*time.Second, testwait.Interval, func() (bool, string) {
		_, steps := runProgress(t, base, id)
		return steps >= 8, "no progress before the crash"
	})
	srv.kill()
	callsBefore := fk.Calls()
	stored := storedSteps(t, dir)

	srv = startProc(t, dir, env, base)
	ready := time.Now()
	testwait.Until(t, 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		_, steps := runProgress(t, base, id)
		return steps > stored, fmt.Sprintf("no step stored within 10 s of the restart (%d before the crash)\n%s", stored, srv.logs)
	})
	t.Logf("resumed %s after the server was ready (%d of 40 steps stored before the crash)", time.Since(ready).Round(time.Millisecond), stored)
	var steps int
	status := testwait.RunEndEvery(t, 60*time.Second, 50*time.Millisecond, func() (string, string) {
		var status string
		status, steps = runProgress(t, base, id)
		return status, fmt.Sprintf("with %d steps after the restart", steps)
	})
	if status != "SUCCEEDED" || steps != 40 {
		t.Fatalf("after restart: %s with %d steps\n%s", status, steps, srv.logs)
	}
	if after := fk.Calls() - callsBefore; after > 40-stored {
		t.Fatalf("%d calls after the restart for %d missing steps: a stored step was asked again", after, 40-stored)
	}
}

// storedSteps reads the stored step count straight from the SQLite file.
func storedSteps(t *testing.T, dir string) int {
	t.Helper()
	db, err := database.Open(context.Background(), "sqlite://"+filepath.Join(dir, "ethox.db"), database.PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM agent_states").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// twoProcesses starts a server and an `ethox worker` on a fresh PostgreSQL
// database and returns them with the database and the server's base URL.
func twoProcesses(t *testing.T, fk *fakellm.Server, extra ...string) (srv, wrk *proc, db *sql.DB, base string) {
	t.Helper()
	if why := testdb.PostgresSkipped(); why != "" {
		t.Skip(why)
	}
	url := testdb.URL(t, "postgres")
	dir := t.TempDir()
	port := freePort(t)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	srv = startProc(t, dir, crashEnv(port, url, fk, extra...), base)
	wrk = startProc(t, dir, crashEnv(freePort(t), url, fk, extra...), "", "worker")
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return srv, wrk, db, base
}

// runningJobs lists the running jobs of the process with this PID (by its lease).
func runningJobs(t *testing.T, db *sql.DB, pid int) []int64 {
	t.Helper()
	rows, err := db.Query(`SELECT j.id FROM river_job j JOIN worker_leases l ON l.client_id = j.attempted_by[array_length(j.attempted_by, 1)]
		WHERE j.state = 'running' AND l.process LIKE $1`, "%/"+strconv.Itoa(pid)+"/%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestCrashTakeoverPostgres runs an LLM run on a server and an `ethox worker`
// sharing a PostgreSQL database, kills the worker with SIGKILL while it works
// jobs of the run, and checks that the server takes them over within 30 s
// and the run completes, repeating at most the worker's calls in flight.
func TestCrashTakeoverPostgres(t *testing.T) {
	fk := fakellm.New(200 * time.Millisecond)
	defer fk.Close()
	srv, wrk, db, base := twoProcesses(t, fk)
	id := startRun(t, base)
	var held []int64
	testwait.Until(t, 30*time.Second, 20*time.Millisecond, func() (bool, string) {
		held = runningJobs(t, db, wrk.cmd.Process.Pid)
		_, steps := runProgress(t, base, id)
		return len(held) > 0 && steps >= 4, "the worker never ran a job of the run\n" + wrk.logs.String()
	})
	wrk.kill()
	killed := time.Now()
	var takeover time.Duration
	testwait.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM river_job WHERE id = ANY($1) AND state = 'running'
			AND NOT EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE '%no live lease%')`, held).Scan(&n); err != nil {
			t.Fatal(err)
		}
		takeover = time.Since(killed)
		return n == 0, fmt.Sprintf("%d of the dead worker's %d jobs not taken over within 30 s\n%s", n, len(held), srv.logs)
	})
	t.Logf("the worker's %d running jobs were re-queued %s after its SIGKILL", len(held), takeover.Round(time.Millisecond))
	var steps int
	status := testwait.RunEndEvery(t, 90*time.Second, 50*time.Millisecond, func() (string, string) {
		var status string
		status, steps = runProgress(t, base, id)
		return status, fmt.Sprintf("with %d steps", steps)
	})
	if status != "SUCCEEDED" || steps != 40 {
		t.Fatalf("%s with %d steps\n%s", status, steps, srv.logs)
	}
	// Only calls the worker had in flight at the kill (sent, or answered and not yet stored) are asked again.
	asked := map[string]time.Time{}
	repeats := 0
	for _, r := range fk.Requests() {
		first, seen := asked[r.System+r.User]
		if !seen {
			asked[r.System+r.User] = r.At
			continue
		}
		repeats++
		if !first.Before(killed) {
			t.Errorf("a call first asked %s after the kill was asked again", first.Sub(killed))
		}
	}
	// The worker runs at most LLM_CONCURRENCY=2 calls at a time, and frees a slot before storing the answer.
	if len(asked) != 40 || repeats > 4 {
		t.Fatalf("%d distinct calls for 40 steps, %d repeated", len(asked), repeats)
	}
	t.Logf("%d calls for 40 steps: %d repeated from the killed worker", len(asked)+repeats, repeats)
}

// TestSlowJobNotTakenOver holds every LLM call for several leases
// (WORKER_LEASE=3s, calls of 10 s) while a server and a worker run a run, and
// checks that no live process's job was taken over: no job re-queued, and
// exactly one call per step.
func TestSlowJobNotTakenOver(t *testing.T) {
	fk := fakellm.New(10 * time.Second)
	defer fk.Close()
	srv, wrk, db, base := twoProcesses(t, fk, "WORKER_LEASE=3s")
	id := startRun(t, base)
	testwait.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		return len(runningJobs(t, db, srv.cmd.Process.Pid)) > 0 && len(runningJobs(t, db, wrk.cmd.Process.Pid)) > 0,
			"not both processes run jobs of the run"
	})
	time.Sleep(12 * time.Second) // four leases with calls in flight
	fk.SetLatency(20 * time.Millisecond)
	var steps int
	status := testwait.RunEndEvery(t, 90*time.Second, 50*time.Millisecond, func() (string, string) {
		var status string
		status, steps = runProgress(t, base, id)
		return status, fmt.Sprintf("with %d steps", steps)
	})
	if status != "SUCCEEDED" || steps != 40 {
		t.Fatalf("%s with %d steps\n%s", status, steps, srv.logs)
	}
	var requeued int
	if err := db.QueryRow(`SELECT COUNT(*) FROM river_job WHERE EXISTS (SELECT 1 FROM unnest(errors) e WHERE e->>'error' LIKE '%no live lease%')`).Scan(&requeued); err != nil {
		t.Fatal(err)
	}
	if calls := fk.Calls(); requeued != 0 || calls != 40 {
		t.Fatalf("%d jobs of live processes re-queued, %d LLM calls for 40 steps\n%s\n%s", requeued, calls, srv.logs, wrk.logs)
	}
}
