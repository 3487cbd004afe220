package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/telemetry"
)

const (
	readerToken = "reader-token-0123456789"
	writerToken = "writer-token-0123456789"
	adminToken  = "admin-token-01234567890"
)

func staticTokens(t testing.TB) []auth.StaticToken {
	t.Helper()
	toks, err := auth.ParseTokens("ro:reader:" + readerToken + ",rw:writer:" + writerToken + ",root:admin:" + adminToken)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// withAuth turns on token checks as production does.
func withAuth(t testing.TB, readsNeedToken bool) func(*api.Options) {
	return func(o *api.Options) {
		o.Auth = auth.New(staticTokens(t), o.Client, true)
		o.RequireAuthForReads = readsNeedToken
	}
}

func (e *env) queryAs(token, q string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, e.url+"/query", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

// mutationCases holds one valid document per mutation. The test fails when
// the schema gains a mutation this table does not cover.
var mutationCases = map[string]struct {
	doc  string
	need string // lowest role allowed
}{
	"uploadGraph":       {uploadMutation, "writer"},
	"importGraph":       {`mutation { importGraph(input: {nodes: [{agentId: "a"}], edges: []}) { network { id } } }`, "writer"},
	"deleteNetwork":     {`mutation { deleteNetwork(id: "999999") { deletedId } }`, "admin"},
	"setDefaultNetwork": {`mutation { setDefaultNetwork(id: "999999") { id } }`, "writer"},
	"generateNetwork":   {`mutation { generateNetwork(input: {numAgents: 5, seed: 1}) { id } }`, "writer"},
	"runSimulation":     {`mutation { runSimulation(input: {trigger: "x", engine: DEGROOT, rounds: 1}) { id } }`, "writer"},
	"cancelSimulation":  {`mutation { cancelSimulation(id: "999999") { id } }`, "writer"},
	"generateReport":    {`mutation { generateReport(simulationId: "999999") { version } }`, "writer"},
	"createExperiment": {`mutation { createExperiment(input: {replicates: 1, arms: [{name: "a", input: {trigger: "x", engine: DEGROOT}}]}) { id } }`,
		"writer"},
	"cancelExperiment":         {`mutation { cancelExperiment(id: "999999") { id } }`, "writer"},
	"generateExperimentReport": {`mutation { generateExperimentReport(id: "999999") { version } }`, "writer"},
}

// as sends a mutation case with a token: uploads as a multipart request.
func (e *env) as(token, name string) gqlResponse {
	e.t.Helper()
	c := mutationCases[name]
	if name != "uploadGraph" {
		return e.queryAs(token, c.doc, nil)
	}
	ct, body := multipartBody(e.t, c.doc, map[string]any{"file": nil, "name": "x"}, readFixture(e.t, "ethox-network-20.json"), "n.json")
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", body)
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.send(req)
}

func TestEveryMutationNeedsItsRole(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withAuth(t, false))
		var schema struct {
			Type struct{ Fields []struct{ Name string } } `json:"__type"`
		}
		e.queryAs("", `{ __type(name: "Mutation") { fields { name } } }`, nil).decode(t, &schema)
		var names []string
		for _, f := range schema.Type.Fields {
			names = append(names, f.Name)
			if _, ok := mutationCases[f.Name]; !ok {
				t.Errorf("mutation %s has no case in mutationCases", f.Name)
			}
		}
		if len(names) != len(mutationCases) {
			t.Errorf("schema mutations %v, cases %d", names, len(mutationCases))
		}
		before := e.counts()
		tokens := map[string]string{"reader": readerToken, "writer": writerToken}
		for name, c := range mutationCases {
			t.Run(name, func(t *testing.T) {
				r := e.as("", name)
				// Uploads are refused before their files are read, naming "uploads".
				if r.code() != "UNAUTHENTICATED" || !(strings.Contains(r.Errors[0].Message, name) ||
					name == "uploadGraph" && strings.Contains(r.Errors[0].Message, "uploads")) {
					t.Fatalf("without token: %+v", r.Errors)
				}
				if r := e.as("not-a-valid-token-at-all", name); r.code() != "UNAUTHENTICATED" {
					t.Fatalf("bad token: %+v", r.Errors)
				}
				for _, role := range []string{"reader", "writer"} {
					if role == c.need {
						break
					}
					r := e.as(tokens[role], name)
					if r.code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, c.need) {
						t.Fatalf("with %s token: %+v", role, r.Errors)
					}
				}
			})
		}
		if after := e.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("rejected mutations wrote rows: %v -> %v", before, after)
		}
		// Allowed roles get past the check (these ids do not exist).
		if r := e.queryAs(adminToken, mutationCases["deleteNetwork"].doc, nil); r.code() != "NOT_FOUND" {
			t.Fatalf("admin delete: %+v", r.Errors)
		}
		if r := e.queryAs(writerToken, mutationCases["cancelSimulation"].doc, nil); r.code() != "NOT_FOUND" {
			t.Fatalf("writer cancel: %+v", r.Errors)
		}
		var gen struct{ GenerateNetwork struct{ ID string } }
		e.queryAs(writerToken, mutationCases["generateNetwork"].doc, nil).decode(t, &gen)
		var up struct {
			UploadGraph struct{ Network struct{ NodeCount int } }
		}
		e.as(writerToken, "uploadGraph").decode(t, &up)
		if up.UploadGraph.Network.NodeCount != 20 {
			t.Fatalf("upload with writer token: %+v", up)
		}
		// Reads stay public unless REQUIRE_AUTH_FOR_READS.
		if r := e.queryAs("", `{ networks { totalCount } }`, nil); len(r.Errors) > 0 {
			t.Fatalf("public read: %+v", r.Errors)
		}
	})
}

