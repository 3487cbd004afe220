package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testwait"
)

// TestPostgresRestart restarts PostgreSQL (pg_ctlcluster restart, fast mode)
// in the middle of an LLM run and checks that the server and the run recover
// by themselves: the process stays up, /readyz is 200 again, the run
// succeeds with every agent's state for every round, GraphQL answers, and the
// LLM was asked again only for calls in flight at the restart.
//
// It restarts a whole cluster, so it runs only against a throwaway one named
// by PG_RESTART_URL (a superuser URL) and PG_RESTART_CLUSTER ("VERSION NAME"),
// as e2e/pg-restart.sh sets up. Never point it at a shared cluster.
func TestPostgresRestart(t *testing.T) {
	adminURL, cluster := os.Getenv("PG_RESTART_URL"), strings.Fields(os.Getenv("PG_RESTART_CLUSTER"))
	if adminURL == "" || len(cluster) != 2 {
		t.Skip("PG_RESTART_URL and PG_RESTART_CLUSTER (\"VERSION NAME\") are unset: this test restarts a " +
			"PostgreSQL cluster of its own; run it with e2e/pg-restart.sh, which creates one")
	}
	const (
		agents     = 20 // testdata/ethox-network-20.json
		rounds     = 2
		steps      = agents * (rounds + 1) // stage 0 plus the influence rounds
		llmLatency = 150 * time.Millisecond
	)
	fixture := fixtures.Read(t, fixtures.Network20)

	// A fresh database on the throwaway cluster.
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	dbName := "ethox_restart_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + dbName); err != nil {
		admin.Close()
		t.Fatalf("create database on PG_RESTART_URL: %v", err)
	}
	t.Cleanup(func() { // after the deferred server stop below
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", dbName, err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + dbName
	dbURL := u.String()

	bin := buildBinary(t)
	fk := fakellm.New(llmLatency)
	defer fk.Close()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	logs := &pgrLogs{}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL="+dbURL,
		"WORKERS=2", "LLM_CONCURRENCY=2", "SIM_CHUNK_SIZE=5", "DEMO_DATA=false",
		"OPENAI_BASE_URL="+fk.BaseURL(), "OPENAI_API_KEY=test")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the server exited: %v", err)
		default:
		}
	}
	if err := pgrWaitReady(base, exited, 30*time.Second); err != nil {
		t.Fatalf("server not ready: %v", err)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadGraph(file: $f) { network { id nodeCount } } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "network.json")
	_, _ = fw.Write(fixture)
	_ = mw.Close()
	if out := post(t, base, mw.FormDataContentType(), &body); !strings.Contains(out, fmt.Sprintf(`"nodeCount":%d`, agents)) {
		t.Fatalf("upload: %s", out)
	}
	out := post(t, base, "application/json", strings.NewReader(fmt.Sprintf(
		`{"query":"mutation { runSimulation(input: {trigger: \"The city will close the central library on Sundays.\", rounds: %d, engine: LLM}) { id status } }"}`, rounds)))
	var run struct {
		Data struct{ RunSimulation struct{ ID string } } `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.Data.RunSimulation.ID == "" {
		t.Fatalf("runSimulation: %s", out)
	}
	id := run.Data.RunSimulation.ID

	type progress struct {
		Status   string
		Error    *string
		Progress struct{ Round, CompletedSteps, TotalSteps int }
		Usage    struct{ Calls, Retries, FailedSteps int }
	}
	// poll reads the run through the API; an error is not fatal (the database may be down).
	poll := func() (progress, error) {
		var r struct {
			Data struct {
				Simulation *progress
			}
			Errors []struct{ Message string }
		}
		raw, err := pgrQuery(base, `{ simulation(id: "`+id+`") { status error progress { round completedSteps totalSteps } usage { calls retries failedSteps } } }`)
		if err != nil {
			return progress{}, err
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return progress{}, fmt.Errorf("%v: %s", err, raw)
		}
		if len(r.Errors) > 0 || r.Data.Simulation == nil {
			return progress{}, fmt.Errorf("errors: %s", raw)
		}
		return *r.Data.Simulation, nil
	}

	// Restart while the run is under way.
	var before progress
	testwait.Until(t, 30*time.Second, testwait.Interval, func() (bool, string) {
		if before, err = poll(); err != nil {
			t.Fatalf("progress before the restart: %v", err)
		}
		if before.Progress.CompletedSteps < 10 && testwait.Ended(before.Status) {
			t.Fatalf("no run to interrupt: %s with %d steps", before.Status, before.Progress.CompletedSteps)
		}
		return before.Progress.CompletedSteps >= 10, fmt.Sprintf("no run to interrupt: %s with %d steps", before.Status, before.Progress.CompletedSteps)
	})
	if before.Progress.TotalSteps != steps {
		t.Fatalf("totalSteps %d, want %d", before.Progress.TotalSteps, steps)
	}
	callsBefore := len(fk.Requests())
	restartBegan := time.Now()
	restart := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", cluster[0], cluster[1], "restart", "-m", "fast")
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster restart: %v\n%s", err, out)
	}
	restartDone := time.Now()
	t.Logf("PostgreSQL restarted in %v at %d/%d stored steps (round %d), %d LLM calls so far",
		restartDone.Sub(restartBegan).Round(time.Millisecond), before.Progress.CompletedSteps, steps, before.Progress.Round, callsBefore)

	// The server recovers by itself.
	alive()
	if err := pgrWaitReady(base, exited, 60*time.Second); err != nil {
		t.Fatalf("/readyz after the restart: %v", err)
	}
	t.Logf("/readyz is 200 again %v after the restart", time.Since(restartDone).Round(time.Millisecond))

	// So does the run.
	var final progress
	var lastErr error
	testwait.RunEndEvery(t, 120*time.Second, 100*time.Millisecond, func() (string, string) {
		alive()
		if p, err := poll(); err == nil {
			final = p
		} else {
			lastErr = err
		}
		return final.Status, fmt.Sprintf("with %d/%d steps after the restart (last poll error: %v)", final.Progress.CompletedSteps, steps, lastErr)
	})
	if final.Status != "SUCCEEDED" {
		msg := ""
		if final.Error != nil {
			msg = *final.Error
		}
		t.Fatalf("after the restart the run ended %s: %s (%d/%d steps)", final.Status, msg, final.Progress.CompletedSteps, steps)
	}
	t.Logf("the run SUCCEEDED %v after the restart: %d steps, %d calls, %d retries, %d failed steps",
		time.Since(restartDone).Round(time.Millisecond), final.Progress.CompletedSteps, final.Usage.Calls, final.Usage.Retries, final.Usage.FailedSteps)
	if final.Progress.CompletedSteps != steps || final.Usage.FailedSteps != 0 {
		t.Errorf("completedSteps %d (want %d), failedSteps %d (want 0)", final.Progress.CompletedSteps, steps, final.Usage.FailedSteps)
	}

	// Every agent has exactly one state per round, straight from the database.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var simPK int
	if err := db.QueryRow(`SELECT id FROM simulations ORDER BY id DESC LIMIT 1`).Scan(&simPK); err != nil {
		t.Fatal(err)
	}
	var stored, called, failed int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE prompt_tokens > 0), COUNT(*) FILTER (WHERE failed)
		FROM agent_states WHERE simulation_id = $1`, simPK).Scan(&stored, &called, &failed); err != nil {
		t.Fatal(err)
	}
	if stored != steps || failed != 0 {
		t.Errorf("%d stored states (want %d = %d agents × %d rounds + stage 0), %d failed", stored, steps, agents, rounds, failed)
	}
	for r := 0; r <= rounds; r++ {
		var n int
		if err := db.QueryRow(`SELECT COUNT(DISTINCT agent_id) FROM agent_states WHERE simulation_id = $1 AND round = $2`, simPK, r).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != agents {
			t.Errorf("round %d: %d agents have a state, want %d", r, n, agents)
		}
	}

	// No stored step was recomputed: beyond the steps that needed a call, the
	// LLM saw at most the calls in flight at the restart (started before it
	// was over and not finished, with its store, before it began).
	reqs := fk.Requests()
	inFlight, seen, repeated := 0, map[string]int{}, 0
	from := restartBegan.Add(-llmLatency - 100*time.Millisecond)
	for _, r := range reqs {
		if r.At.After(from) && r.At.Before(restartDone) {
			inFlight++
		}
		seen[r.User]++
		if seen[r.User] > 1 {
			repeated++
		}
	}
	t.Logf("LLM: %d calls for %d steps that needed one; %d in flight at the restart; %d prompts asked again", len(reqs), called, inFlight, repeated)
	if len(reqs) > called+inFlight || repeated > inFlight {
		for _, r := range reqs {
			if seen[r.User] > 1 {
				t.Logf("asked %d times: at %s (restart %s..%s)", seen[r.User], r.At.Format("15:04:05.000"),
					restartBegan.Format("15:04:05.000"), restartDone.Format("15:04:05.000"))
			}
		}
		t.Errorf("%d LLM calls (%d prompts asked again) for %d steps with %d calls in flight at the restart: a stored step was asked again",
			len(reqs), repeated, called, inFlight)
	}

	// GraphQL works after the restart, through the same pool.
	raw, err := pgrQuery(base, `{ graph { metadata { nodeCount } } simulation(id: "`+id+`") { finalGraph { nodes { agentId textOpinion } } states(round: `+fmt.Sprint(rounds)+`, first: 100) { totalCount } } }`)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Data struct {
			Graph      struct{ Metadata struct{ NodeCount int } }
			Simulation struct {
				FinalGraph struct {
					Nodes []struct {
						AgentID     string
						TextOpinion *string
					}
				}
				States struct{ TotalCount int }
			}
		}
		Errors []any
	}
	if err := json.Unmarshal(raw, &g); err != nil || len(g.Errors) > 0 {
		t.Fatalf("query after the restart: %v %s", err, raw)
	}
	if g.Data.Graph.Metadata.NodeCount != agents || len(g.Data.Simulation.FinalGraph.Nodes) != agents || g.Data.Simulation.States.TotalCount != agents {
		t.Fatalf("query after the restart: %s", raw)
	}
	alive()
}

// pgrWaitReady waits for /readyz to answer 200, failing early if the process exits.
func pgrWaitReady(base string, exited chan error, within time.Duration) error {
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v; last answer: %s", within, last)
}

// pgrQuery posts a GraphQL query and returns the body, without failing the
// test: callers decide what an error means.
func pgrQuery(base, query string) ([]byte, error) {
	b, _ := json.Marshal(map[string]string{"query": query})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// pgrLogs collects the server's output; safe to read while it writes.
type pgrLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *pgrLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *pgrLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
