// Command load is a bounded loopback load test of the built Ethox server.
//
// It starts the fake OpenAI-compatible server (internal/fakellm) and the real
// server binary on 127.0.0.1, uploads the prototype's 20-agent fixture and a
// synthetic 10k-node / 50k-edge network, then for -duration runs a fixed set of
// workers against the public HTTP API only:
//
//   - readers (-readers): a weighted mix (-mix) of graph on the 20-node
//     network, graph on the default network (which the uploads keep
//     changing), agent lookups, Network.agents pages and the networks list;
//   - big readers (-big-readers): graph on the 10k network, every node field;
//   - uploaders (-uploaders): multipart uploadGraph of the 20-node network, back
//     to back, and every -big-upload-every'th time the 10k network;
//   - runners (-runners): runSimulation (engine LLM, -sim-rounds rounds) on the
//     20-node network, polled with simulation(id:) until it ends.
//
// Every non-200 answer, every GraphQL errors entry, every answer of the wrong
// shape or inconsistent with itself, and every run that does not succeed with
// all its steps counts as an error (the first few are printed as they happen).
// At the end it stops the server with SIGTERM, prints count, errors, req/s,
// p50, p99, max and mean size per operation, and exits 1 if there was any
// error or any ERROR line in the server's log (-allow-log-errors: print them
// only). -solo first measures graph on each network alone, for comparison
// with the prototype (about 1,000 req/s on 20 nodes, 5 req/s on 10k nodes).
//
//	bench/load.sh                                     # SQLite in a temp dir
//	bench/load.sh -db 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//	bench/load.sh -solo 10s -duration 30s -readers 4  # see -h for every flag
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/synthnet"
)

type options struct {
	db             string
	duration       time.Duration
	readers        int
	bigReaders     int
	uploaders      int
	runners        int
	fixtures       string
	llmLatency     time.Duration
	token          string
	bigNodes       int
	bigEdges       int
	bigUploadEvery int
	simRounds      int
	runTimeout     time.Duration
	pollInterval   time.Duration
	mix            string
	solo           time.Duration
	soloClients    int
	bin            string
	keep           bool
	allowLogErrors bool
	env            []string
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "", `database: empty or "sqlite" = a SQLite file in a temp dir; a postgres:// URL = a fresh database ethox_load_<pid> created on that server, dropped at the end`)
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "length of the mixed load phase")
	flag.IntVar(&o.readers, "readers", 8, "concurrent readers of the small operations (see -mix)")
	flag.IntVar(&o.bigReaders, "big-readers", 1, "concurrent readers of graph on the 10k network")
	flag.IntVar(&o.uploaders, "uploaders", 1, "concurrent uploaders")
	flag.IntVar(&o.runners, "runners", 1, "concurrent simulation runners")
	flag.StringVar(&o.fixtures, "fixtures", "", "directory of ethox-network-20.json (default: the repository's testdata/)")
	flag.DurationVar(&o.llmLatency, "llm-latency", 20*time.Millisecond, "latency of each fake LLM call")
	flag.StringVar(&o.token, "token", "", "send Authorization: Bearer TOKEN on every request")
	flag.IntVar(&o.bigNodes, "big-nodes", 10_000, "nodes of the synthetic big network")
	flag.IntVar(&o.bigEdges, "big-edges", 50_000, "edges of the synthetic big network")
	flag.IntVar(&o.bigUploadEvery, "big-upload-every", 10, "every Nth upload of an uploader is the big network, followed at once by a 20-node one (0 = never)")
	flag.IntVar(&o.simRounds, "sim-rounds", 1, "influence rounds of each simulation run (stage 0 + rounds, one LLM call per agent each)")
	flag.DurationVar(&o.runTimeout, "run-timeout", 2*time.Minute, "a run not finished after this long is an error")
	flag.DurationVar(&o.pollInterval, "poll", 50*time.Millisecond, "interval between simulation(id:) polls of a runner")
	flag.StringVar(&o.mix, "mix", "graph20=30,graphDefault=15,agent=20,agentDefault=10,agent10k=10,agents=10,networks=5", "weights of the readers' operations")
	flag.DurationVar(&o.solo, "solo", 0, "before the mix, measure graph20 and then graph10k alone for this long each (0 = skip)")
	flag.IntVar(&o.soloClients, "solo-clients", 4, "concurrent clients of the -solo measurements")
	flag.StringVar(&o.bin, "bin", "", "server binary to run (default: go build one into the temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (server log, SQLite file)")
	flag.BoolVar(&o.allowLogErrors, "allow-log-errors", false, "do not fail on ERROR lines in the server log (they are still printed)")
	flag.Func("env", "extra server environment KEY=VALUE (repeatable)", func(kv string) error {
		if !strings.Contains(kv, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.env = append(o.env, kv)
		return nil
	})
	flag.Parse()
	os.Exit(run(o))
}