// A document mixing an allowed and a forbidden mutation runs neither.
func TestMixedMutationDocumentRunsNothing(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, false))
	r := e.queryAs(writerToken, `mutation { generateNetwork(input: {numAgents: 5, seed: 1}) { id } deleteNetwork(id: "1") { deletedId } }`, nil)
	if r.code() != "FORBIDDEN" {
		t.Fatalf("%+v", r.Errors)
	}
	if n := e.counts()["networks"]; n != 0 {
		t.Fatalf("%d networks written", n)
	}
}

func TestDatabaseTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		a := auth.New(nil, db.Client, false)
		ctx := context.Background()
		// Development without any token stays open.
		if p, err := a.Check(ctx, "", auth.Admin, "x"); err != nil || p.Role != auth.Admin {
			t.Fatalf("open: %v %v", p, err)
		}
		store := auth.Tokens{Client: db.Client}
		tok, err := store.Create(ctx, "ci", auth.Writer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Create(ctx, "ci", auth.Reader); err == nil {
			t.Fatal("duplicate name accepted")
		}
		var stored string
		if err := db.SQL.QueryRowContext(ctx, "SELECT token_hash FROM api_tokens WHERE name = 'ci'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == tok || stored != auth.HashToken(tok) {
			t.Fatal("token not stored as its hash")
		}
		// A fresh authenticator sees the token at once and enforces.
		a = auth.New(nil, db.Client, false)
		if _, err := a.Check(ctx, "", auth.Writer, "x"); err == nil {
			t.Fatal("no token accepted once tokens exist")
		}
		p, err := a.Check(ctx, tok, auth.Writer, "x")
		if err != nil || p.Name != "ci" || p.Source != "database" {
			t.Fatalf("%+v %v", p, err)
		}
		if _, err := a.Check(ctx, tok, auth.Admin, "x"); err == nil {
			t.Fatal("writer passed admin check")
		}
		if err := store.Revoke(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, tok); err == nil {
			t.Fatal("revoked token accepted")
		}
		if err := store.Revoke(ctx, "ci"); err == nil {
			t.Fatal("revoking twice succeeded")
		}
		list, err := store.List(ctx)
		if err != nil || len(list) != 1 || list[0].RevokedAt == nil {
			t.Fatalf("%v %v", list, err)
		}
	})
}

func TestReadsCanRequireToken(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, true))
	if r := e.queryAs("", `{ networks { totalCount } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("%+v", r.Errors)
	}
	// The whole-graph fast path is behind the same check.
	if r := e.queryAs("", `{ graph { nodes { agentId } } }`, nil); r.code() != "UNAUTHENTICATED" {
		t.Fatalf("%+v", r.Errors)
	}
	if r := e.queryAs(readerToken, `{ graph { nodes { agentId } } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("%+v", r.Errors)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong-token-0123456789", http.StatusUnauthorized}, {readerToken, http.StatusNotFound}} {
		for _, path := range []string{"/exports/networks/999/network.json", "/exports/experiments/999/results.csv", "/exports/experiments/999/charts/arms-care.svg"} {
			req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("export %s with %q: %d, want %d", path, tc.token, resp.StatusCode, tc.want)
			}
		}
	}
}

