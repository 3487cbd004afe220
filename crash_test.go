package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testwait"
)

// TestCrashResume kills the server with SIGKILL in the middle of an LLM run,
// restarts it, and checks that the run completes without asking the LLM
// again for any step stored before the crash.
func TestCrashResume(t *testing.T) {
	fixture := fixtures.Read(t, fixtures.Network20)
	bin := buildBinary(t)
	fk := fakellm.New(150 * time.Millisecond)
	defer fk.Close()
	dir := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "WORKERS=2",
		"OPENAI_BASE_URL="+fk.BaseURL(), "OPENAI_API_KEY=test", "LLM_CONCURRENCY=2",
		"JOB_TIMEOUT=2s", "JOB_RESCUE_AFTER=3s", "SIM_CHUNK_SIZE=5", "DEMO_DATA=false")
	start := func() (*exec.Cmd, *bytes.Buffer, chan error) {
		var logs bytes.Buffer
		cmd := exec.Command(bin)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitHealthy(t, base, done, &logs)
		return cmd, &logs, done
	}
	srv, _, exited := start()

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadGraph(file: $f) { network { id } } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "network.json")
	_, _ = fw.Write(fixture)
	_ = mw.Close()
	post(t, base, mw.FormDataContentType(), &body)
	out := post(t, base, "application/json", strings.NewReader(`{"query":"mutation { runSimulation(input: {trigger: \"Crash test.\", rounds: 1}) { id } }"}`))
	var run struct {
		Data struct{ RunSimulation struct{ ID string } } `json:"data"`
	}
	_ = json.Unmarshal([]byte(out), &run)
	id := run.Data.RunSimulation.ID

	progress := func() (status string, steps int) {
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
	var stored int
	testwait.Until(t, 30*time.Second, testwait.Interval, func() (bool, string) {
		_, stored = progress()
		return stored >= 8, "no progress before the crash"
	})
	_ = srv.Process.Signal(syscall.SIGKILL)
	<-exited // Wait runs in start's goroutine; a second Wait would block
	callsBefore := len(fk.Requests())
	stored = storedSteps(t, dir)

	srv, logs, exited := start()
	defer func() { _ = srv.Process.Signal(syscall.SIGTERM); <-exited }()
	var steps int
	status := testwait.RunEndEvery(t, 60*time.Second, 50*time.Millisecond, func() (string, string) {
		var status string
		status, steps = progress()
		return status, fmt.Sprintf("with %d steps after the restart", steps)
	})
	if status != "SUCCEEDED" || steps != 40 {
		t.Fatalf("after restart: %s with %d steps\n%s", status, steps, logs.String())
	}
	after := len(fk.Requests()) - callsBefore
	if after > 40-stored {
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