// ---------------------------------------------------------------------------
// statistics

type opStats struct {
	lat    []time.Duration
	errs   int
	bytes  int64
	failed []time.Duration // latencies of failed requests, not in lat
}

type recorder struct {
	mu        sync.Mutex
	ops       map[string]*opStats
	order     []string
	errTotal  atomic.Int64
	errShown  int
	errByKind map[string]int
	stopped   atomic.Bool // after a cancel (Ctrl-C), failures are not errors
}

const showErrors = 10

// runDone is the row of whole runs: from runSimulation to SUCCEEDED seen by a poll.
const runDone = "run → SUCCEEDED"

// tableOrder is the order of the rows of the result table.
var tableOrder = []string{"graph20", "graphDefault", "graph10k", "agent", "agentDefault", "agent10k", "agents", "agents (next page)",
	"networks", "uploadGraph 20", "uploadGraph 10k", "runSimulation", "simulation (poll)", runDone}

func newRecorder() *recorder {
	return &recorder{ops: map[string]*opStats{}, errByKind: map[string]int{}}
}

func (r *recorder) stat(op string) *opStats {
	s := r.ops[op]
	if s == nil {
		s = &opStats{}
		r.ops[op] = s
		r.order = append(r.order, op)
	}
	return s
}

func (r *recorder) ok(op string, d time.Duration, n int) {
	r.mu.Lock()
	s := r.stat(op)
	s.lat = append(s.lat, d)
	s.bytes += int64(n)
	r.mu.Unlock()
}

func (r *recorder) fail(op string, d time.Duration, err error) {
	if r.stopped.Load() {
		return
	}
	r.errTotal.Add(1)
	msg := err.Error()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stat(op)
	s.errs++
	s.failed = append(s.failed, d)
	kind := op + ": " + truncate(msg, 160)
	r.errByKind[kind]++
	if r.errShown < showErrors {
		r.errShown++
		fmt.Fprintf(os.Stderr, "ERROR %s %s after %s: %s\n", time.Now().Format("15:04:05.000"), op, d.Round(time.Millisecond), truncate(msg, 600))
	}
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1 // nearest rank
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func (r *recorder) table(title string, window time.Duration) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s window)\n", title, window.Round(time.Millisecond))
	fmt.Fprintf(&b, "| %-20s | %7s | %6s | %8s | %9s | %9s | %9s | %10s |\n", "operation", "count", "errors", "req/s", "p50 ms", "p99 ms", "max ms", "avg KB")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 22), strings.Repeat("-", 9), strings.Repeat("-", 8), strings.Repeat("-", 10), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 12))
	order := slices.Clone(r.order)
	rank := func(op string) int {
		if i := slices.Index(tableOrder, op); i >= 0 {
			return i
		}
		return len(tableOrder)
	}
	slices.SortStableFunc(order, func(a, b string) int { return rank(a) - rank(b) })
	var total []time.Duration
	totalErrs := 0
	for _, op := range order {
		s := r.ops[op]
		if op != runDone { // not a request
			total = append(total, s.lat...)
			total = append(total, s.failed...)
			totalErrs += s.errs
		}
		all := slices.Concat(s.lat, s.failed)
		slices.Sort(all)
		n := len(all)
		avgKB := 0.0
		if len(s.lat) > 0 {
			avgKB = float64(s.bytes) / float64(len(s.lat)) / 1024
		}
		fmt.Fprintf(&b, "| %-20s | %7d | %6d | %8.1f | %9s | %9s | %9s | %10.1f |\n", op, n, s.errs,
			float64(n)/window.Seconds(), ms(pct(all, 0.50)), ms(pct(all, 0.99)), ms(pct(all, 1)), avgKB)
	}
	if len(order) > 1 {
		slices.Sort(total)
		fmt.Fprintf(&b, "| %-20s | %7d | %6d | %8.1f | %9s | %9s | %9s | %10s |\n", "all HTTP requests", len(total), totalErrs,
			float64(len(total))/window.Seconds(), ms(pct(total, 0.50)), ms(pct(total, 0.99)), ms(pct(total, 1)), "")
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// HTTP client

type client struct {
	base  string
	token string
	http  *http.Client
	rec   *recorder
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type envelope struct {
	Data   any        `json:"data"`
	Errors []gqlError `json:"errors"`
}

// do sends one request and checks it: HTTP 200, JSON, no GraphQL errors, and
// data decoded into out (a pointer). It returns the response size.
func (c *client) do(ctx context.Context, req *http.Request, out any) (int, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(make([]byte, 0, max(resp.ContentLength, 0)+512))
	_, err = buf.ReadFrom(resp.Body)
	body := buf.Bytes()
	if err != nil {
		return len(body), fmt.Errorf("HTTP %d, reading the body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return len(body), fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(body), 400))
	}
	if rd, ok := out.(rawDecoder); ok && len(body) > 1<<20 && !bytes.Contains(body, []byte(`"errors":`)) {
		return len(body), rd.decodeRaw(body) // a whole big graph: checked without decoding every node
	}
	env := envelope{Data: out}
	if err := json.Unmarshal(body, &env); err != nil {
		return len(body), fmt.Errorf("HTTP 200 but not a GraphQL response (%v): %s", err, truncate(string(body), 200))
	}
	if len(env.Errors) > 0 {
		e, _ := json.Marshal(env.Errors)
		return len(body), fmt.Errorf("GraphQL errors: %s", truncate(string(e), 400))
	}
	return len(body), nil
}

// query posts a JSON GraphQL request, records it under op and returns whether it succeeded.
func (c *client) query(ctx context.Context, op, q string, vars map[string]any, out any, check func() error) bool {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return c.record(ctx, op, req, out, check)
}

// upload posts a GraphQL multipart request (the multipart request spec).
func (c *client) upload(ctx context.Context, op, name string, file []byte, out any, check func() error) bool {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": uploadMutation, "variables": map[string]any{"file": nil, "name": name}})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.file"]}`)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="0"; filename="network.json"`)
	h.Set("Content-Type", "application/json")
	fw, _ := mw.CreatePart(h)
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/query", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Apollo-Require-Preflight", "true") // what apollo-upload-client sends, for CSRF protection
	return c.record(ctx, op, req, out, check)
}