// wsInit opens a graphql-transport-ws connection and sends connection_init.
func wsInit(t *testing.T, url string, header http.Header, payload map[string]any) (*websocket.Conn, map[string]any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/query",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.CloseNow() })
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	err = wsjson.Read(ctx, c, &msg)
	return c, msg, err
}

func TestSubscriptionAuth(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, true))
	cases := []struct {
		name    string
		header  http.Header
		payload map[string]any
		ok      bool
	}{
		{"no token", nil, nil, false},
		{"wrong token in payload", nil, map[string]any{"Authorization": "Bearer nope-nope-nope-nope"}, false},
		{"token in payload", nil, map[string]any{"Authorization": "Bearer " + readerToken}, true},
		{"authToken in payload", nil, map[string]any{"authToken": readerToken}, true},
		{"token in header", http.Header{"Authorization": {"Bearer " + readerToken}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, msg, err := wsInit(t, e.url, tc.header, tc.payload)
			if tc.ok {
				if err != nil || msg["type"] != "connection_ack" {
					t.Fatalf("%v %v", msg, err)
				}
				return
			}
			for err == nil { // connection_error, then the close frame
				var m map[string]any
				err = wsjson.Read(context.Background(), c, &m)
			}
			if websocket.CloseStatus(err) != 4403 {
				t.Fatalf("close %v (%v), want 4403", websocket.CloseStatus(err), err)
			}
		})
	}
}

