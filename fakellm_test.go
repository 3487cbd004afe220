package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/simulation/llm"
)

// lockedLog collects a process's output for assertions while it runs.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFakeLLM runs `ethox fakellm` on a free port and returns its base URL
// (as OPENAI_BASE_URL would be, without /v1) and its log.
func startFakeLLM(t *testing.T, bin string, args ...string) (string, *lockedLog) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, append([]string{"fakellm", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	cmd.Env = os.Environ()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fakellm exit after SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("fakellm did not exit after SIGTERM")
		}
	})
	logs := &lockedLog{}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), "listening") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		m := regexp.MustCompile(`OPENAI_BASE_URL=(\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no OPENAI_BASE_URL in %q", line)
		}
		return m[1], logs
	case err := <-done:
		t.Fatalf("fakellm exited: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("fakellm not listening:\n%s", logs.String())
	}
	return "", nil
}

// Issue 16: the LLM engine can be tried without a key. `ethox fakellm` serves
// the fake over HTTP, says loudly that it is fake, and the real go-openai
// client gets answers that say so too.
func TestFakeLLMCommand(t *testing.T) {
	bin := buildBinary(t)
	base, logs := startFakeLLM(t, bin, "-latency", "1ms")
	if want := "FAKE LLM"; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no %q warning at start:\n%s", want, logs.String())
	}
	lc, err := llm.New(llm.Config{BaseURL: base, MaxRetries: -1}) // no key, no /v1: as a user would set it
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, _, err := lc.React(ctx, llm.Request{Messages: []llm.Message{
		{Role: "system", Content: "Answer with a single JSON object and nothing else."},
		{Role: "user", Content: "The library closes on Sundays."},
	}})
	if err != nil {
		t.Fatalf("React: %v", err)
	}
	if !strings.Contains(r.Opinion, "fake answer") || r.Care < 0 || r.Care > 10 || r.Support < -5 || r.Support > 5 {
		t.Fatalf("reaction %+v", r)
	}
	text, _, err := lc.Complete(ctx, llm.Request{Messages: []llm.Message{{Role: "user", Content: "Write a report in prose."}}})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if !strings.Contains(text, "Fake narrative") || strings.HasPrefix(strings.TrimSpace(text), "{") {
		t.Fatalf("narrative %q", text)
	}

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"fakellm", "-latency", "-1s"}, "must not be negative"},
		{[]string{"fakellm", "extra"}, "unexpected argument"},
		{[]string{"fakellm", "-addr", "127.0.0.1:bad"}, "listen"},
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("%v: %v, %s", tt.args, err, out)
		}
	}
}

// The whole first hour without a key: the server pointed at `ethox fakellm`
// runs an LLM simulation and writes a report, and everything shown says fake.
func TestServerWithFakeLLM(t *testing.T) {
	bin := buildBinary(t)
	base, _ := startFakeLLM(t, bin, "-latency", "1ms")
	port := freePort(t)
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "DEMO_DATA=false",
		"ENV=development", "OPENAI_API_KEY=", "OPENAI_BASE_URL="+base)
	srv := startServer(t, bin, t.TempDir(), env)
	gql := func(query string, vars map[string]any, v any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		var out struct {
			Data   json.RawMessage `json:"data"`
			Errors []any           `json:"errors"`
		}
		if err := json.Unmarshal([]byte(post(t, srv.base, "application/json", strings.NewReader(string(body)))), &out); err != nil || len(out.Errors) > 0 {
			t.Fatalf("%s: %v %v", query, err, out.Errors)
		}
		if err := json.Unmarshal(out.Data, v); err != nil {
			t.Fatal(err)
		}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadGraph(file: $f) { network { id } } }","variables":{"f":null}}`)
	_ = mw.WriteField("map", `{"0":["variables.f"]}`)
	fw, _ := mw.CreateFormFile("0", "network.json")
	_, _ = fw.Write(fixtures.Read(t, fixtures.Network20))
	_ = mw.Close()
	if out := post(t, srv.base, mw.FormDataContentType(), &body); !strings.Contains(out, `"id"`) {
		t.Fatalf("upload: %s", out)
	}

	var run struct{ RunSimulation struct{ ID string } }
	gql(`mutation { runSimulation(input: {trigger: "The library closes on Sundays.", rounds: 1, engine: LLM}) { id } }`, nil, &run)
	var sim struct {
		Simulation struct {
			Status     string
			Error      *string
			FinalGraph *struct {
				Nodes []struct{ TextOpinion *string }
			}
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		gql(`query($id: ID!) { simulation(id: $id) { status error finalGraph { nodes { textOpinion } } } }`,
			map[string]any{"id": run.RunSimulation.ID}, &sim)
		if sim.Simulation.Status == "SUCCEEDED" || sim.Simulation.Status == "FAILED" || time.Now().After(deadline) {
			break
		}
	}
	if sim.Simulation.Status != "SUCCEEDED" || sim.Simulation.FinalGraph == nil {
		t.Fatalf("run: %+v\n%s", sim.Simulation, srv.logs.String())
	}
	for _, n := range sim.Simulation.FinalGraph.Nodes {
		if n.TextOpinion == nil || !strings.Contains(*n.TextOpinion, "fake answer") {
			t.Fatalf("final opinion %v does not say it is fake", n.TextOpinion)
		}
	}
	var rep struct {
		GenerateReport struct{ NarrativeSource, ReportText string }
	}
	gql(`mutation($id: ID!) { generateReport(simulationId: $id) { narrativeSource reportText } }`,
		map[string]any{"id": run.RunSimulation.ID}, &rep)
	if rep.GenerateReport.NarrativeSource != "LLM" || !strings.Contains(rep.GenerateReport.ReportText, "Fake narrative") {
		t.Fatalf("report: %+v", rep.GenerateReport)
	}
}