func (c *client) record(ctx context.Context, op string, req *http.Request, out any, check func() error) bool {
	start := time.Now()
	n, err := c.do(ctx, req, out)
	if err == nil && check != nil {
		err = check()
	}
	d := time.Since(start)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return false // canceled by the user: not the server's error
		}
		c.rec.fail(op, d, err)
		return false
	}
	c.rec.ok(op, d, n)
	return true
}

// ---------------------------------------------------------------------------
// GraphQL documents (shapes from graph/*.graphqls)

const uploadMutation = `mutation($file: Upload!, $name: String) {
  uploadGraph(file: $file, name: $name) {
    network { id name nodeCount edgeCount }
    metadata { nodeCount edgeCount traitKeys }
  }
}`

const graphQuery = `query($id: ID) {
  graph(networkId: $id) {
    network { id name }
    metadata { nodeCount edgeCount traitKeys directed }
    nodes { agentId degree traits degreeCentrality betweennessCentrality cluster age gender
            textOpinion levelOfCare effectOnUsage profile attributes }
    edges { source target weight }
  }
}`

const agentQuery = `query($agentId: String!, $id: ID) {
  agent(agentId: $agentId, networkId: $id) {
    node { agentId degree traits cluster age gender degreeCentrality betweennessCentrality }
    neighbors { agentId weight degree }
  }
}`

const agentsQuery = `query($id: ID!, $deg: Int!, $after: Cursor) {
  node(id: $id) {
    ... on Network {
      agents(first: 20, after: $after, where: {degreeGTE: $deg}, orderBy: {field: DEGREE, direction: DESC}) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id agentId degree gender age traits } }
      }
    }
  }
}`

const networksQuery = `{
  networks(first: 10, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    edges { cursor node { id name source nodeCount edgeCount createdAt } }
  }
}`

const runMutation = `mutation($input: RunSimulationInput!) {
  runSimulation(input: $input) { id status }
}`

const simulationQuery = `query($id: ID!) {
  simulation(id: $id) {
    status error
    progress { round rounds completedSteps totalSteps }
    usage { calls failedSteps retries }
  }
}`

type uploadData struct {
	UploadGraph struct {
		Network struct {
			ID        string `json:"id"`
			NodeCount int    `json:"nodeCount"`
			EdgeCount int    `json:"edgeCount"`
		} `json:"network"`
		Metadata struct {
			NodeCount int `json:"nodeCount"`
			EdgeCount int `json:"edgeCount"`
		} `json:"metadata"`
	} `json:"uploadGraph"`
}