func TestDepthAndComplexityLimits(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxDepth = 6; o.MaxComplexity = 5000 })
	cases := []struct {
		name, doc, reason string
	}{
		{"depth at the limit", `{ networks { edges { node { agents(first: 1) { edges { node { agentId } } } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		{"depth within", `{ networks(first: 1) { edges { node { agents(first: 1) { totalCount } } } } }`, ""},
		{"depth via fragments", `{ ...A } fragment A on Query { networks { edges { node { ...B } } } } fragment B on Network { agents(first: 1) { edges { node { network { id } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		{"first weighs", `{ networks(first: 10) { edges { node { agents(first: 1000) { totalCount } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"huge first", `{ simulations(first: 100000) { edges { node { id } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"nested huge firsts do not wrap around", `{ networks(first: 2147483647) { edges { node { ties(first: 2147483647) { totalCount } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"under complexity", `{ simulations(first: 100) { edges { node { id } } } }`, ""},
		// A whole graph's node and edge lists count as 1,000 items each: one
		// graph (about 4,000) passes, two aliased ones do not.
		{"one whole graph", `{ graph { nodes { agentId traits } edges { source target } } }`, ""},
		{"aliased whole graphs", `{ a: graph { nodes { agentId traits } edges { source target } } b: graph { nodes { agentId traits } edges { source target } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"fragment bomb", fragmentBomb(40), "COMPLEXITY_LIMIT_EXCEEDED"},
		// simulations costs 1 + first × 3 (edges, node, id): 1666 → 4999, 1667 → 5002.
		{"complexity at the limit", `{ simulations(first: 1666) { edges { node { id } } } }`, ""},
		{"complexity just over", `{ simulations(first: 1667) { edges { node { id } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.queryAs("", tc.doc, nil)
			if tc.reason == "" {
				if len(r.Errors) > 0 {
					t.Fatalf("%+v", r.Errors)
				}
				return
			}
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != tc.reason {
				t.Fatalf("%+v", r.Errors)
			}
		})
	}
}

// fragmentBomb is a short document whose n fragments each spread the next
// twice: 2^n fields once expanded.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { __typename ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Query { __typename }", n)
	return b.String()
}

func TestMutationRateLimits(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		// Slow refills (every 10 s and 30 s), so a slow machine cannot refill a
		// token in the middle of the test.
		o.MutationRate = api.RateLimit{PerMinute: 6, Burst: 4}
		o.RunRate = api.RateLimit{PerMinute: 2, Burst: 2}
	}, withAuth(t, false))
	var gen struct{ GenerateNetwork struct{ ID string } }
	e.queryAs(adminToken, mutationCases["generateNetwork"].doc, nil).decode(t, &gen)
	run := `mutation { runSimulation(input: {trigger: "x", engine: DEGROOT, rounds: 1}) { id } }`
	// Two runs pass, the third (just over) is refused; other mutations still pass.
	for i := range 2 {
		if r := e.queryAs(writerToken, run, nil); len(r.Errors) > 0 {
			t.Fatalf("run %d: %+v", i, r.Errors)
		}
	}
	_ = e.queryAs(writerToken, mutationCases["cancelSimulation"].doc, nil)
	r := e.queryAs(writerToken, run, nil)
	if r.code() != "RATE_LIMITED" || r.Errors[0].Extensions["retryAfterSeconds"] == nil {
		t.Fatalf("third run: %+v", r.Errors)
	}
	// The refused run cost no mutation: one more passes, then the burst of 4 is spent.
	if r := e.queryAs(writerToken, mutationCases["cancelSimulation"].doc, nil); r.code() != "NOT_FOUND" {
		t.Fatalf("4th mutation: %+v", r.Errors)
	}
	if r := e.queryAs(writerToken, mutationCases["cancelSimulation"].doc, nil); r.code() != "RATE_LIMITED" {
		t.Fatalf("5th mutation: %+v", r.Errors)
	}
	// Another token has its own budget (admin spent one); reads are never limited.
	if r := e.queryAs(adminToken, mutationCases["cancelSimulation"].doc, nil); r.code() != "NOT_FOUND" {
		t.Fatalf("other token: %+v", r.Errors)
	}
	for range 10 {
		if r := e.queryAs(writerToken, `{ networks { totalCount } }`, nil); len(r.Errors) > 0 {
			t.Fatalf("read: %+v", r.Errors)
		}
	}
}

// Without a token (development, open) the limit is per client IP, read from
// X-Forwarded-For only when the peer is a trusted proxy.
func TestRateLimitPerIP(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.MutationRate = api.RateLimit{PerMinute: 6, Burst: 1}
		o.Proxies = api.Proxies{netip.MustParsePrefix("127.0.0.0/8")}
	})
	send := func(xff string) string {
		body, _ := json.Marshal(map[string]any{"query": mutationCases["cancelSimulation"].doc})
		req, _ := http.NewRequest(http.MethodPost, e.url+"/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		return e.send(req).code()
	}
	if got := send("203.0.113.1"); got != "NOT_FOUND" {
		t.Fatal(got)
	}
	if got := send("203.0.113.1"); got != "RATE_LIMITED" {
		t.Fatal(got)
	}
	// A client cannot escape by prepending a forged address.
	if got := send("198.51.100.7, 203.0.113.1"); got != "RATE_LIMITED" {
		t.Fatal(got)
	}
	if got := send("203.0.113.2"); got != "NOT_FOUND" {
		t.Fatal(got)
	}
}

func TestWebSocketConnectionCap(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxWSConnections = 3 })
	for i := range 3 {
		if _, msg, err := wsInit(t, e.url, nil, nil); err != nil || msg["type"] != "connection_ack" {
			t.Fatalf("connection %d: %v %v", i, msg, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/query", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("4th connection: %v %v", resp, err)
	}
	// A list in the Upgrade header is still a WebSocket upgrade, and counted.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query", nil)
	for k, v := range map[string]string{"Upgrade": "foo, websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "graphql-transport-ws"} {
		req.Header.Set(k, v)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade listing websocket among others: %d", resp.StatusCode)
	}
}

func TestProductionHeadersAndSwitches(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) {
		o.Production = true
		o.DisableIntrospection = true
		o.DisableIDE = true
		o.Proxies = api.Proxies{netip.MustParsePrefix("127.0.0.1/32")}
	})
	get := func(path, proto string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get("/query?query=%7B__typename%7D", "https")
	for h, want := range map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Content-Security-Policy":   "frame-ancestors 'self'",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	// Plain HTTP through the proxy is redirected; health probes are not, nor
	// requests that name no scheme (local clients, scrapes).
	if r := get("/metrics", ""); r.StatusCode == http.StatusPermanentRedirect {
		t.Errorf("request without X-Forwarded-Proto redirected")
	}
	if r := get("/query?query=%7B__typename%7D", "http"); r.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(r.Header.Get("Location"), "https://") {
		t.Errorf("http: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get("/healthz", "http"); r.StatusCode != http.StatusOK {
		t.Errorf("healthz over http: %d", r.StatusCode)
	}
	if r := get("/", "https"); r.StatusCode != http.StatusNotFound {
		t.Errorf("IDE disabled but / answered %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(`{"query":"{ __schema { queryType { name } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	if r := e.send(req); len(r.Errors) == 0 || r.code() == "" {
		t.Errorf("introspection answered while disabled: %+v", r)
	}
}

// In production the IDE, when enabled, still loads under the security headers.
func TestProductionIDEStillServed(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Production = true })
	resp, err := http.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("graphiql")) {
		t.Fatalf("IDE: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
}

func TestRiverUIAdminOnly(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ui")) })
	e := newEnv(t, "sqlite", withAuth(t, false), func(o *api.Options) { o.RiverUI = ui })
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, http.StatusUnauthorized},
		{"writer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+writerToken) }, http.StatusForbidden},
		{"admin bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) }, http.StatusOK},
		{"admin basic", func(r *http.Request) { r.SetBasicAuth("admin", adminToken) }, http.StatusOK},
		// A browser on another site posting with the admin's cached Basic credentials.
		{"cross-site post", func(r *http.Request) {
			r.Method = http.MethodPost
			r.SetBasicAuth("admin", adminToken)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", "https://evil.example")
		}, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/riverui/", nil)
		tc.set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// Every log line written in a request's context carries its request id.
func TestRequestIDInLogs(t *testing.T) {
	var buf syncBuffer
	log := slogJSON(&buf)
	e := newEnv(t, "sqlite", func(o *api.Options) { o.Logger = log })
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(`{"query":"{ networks { totalCount } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "test-id-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "test-id-42" {
		t.Fatalf("echoed %q", resp.Header.Get("X-Request-Id"))
	}
	lines := buf.lines()
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, `"request_id":"test-id-42"`) && strings.Contains(l, `"path":"/query"`)
	}) {
		t.Fatalf("no request line with the id in %q", lines)
	}
}

// Responses that take longer than the write timeout are cut, streams are not.
func TestWriteTimeoutSparesStreams(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		_, err := w.Write([]byte("late"))
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		_ = err
	})
	h := api.WriteTimeoutForTest(100*time.Millisecond, slow)
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/query")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("slow plain response was not cut by the write timeout")
	}
	for _, stream := range []struct{ method, path, accept string }{
		{http.MethodPost, "/query", "text/event-stream"}, // SSE
		{http.MethodGet, "/exports/simulations/1/states.csv", ""},
	} {
		req, _ := http.NewRequest(stream.method, srv.URL+stream.path, nil)
		req.Header.Set("Accept", stream.accept)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "late" {
			t.Fatalf("stream %s cut: %q %v", stream.path, body, err)
		}
	}
	// Asking for an event stream elsewhere does not escape the timeout.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/reports/1/charts/x.svg", nil)
	req.Header.Set("Accept", "text/event-stream")
	if resp, err = http.DefaultClient.Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a plain GET asking for text/event-stream escaped the write timeout")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(b.buf.String(), "\n")
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(api.LogHandler{Handler: slog.NewJSONHandler(w, nil)})
}

// Streamed responses (SSE) reach the client as they are flushed, through the
// request-id, logging and metrics wrappers.
func TestFlushThroughMiddleware(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("event: next\n\n"))
		w.(http.Flusher).Flush()
		<-release
	})
	m := telemetry.New(nil)
	srv := httptest.NewServer(api.RequestContextForTest(nil, slog.New(slog.DiscardHandler), m.Instrument(h)))
	defer srv.Close()
	defer close(release)
	// Headers too are held back until a flush, so the whole request waits here.
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/query")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "event: next") {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("flushed event did not reach the client")
	}
}

// A client IP that presents too many invalid tokens is refused before the
// next one is looked up, valid or not; valid tokens never count.
func TestFailedAuthenticationsAreLimited(t *testing.T) {
	e := newEnv(t, "sqlite", withAuth(t, false), func(o *api.Options) { o.AuthFailures = api.RateLimit{PerMinute: 2, Burst: 3} })
	q := `{ networks { totalCount } }`
	for range 5 {
		if r := e.queryAs(readerToken, q, nil); len(r.Errors) > 0 {
			t.Fatalf("valid token: %+v", r.Errors)
		}
	}
	for i := range 3 {
		if r := e.queryAs(fmt.Sprintf("wrong-token-%016d", i), q, nil); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("bad token %d: %+v", i, r.Errors)
		}
	}
	if r := e.queryAs("wrong-token-one-more-0000", q, nil); r.code() != "RATE_LIMITED" {
		t.Fatalf("4th bad token: %+v", r.Errors)
	}
	if r := e.queryAs(readerToken, q, nil); r.code() != "RATE_LIMITED" {
		t.Fatalf("valid token from a throttled IP: %+v", r.Errors)
	}
	// Anonymous reads present no token and are not throttled.
	if r := e.queryAs("", q, nil); len(r.Errors) > 0 {
		t.Fatalf("anonymous read: %+v", r.Errors)
	}
	// Plain HTTP endpoints answer 429.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/exports/networks/1/network.json", nil)
	req.Header.Set("Authorization", "Bearer "+readerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("export from a throttled IP: %d", resp.StatusCode)
	}
}
