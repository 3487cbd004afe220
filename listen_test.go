package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listening starts the binary with PORT=0 and returns the address its
// "ethox listening" line names, that line, and the log so far.
func listening(t *testing.T, extra ...string) (addr, line string, logs *strings.Builder) {
	t.Helper()
	bin := buildBinary(t)
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOST", "PORT", "CORS_ALLOWED_ORIGINS", "ENV", "API_TOKENS", "DATABASE_URL", "DEMO_DATA", "WORKERS":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PORT=0", "DATABASE_URL=", "DEMO_DATA=false", "WORKERS=0")
	env = append(env, extra...)
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = t.TempDir(), env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
		pw.Close()
	})
	logs = &strings.Builder{}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "ethox listening") {
				found <- sc.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("no listening line:\n%s", logs.String())
	}
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no addr in %q", line)
	}
	return m[1], line, logs
}

// Issue 11: development listened on every interface while its log said
// "localhost". It binds 127.0.0.1 now, and the log names the real address.
func TestListenAddressDefaultsAndLog(t *testing.T) {
	addr, line, _ := listening(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("listening on %q: %s", addr, line)
	}
	if !strings.Contains(line, "url=http://"+addr+"/") || !strings.Contains(line, `reachable_from="this machine only"`) {
		t.Fatalf("log line %s", line)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}

	// The default origins: a page on this machine may post, another site may not.
	for origin, want := range map[string]int{"http://localhost:5173": http.StatusOK, "https://evil.example": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/query", strings.NewReader(`{"query":"{ networks { totalCount } }"}`))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want == http.StatusOK && resp.StatusCode == http.StatusForbidden || want == http.StatusForbidden && resp.StatusCode != want {
			t.Errorf("post from %s: %d", origin, resp.StatusCode)
		}
	}
}

// Containers ask for every interface, and the log says so; CORS "*" is warned about.
func TestListenAllInterfacesWhenAsked(t *testing.T) {
	addr, line, logs := listening(t, "HOST=0.0.0.0", "CORS_ALLOWED_ORIGINS=*")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsUnspecified() || port == "0" {
		t.Fatalf("listening on %q: %s", addr, line)
	}
	if !strings.Contains(line, "every interface") || !strings.Contains(line, "url=http://127.0.0.1:"+port+"/") {
		t.Fatalf("log line %s", line)
	}
	if !strings.Contains(logs.String(), "CORS_ALLOWED_ORIGINS=*") {
		t.Fatalf("no warning about CORS *:\n%s", logs.String())
	}
}