type graphNetwork struct {
	ID string `json:"id"`
}

type graphMetadata struct {
	NodeCount int `json:"nodeCount"`
	EdgeCount int `json:"edgeCount"`
}

type graphBody struct {
	Network  *graphNetwork `json:"network"`
	Metadata graphMetadata `json:"metadata"`
	Nodes    []struct {
		AgentID string `json:"agentId"`
	} `json:"nodes"`
	Edges []struct {
		Source string `json:"source"`
	} `json:"edges"`
}

type graphData struct {
	Graph        *graphBody `json:"graph"`
	nodes, edges int        // counted by decodeRaw instead of Nodes and Edges
}

// rawDecoder checks a large answer itself, cheaper than decoding it whole:
// on a 2-core machine the load generator competes with the server for CPU.
type rawDecoder interface{ decodeRaw(body []byte) error }

// decodeRaw checks a whole-graph answer of the shape of graphQuery that holds
// no errors: the envelope's ends, network and metadata decoded, and nodes and
// edges counted by their first key.
func (d *graphData) decodeRaw(body []byte) error {
	trimmed := bytes.TrimSpace(body)
	if !bytes.HasPrefix(trimmed, []byte(`{"data":{"graph":{`)) || !bytes.HasSuffix(trimmed, []byte(`]}}}`)) {
		return fmt.Errorf("HTTP 200 but not a whole graph answer: %s … %s", truncate(string(body[:min(len(body), 100)]), 100),
			string(body[max(len(body)-40, 0):]))
	}
	d.Graph = &graphBody{}
	at := func(key string, v any) error {
		i := bytes.Index(body, []byte(`"`+key+`":`))
		if i < 0 {
			return fmt.Errorf("graph answer without %s", key)
		}
		if err := json.NewDecoder(bytes.NewReader(body[i+len(key)+3:])).Decode(v); err != nil {
			return fmt.Errorf("graph answer: %s: %w", key, err)
		}
		return nil
	}
	if err := at("network", &d.Graph.Network); err != nil {
		return err
	}
	if err := at("metadata", &d.Graph.Metadata); err != nil {
		return err
	}
	d.nodes = bytes.Count(body, []byte(`{"agentId":`))
	d.edges = bytes.Count(body, []byte(`{"source":`))
	return nil
}

// checkGraph verifies a graph answer: counts consistent and one of the sizes allowed.
func checkGraph(d *graphData, id string, sizes ...[2]int) error {
	g := d.Graph
	if g == nil || g.Network == nil {
		return errors.New("graph or graph.network is null")
	}
	if id != "" && g.Network.ID != id {
		return fmt.Errorf("graph.network.id %s, want %s", g.Network.ID, id)
	}
	nodes, edges := d.nodes, d.edges
	if g.Nodes != nil || g.Edges != nil || nodes+edges == 0 {
		nodes, edges = len(g.Nodes), len(g.Edges)
	}
	if nodes != g.Metadata.NodeCount || edges != g.Metadata.EdgeCount {
		return fmt.Errorf("graph has %d nodes / %d edges, metadata says %d / %d", nodes, edges, g.Metadata.NodeCount, g.Metadata.EdgeCount)
	}
	for _, s := range sizes {
		if nodes == s[0] && edges == s[1] {
			return nil
		}
	}
	return fmt.Errorf("graph has %d nodes / %d edges, want one of %v", nodes, edges, sizes)
}

// ---------------------------------------------------------------------------
// the run

type fixture struct {
	id           string
	nodes, edges int
	doc          []byte
}

