package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
)

// TestBinary builds the real server and drives it as a user would: migrate,
// serve, upload the prototype's network.json, read it back, stop with SIGTERM.
func TestBinary(t *testing.T) {
	fixture := fixtures.Read(t, fixtures.Network20)
	bin := buildBinary(t)
	cases := []struct{ name, dbURL string }{{"default-sqlite", ""}}
	for _, d := range testdb.Dialects() {
		if d == "postgres" {
			cases = append(cases, struct{ name, dbURL string }{"postgres", testdb.URL(t, d)})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL="+tc.dbURL, "ENV=development", "DEMO_DATA=false")
			mig := exec.Command(bin, "migrate")
			mig.Dir, mig.Env = dir, env
			if out, err := mig.CombinedOutput(); err != nil {
				t.Fatalf("migrate: %v\n%s", err, out)
			}
			srv := startServer(t, bin, dir, env)
			base := srv.base

			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadGraph(file: $f) { network { id nodeCount edgeCount } } }","variables":{"f":null}}`)
			_ = mw.WriteField("map", `{"0":["variables.f"]}`)
			fw, _ := mw.CreateFormFile("0", "network.json")
			_, _ = fw.Write(fixture)
			_ = mw.Close()
			out := post(t, base, mw.FormDataContentType(), &body)
			if !strings.Contains(out, `"nodeCount":20`) || !strings.Contains(out, `"edgeCount":52`) {
				t.Fatalf("upload: %s", out)
			}
			out = post(t, base, "application/json", strings.NewReader(`{"query":"{ graph { metadata { nodeCount } nodes { agentId } } }"}`))
			if !strings.Contains(out, `"nodeCount":20`) {
				t.Fatalf("graph: %s", out)
			}
			if tc.dbURL == "" {
				if _, err := os.Stat(filepath.Join(dir, "ethox.db")); err != nil {
					t.Fatalf("default database file: %v", err)
				}
			}
			if err := srv.stop(15 * time.Second); err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs.String())
			}
		})
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds the server once per test run, as CI and the Dockerfile do.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ethox-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ethox")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(t *testing.T, base string, done <-chan error, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server not ready\n%s", logs.String())
}

func post(t *testing.T, base, contentType string, body io.Reader) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query", body)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var probe map[string]any
	if json.Unmarshal(b, &probe) != nil {
		t.Fatalf("not JSON: %s", b)
	}
	if _, bad := probe["errors"]; bad {
		t.Fatalf("errors: %s", b)
	}
	return string(b)
}

// A fresh install gets a demo network; `ethox generate` adds synthetic ones.
func TestDemoDataAndGenerateCommand(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "DEMO_DATA=")
	gen := exec.Command(bin, "generate", "--agents", "50", "--seed", "3", "--name", "cli")
	gen.Dir, gen.Env = dir, env
	out, err := gen.CombinedOutput()
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "generated network") {
		t.Fatalf("generate printed %s", out)
	}
	// The database is not empty any more, so serving adds no demo network...
	base := startServer(t, bin, dir, env).base
	body := post(t, base, "application/json", strings.NewReader(`{"query":"{ networks { totalCount } graph { network { name source } metadata { nodeCount } } }"}`))
	if !strings.Contains(body, `"totalCount":1`) || !strings.Contains(body, `"name":"cli"`) || !strings.Contains(body, `"nodeCount":50`) {
		t.Fatalf("after generate: %s", body)
	}
	// ...while an empty database gets one.
	port2 := freePort(t)
	env2 := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port2), "DATABASE_URL=", "DEMO_DATA=")
	srv2 := startServer(t, bin, t.TempDir(), env2)
	base2, logs2 := srv2.base, srv2.logs
	body = post(t, base2, "application/json", strings.NewReader(`{"query":"{ graph { network { source } metadata { nodeCount } } }"}`))
	if !strings.Contains(body, `"source":"GENERATED"`) || !strings.Contains(body, `"nodeCount":200`) {
		t.Fatalf("demo network: %s\n%s", body, logs2.String())
	}
}

// server is a running binary.
type server struct {
	base string
	logs *bytes.Buffer
	cmd  *exec.Cmd
	done chan error
}

// stop sends SIGTERM and waits for the exit (nil: a clean one).
func (s *server) stop(timeout time.Duration) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err // later stops see the same result
		return err
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("no exit %s after SIGTERM", timeout)
	}
}

// startServer runs the binary in dir until the test ends (then SIGTERM), and
// returns once it is ready. PORT comes from env.
func startServer(t *testing.T, bin, dir string, env []string) *server {
	t.Helper()
	port := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			port = v
		}
	}
	s := &server{base: "http://127.0.0.1:" + port, logs: &bytes.Buffer{}, cmd: exec.Command(bin), done: make(chan error, 1)}
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = dir, env, s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.stop(15 * time.Second) })
	waitHealthy(t, s.base, s.done, s.logs)
	return s
}
