package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// TestProductionMode starts the real binary with ENV=production: it refuses
// to start open, takes a token made by `ethox token create`, enforces it,
// logs JSON with request ids, and on SIGTERM closes subscriptions with a
// close frame before exiting cleanly.
func TestProductionMode(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	base := []string{"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "DEMO_DATA=false", "ENV=production",
		"API_TOKENS=", "CORS_ALLOWED_ORIGINS=", "TRUST_PROXY=", "ENABLE_IDE=", "ENABLE_INTROSPECTION=", "REQUIRE_AUTH_FOR_READS="}
	env := append(os.Environ(), base...)

	// Neither origins nor tokens: refused, naming both.
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("production started without CORS and tokens:\n%s", out)
	}
	for _, want := range []string{"CORS_ALLOWED_ORIGINS", "API tokens", "ethox token create"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("refusal does not name %s:\n%s", want, out)
		}
	}

	create := exec.Command(bin, "token", "create", "--name", "ops", "--role", "admin")
	create.Dir, create.Env = dir, env
	tokOut, err := create.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(tokOut))
	if !strings.HasPrefix(token, "ethox_") {
		t.Fatalf("token %q", token)
	}
	list := exec.Command(bin, "token", "list")
	list.Dir, list.Env = dir, env
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "ops") || strings.Contains(string(out), token) {
		t.Fatalf("token list: %v\n%s", err, out)
	}

	env = append(env, "CORS_ALLOWED_ORIGINS=https://app.example")
	srv := startServer(t, bin, dir, env)

	ask := func(tok, q string) string {
		req, _ := http.NewRequest(http.MethodPost, srv.base+"/query", strings.NewReader(q))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, resp.Header.Get("Strict-Transport-Security"), " ")
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return b.String()
	}
	gen := `{"query":"mutation { generateNetwork(input: {numAgents: 10, seed: 1}) { id } }"}`
	if out := ask("", gen); !strings.Contains(out, "UNAUTHENTICATED") || !strings.Contains(out, "max-age=") {
		t.Fatalf("anonymous mutation: %s", out)
	}
	if out := ask(token, gen); !strings.Contains(out, `"generateNetwork"`) || strings.Contains(out, "errors") {
		t.Fatalf("admin mutation: %s", out)
	}
	if out := ask("", `{"query":"{ __schema { queryType { name } } }"}`); !strings.Contains(out, "errors") {
		t.Fatalf("introspection on in production: %s", out)
	}
	if resp, err := http.Get(srv.base + "/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("IDE on in production: %v %v", resp, err)
	}

	// A live subscription, then SIGTERM.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://127.0.0.1:"+fmt.Sprint(port)+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Origin": {"https://app.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_ = wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	var ack map[string]any
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			var m map[string]any
			if err := wsjson.Read(ctx, c, &m); err != nil {
				closed <- err
				return
			}
		}
	}()
	if err := srv.stop(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs.String())
	}
	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure {
			t.Fatalf("subscription ended with %v, want a close frame 1000", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not closed on shutdown")
	}

	logs := srv.logs.String()
	if strings.Contains(logs, token) {
		t.Fatal("the token appears in the logs")
	}
	if !strings.Contains(logs, `"level":"WARN","msg":"ENV=production ON SQLITE`) {
		t.Fatalf("no loud SQLite warning in JSON logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"request_id":"`) {
		t.Fatalf("no request lines with ids:\n%s", logs)
	}
}

// TestHTTPTimeouts: a client slower than READ_HEADER_TIMEOUT with its headers,
// or idle longer than IDLE_TIMEOUT between requests, is disconnected; one
// just inside both is served.
func TestHTTPTimeouts(t *testing.T) {
	bin := buildBinary(t)
	port := freePort(t)
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "DEMO_DATA=false",
		"ENV=development", "READ_HEADER_TIMEOUT=1500ms", "IDLE_TIMEOUT=1s")
	srv := startServer(t, bin, t.TempDir(), env)
	addr := strings.TrimPrefix(srv.base, "http://")
	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				return !(errors.As(err, &ne) && ne.Timeout()) // EOF or reset: closed by the server
			}
			if strings.Contains(string(buf[:n]), " 200 ") {
				continue // the answer to a complete request; wait for the close
			}
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Headers that never finish: closed once READ_HEADER_TIMEOUT passes.
	c := dial()
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	if !closedWithin(c, 6*time.Second) {
		t.Fatal("slow headers were not cut by READ_HEADER_TIMEOUT")
	}
	// Headers finished after 200 ms (well inside the limit) are served.
	c = dial()
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\n"))
	time.Sleep(200 * time.Millisecond)
	_, _ = c.Write([]byte("Host: x\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 512)
	if n, err := c.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("request inside READ_HEADER_TIMEOUT: %q %v", buf[:n], err)
	}
	// The same keep-alive connection, idle past IDLE_TIMEOUT: closed.
	start := time.Now()
	if !closedWithin(c, 6*time.Second) {
		t.Fatal("idle keep-alive connection was not closed by IDLE_TIMEOUT")
	}
	if idle := time.Since(start); idle < 700*time.Millisecond {
		t.Fatalf("closed after %s, before IDLE_TIMEOUT", idle)
	}
}

// `ethox healthcheck` exits 0 against a ready server and fails against none.
func TestHealthcheckCommand(t *testing.T) {
	bin := buildBinary(t)
	port := freePort(t)
	env := append(os.Environ(), "HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL=", "DEMO_DATA=false", "ENV=development")
	probe := func() error {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = env
		return cmd.Run()
	}
	if err := probe(); err == nil {
		t.Fatal("healthcheck passed with no server")
	}
	startServer(t, bin, t.TempDir(), env)
	if err := probe(); err != nil {
		t.Fatalf("healthcheck against a ready server: %v", err)
	}
}