func run(o options) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
		return 2
	}

	root, err := fixtures.Root()
	if err != nil {
		return fail("%v", err)
	}
	if o.fixtures == "" {
		o.fixtures = filepath.Join(root, "testdata")
	}
	small := &fixture{}
	if small.doc, err = os.ReadFile(filepath.Join(o.fixtures, fixtures.Network20)); err != nil {
		return fail("fixture: %v", err)
	}
	var probe struct {
		Nodes []json.RawMessage `json:"nodes"`
		Edges []json.RawMessage `json:"edges"`
	}
	if err := json.Unmarshal(small.doc, &probe); err != nil {
		return fail("fixture: %v", err)
	}
	small.nodes, small.edges = len(probe.Nodes), len(probe.Edges)
	big := &fixture{nodes: o.bigNodes, edges: o.bigEdges, doc: synthnet.JSON(o.bigNodes, o.bigEdges, 1)}

	tmp, err := os.MkdirTemp("", "ethox-load-")
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if o.keep || code != 0 {
			fmt.Printf("kept %s (server log: %s)\n", tmp, filepath.Join(tmp, "server.log"))
			return
		}
		os.RemoveAll(tmp)
	}()

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "ethox")
		t0 := time.Now()
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fail("go build: %v\n%s", err, out)
		}
		fmt.Printf("built the server in %s\n", time.Since(t0).Round(time.Millisecond))
	}

	dbURL, dialect := "sqlite://"+filepath.Join(tmp, "ethox.db"), "sqlite"
	if o.db != "" && o.db != "sqlite" {
		if !strings.HasPrefix(o.db, "postgres://") && !strings.HasPrefix(o.db, "postgresql://") {
			return fail(`-db: want empty, "sqlite" or a postgres:// URL`)
		}
		u, drop, err := createPostgres(o.db)
		if err != nil {
			return fail("%v", err)
		}
		defer drop()
		dbURL, dialect = u, "postgres"
	}

	fk := fakellm.New(o.llmLatency)
	defer fk.Close()

	port, err := freePort()
	if err != nil {
		return fail("%v", err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	logPath := filepath.Join(tmp, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fail("%v", err)
	}
	defer logFile.Close()
	srv := exec.Command(bin)
	srv.Dir = tmp
	srv.Stdout, srv.Stderr = logFile, logFile
	srv.Env = append(os.Environ(),
		"ENV=development", "LOG_LEVEL=info",
		"HOST=127.0.0.1", fmt.Sprintf("PORT=%d", port), "DATABASE_URL="+dbURL, "DEMO_DATA=false",
		"OPENAI_BASE_URL="+fk.BaseURL(), "OPENAI_API_KEY=test",
		"RATE_LIMIT_MUTATIONS=100000", "RATE_LIMIT_RUNS=100000",
		"RATE_LIMIT_MUTATIONS_BURST=10000", "RATE_LIMIT_RUNS_BURST=10000")
	srv.Env = append(srv.Env, o.env...)
	if err := srv.Start(); err != nil {
		return fail("start server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	serverDone := false
	stopServer := func() error {
		if serverDone {
			return nil
		}
		serverDone = true
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(45 * time.Second):
			_ = srv.Process.Kill()
			<-exited
			return errors.New("did not stop within 45s of SIGTERM; killed")
		}
	}
	defer stopServer()

	rec := newRecorder()
	c := &client{base: base, token: o.token, rec: rec, http: &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}}
	if err := waitReady(ctx, c, exited); err != nil {
		return fail("%v\n%s", err, tail(logPath, 40))
	}
	fmt.Printf("server ready at %s on %s (%s), fake LLM at %s with %s per call\n", base, dialect, redact(dbURL), fk.BaseURL(), o.llmLatency)

	// Setup: the two networks every worker reads.
	setup := newRecorder()
	sc := *c
	sc.rec = setup
	for _, f := range []*fixture{small, big} {
		var d uploadData
		name := fmt.Sprintf("load-%d", f.nodes)
		if !sc.upload(ctx, "setup upload "+strconv.Itoa(f.nodes), name, f.doc, &d, func() error {
			return checkUpload(&d, f)
		}) {
			return fail("setup upload of %s failed\n%s", name, tail(logPath, 40))
		}
		f.id = d.UploadGraph.Network.ID
	}
	// First read of each (from the database), outside the measurements.
	for _, f := range []*fixture{small, big} {
		var d graphData
		sc.query(ctx, "setup graph "+strconv.Itoa(f.nodes), graphQuery, map[string]any{"id": f.id}, &d, func() error {
			return checkGraph(&d, f.id, [2]int{f.nodes, f.edges})
		})
	}
	fmt.Print(setup.table("setup", time.Second))
	if setup.errTotal.Load() > 0 {
		return fail("setup failed\n%s", tail(logPath, 40))
	}

	w := &workload{o: o, c: c, small: small, big: big}
	if err := w.parseMix(); err != nil {
		return fail("-mix: %v", err)
	}

	var soloTables []string
	if o.solo > 0 {
		for _, op := range []string{"graph20", "graph10k"} {
			sr := newRecorder()
			sw := &workload{o: o, c: &client{base: c.base, token: c.token, http: c.http, rec: sr}, small: small, big: big}
			elapsed := sw.solo(ctx, op, o.solo, o.soloClients)
			t := sr.table(fmt.Sprintf("solo: %s alone, %d clients", op, o.soloClients), elapsed)
			fmt.Print(t)
			soloTables = append(soloTables, t)
			rec.errTotal.Add(sr.errTotal.Load())
		}
	}

	fmt.Printf("mixed load: %s, %d readers (%s), %d big readers, %d uploaders (big every %d), %d runners (LLM, %d rounds on 20 agents)\n",
		o.duration, o.readers, o.mix, o.bigReaders, o.uploaders, o.bigUploadEvery, o.runners, o.simRounds)
	llmBefore := len(fk.Requests())
	elapsed, overrun := w.mixed(ctx)
	if ctx.Err() != nil {
		rec.stopped.Store(true)
		fmt.Println("interrupted")
	}
	llmCalls := len(fk.Requests()) - llmBefore

	// Stop the server and read its log for errors it did not show the clients.
	stopErr := stopServer()
	logErrors := grepLog(logPath)

	fmt.Println()
	fmt.Printf("Ethox load test on %s, %s (go %s, %d CPUs; numbers on a shared machine are noisy)\n", dialect, time.Now().Format(time.RFC3339), runtime.Version(), runtime.NumCPU())
	for _, t := range soloTables {
		fmt.Print(t)
	}
	fmt.Print(rec.table("mixed load", elapsed))
	fmt.Printf("operations started before the deadline are counted; the last one ended %s after it. req/s = count / window.\n", overrun.Round(time.Millisecond))
	fmt.Printf("runs: %d succeeded; fake LLM: %d calls, peak %d in flight\n", w.runsOK.Load(), llmCalls, fk.Peak())
	if stopErr != nil {
		fmt.Printf("server exit after SIGTERM: %v\n", stopErr)
	}
	fmt.Printf("client-visible errors: %d; server log: %d ERROR lines\n", rec.errTotal.Load(), len(logErrors))
	for i, l := range logErrors {
		if i == 10 {
			fmt.Printf("  … %d more\n", len(logErrors)-10)
			break
		}
		fmt.Println("  " + truncate(l, 400))
	}
	total := rec.errTotal.Load()
	if total > 0 {
		fmt.Printf("\n%d ERRORS by kind:\n", total)
		kinds := make([]string, 0, len(rec.errByKind))
		for k := range rec.errByKind {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool { return rec.errByKind[kinds[i]] > rec.errByKind[kinds[j]] })
		for _, k := range kinds {
			fmt.Printf("  %6d  %s\n", rec.errByKind[k], k)
		}
	}
	switch {
	case ctx.Err() != nil:
		return 130
	case total > 0 || (len(logErrors) > 0 && !o.allowLogErrors) || stopErr != nil:
		fmt.Println("FAIL")
		return 1
	}
	fmt.Println("PASS: no errors")
	return 0
}

func checkUpload(d *uploadData, f *fixture) error {
	u := d.UploadGraph
	if u.Network.ID == "" || u.Network.NodeCount != f.nodes || u.Network.EdgeCount != f.edges ||
		u.Metadata.NodeCount != f.nodes || u.Metadata.EdgeCount != f.edges {
		return fmt.Errorf("upload answered %+v, want %d nodes / %d edges", u, f.nodes, f.edges)
	}
	return nil
}

// ---------------------------------------------------------------------------
// workers

type workload struct {
	o          options
	c          *client
	small, big *fixture
	ops        []string
	cum        []int
	runsOK     atomic.Int64
}

var readerOps = []string{"graph20", "graphDefault", "agent", "agentDefault", "agent10k", "agents", "networks", "graph10k"}

func (w *workload) parseMix() error {
	total := 0
	for part := range strings.SplitSeq(w.o.mix, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(weight)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("%q: want op=weight", part)
		}
		if !slices.Contains(readerOps, name) {
			return fmt.Errorf("unknown operation %q (known: %s)", name, strings.Join(readerOps, ", "))
		}
		if n == 0 {
			continue
		}
		total += n
		w.ops = append(w.ops, name)
		w.cum = append(w.cum, total)
	}
	if total == 0 && w.o.readers > 0 {
		return errors.New("no operation has a weight")
	}
	return nil
}

func (w *workload) pick(r *rand.Rand) string {
	x := r.IntN(w.cum[len(w.cum)-1])
	i, _ := slices.BinarySearch(w.cum, x+1)
	return w.ops[i]
}

// read performs one reader operation.
func (w *workload) read(ctx context.Context, op string, r *rand.Rand) {
	c, small, big := w.c, w.small, w.big
	switch op {
	case "graph20", "graph10k":
		f := small
		if op == "graph10k" {
			f = big
		}
		var d graphData
		c.query(ctx, op, graphQuery, map[string]any{"id": f.id}, &d, func() error {
			return checkGraph(&d, f.id, [2]int{f.nodes, f.edges})
		})
	case "graphDefault":
		// The default network is the latest upload: the 20-node one, or for a
		// moment the big one. The prototype answered 500 here during uploads.
		var d graphData
		c.query(ctx, op, graphQuery, map[string]any{"id": nil}, &d, func() error {
			return checkGraph(&d, "", [2]int{small.nodes, small.edges}, [2]int{big.nodes, big.edges})
		})
	case "agent", "agentDefault", "agent10k":
		var id any = small.id
		key := strconv.Itoa(r.IntN(small.nodes))
		switch op {
		case "agentDefault":
			id = nil // ids 0..19 exist in both networks
		case "agent10k":
			id, key = big.id, strconv.Itoa(r.IntN(big.nodes))
		}
		var d struct {
			Agent *struct {
				Node struct {
					AgentID string `json:"agentId"`
					Degree  int    `json:"degree"`
				} `json:"node"`
				Neighbors []struct {
					AgentID string `json:"agentId"`
				} `json:"neighbors"`
			} `json:"agent"`
		}
		c.query(ctx, op, agentQuery, map[string]any{"agentId": key, "id": id}, &d, func() error {
			if d.Agent == nil || d.Agent.Node.AgentID != key {
				return fmt.Errorf("agent %s: answered %+v", key, d.Agent)
			}
			return nil
		})
	case "agents":
		deg := 5 + r.IntN(10)
		var d struct {
			Node *struct {
				Agents struct {
					TotalCount int `json:"totalCount"`
					PageInfo   struct {
						HasNextPage bool    `json:"hasNextPage"`
						EndCursor   *string `json:"endCursor"`
					} `json:"pageInfo"`
					Edges []struct {
						Node struct {
							Degree int `json:"degree"`
						} `json:"node"`
					} `json:"edges"`
				} `json:"agents"`
			} `json:"node"`
		}
		vars := map[string]any{"id": big.id, "deg": deg}
		check := func() error {
			if d.Node == nil {
				return errors.New("node is null")
			}
			a := d.Node.Agents
			if a.TotalCount > 0 && len(a.Edges) == 0 {
				return fmt.Errorf("totalCount %d but no edges", a.TotalCount)
			}
			for _, e := range a.Edges {
				if e.Node.Degree < deg {
					return fmt.Errorf("agent of degree %d under degreeGTE %d", e.Node.Degree, deg)
				}
			}
			return nil
		}
		if !c.query(ctx, op, agentsQuery, vars, &d, check) {
			return
		}
		if pi := d.Node.Agents.PageInfo; pi.HasNextPage && pi.EndCursor != nil && r.IntN(2) == 0 {
			vars["after"] = *pi.EndCursor
			d.Node = nil
			c.query(ctx, "agents (next page)", agentsQuery, vars, &d, check)
		}
	case "networks":
		var d struct {
			Networks struct {
				TotalCount int `json:"totalCount"`
				Edges      []struct {
					Node struct {
						ID string `json:"id"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"networks"`
		}
		c.query(ctx, op, networksQuery, nil, &d, func() error {
			if n := d.Networks; n.TotalCount < 2 || len(n.Edges) != min(10, n.TotalCount) {
				return fmt.Errorf("networks: totalCount %d with %d edges", n.TotalCount, len(n.Edges))
			}
			return nil
		})
	}
}

// uploadOnce uploads f and records it under op.
func (w *workload) uploadOnce(ctx context.Context, op, name string, f *fixture) {
	var d uploadData
	w.c.upload(ctx, op, name, f.doc, &d, func() error { return checkUpload(&d, f) })
}

// simulate starts one LLM run on the 20-node network and polls it to its end.
func (w *workload) simulate(ctx context.Context, n int) {
	c := w.c
	start := time.Now()
	var d struct {
		RunSimulation struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"runSimulation"`
	}
	input := map[string]any{
		"trigger":   fmt.Sprintf("Load test %d: the city will close the central library on Sundays.", n),
		"networkId": w.small.id,
		"rounds":    w.o.simRounds,
		"engine":    "LLM",
	}
	if !c.query(ctx, "runSimulation", runMutation, map[string]any{"input": input}, &d, func() error {
		if d.RunSimulation.ID == "" {
			return errors.New("runSimulation returned no id")
		}
		return nil
	}) {
		return
	}
	id := d.RunSimulation.ID
	deadline := start.Add(w.o.runTimeout)
	for {
		if ctx.Err() != nil {
			return
		}
		var s struct {
			Simulation *struct {
				Status   string  `json:"status"`
				Error    *string `json:"error"`
				Progress struct {
					CompletedSteps int `json:"completedSteps"`
					TotalSteps     int `json:"totalSteps"`
				} `json:"progress"`
				Usage struct {
					Calls       int `json:"calls"`
					FailedSteps int `json:"failedSteps"`
				} `json:"usage"`
			} `json:"simulation"`
		}
		ok := c.query(ctx, "simulation (poll)", simulationQuery, map[string]any{"id": id}, &s, func() error {
			if s.Simulation == nil {
				return fmt.Errorf("simulation %s is null", id)
			}
			return nil
		})
		if ok {
			sim := s.Simulation
			switch sim.Status {
			case "SUCCEEDED":
				d := time.Since(start)
				want := w.small.nodes * (w.o.simRounds + 1)
				if sim.Progress.CompletedSteps != want || sim.Progress.TotalSteps != want || sim.Usage.FailedSteps != 0 {
					c.rec.fail(runDone, d, fmt.Errorf("run %s succeeded with %d/%d steps (want %d), %d failed steps",
						id, sim.Progress.CompletedSteps, sim.Progress.TotalSteps, want, sim.Usage.FailedSteps))
					return
				}
				c.rec.ok(runDone, d, 0)
				w.runsOK.Add(1)
				return
			case "FAILED", "CANCELED":
				msg := ""
				if sim.Error != nil {
					msg = *sim.Error
				}
				c.rec.fail(runDone, time.Since(start), fmt.Errorf("run %s ended %s: %s", id, sim.Status, msg))
				return
			}
		}
		if time.Now().After(deadline) {
			c.rec.fail(runDone, time.Since(start), fmt.Errorf("run %s not finished after %s", id, w.o.runTimeout))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.o.pollInterval):
		}
	}
}

// mixed runs every worker until the deadline; an operation started before it
// is finished. It returns the window and how long after it the last one ended.
func (w *workload) mixed(ctx context.Context) (time.Duration, time.Duration) {
	start := time.Now()
	deadline := start.Add(w.o.duration)
	more := func() bool { return ctx.Err() == nil && time.Now().Before(deadline) }
	var wg sync.WaitGroup
	for i := range w.o.readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for more() {
				w.read(ctx, w.pick(r), r)
			}
		})
	}
	for i := range w.o.bigReaders {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for more() {
				w.read(ctx, "graph10k", r)
			}
		})
	}
	for i := range w.o.uploaders {
		wg.Go(func() {
			for n := 1; more(); n++ {
				if w.o.bigUploadEvery > 0 && n%w.o.bigUploadEvery == 0 {
					w.uploadOnce(ctx, "uploadGraph 10k", fmt.Sprintf("load-big-%d-%d", i, n), w.big)
					if !more() {
						break
					}
				}
				w.uploadOnce(ctx, "uploadGraph 20", fmt.Sprintf("load-20-%d-%d", i, n), w.small)
			}
		})
	}
	for i := range w.o.runners {
		wg.Go(func() {
			for n := 1; more(); n++ {
				w.simulate(ctx, i*1_000_000+n)
			}
		})
	}
	wg.Wait()
	return w.o.duration, max(time.Since(deadline), 0)
}

// solo runs one reader operation alone with n clients for d.
func (w *workload) solo(ctx context.Context, op string, d time.Duration, n int) time.Duration {
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 3))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				w.read(ctx, op, r)
			}
		})
	}
	wg.Wait()
	return d
}

// ---------------------------------------------------------------------------
// helpers

// createPostgres creates ethox_load_<pid> on the server of admin and returns
// its URL and a function that drops it.
func createPostgres(admin string) (string, func(), error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, fmt.Errorf("-db: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("ethox_load_%d", os.Getpid())
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("PostgreSQL at -db: %w", err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "load: drop database %s: %v\n", name, err)
		} else {
			fmt.Printf("dropped database %s\n", name)
		}
		db.Close()
	}
	fmt.Printf("created database %s\n", name)
	return u.String(), drop, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ctx context.Context, c *client, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if resp, err := c.http.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server not ready after 60s")
}

// grepLog returns the server log's error lines (slog text or JSON).
func grepLog(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"reading the server log: " + err.Error()}
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "panic:") {
			out = append(out, l)
		}
	}
	return out
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxx")
	}
	return p.String()
}
