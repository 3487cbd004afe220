// Command soak runs two Ethox server processes on one PostgreSQL database for
// -duration under a steady mixed load, with faults injected while it runs:
//
//   - the fake LLM (internal/fakellm, in this process) answers a share of its
//     calls with a 429, a 500 or malformed JSON (-faults);
//   - the PostgreSQL cluster is restarted once, at 30% of the duration
//     (-pg-cluster "VERSION NAME": pg_ctlcluster restart; bench/soak.sh runs
//     it on a throwaway cluster of its own, never the shared one);
//   - one server process is killed with SIGKILL at 60% and started again
//     -down later.
//
// The load (loopback only, bounded: -readers, -runners, -uploaders) mixes
// graph, agent and networks reads on both processes, uploads with
// deleteNetwork of the previous upload, and LLM runs started on either
// process. bench/load/main.go's workload is written for one process and
// counts every failure as an error, so the soak has its own, which knows
// when a process is down (it sends it nothing then) and counts the errors
// inside a fault's window apart.
//
// Once the load stops it waits up to -grace for every run started to reach a
// final status (a killed process's jobs are taken over once its WORKER_LEASE
// lapses), then reports:
// requests and errors by operation, runs by final status, stored steps
// against LLM calls, and memory and goroutines of each process at its start
// and at the end (from /metrics). It exits 1 when a run is not final, when a
// request failed outside a fault's window, or a process did not stop cleanly.
//
//	bench/soak.sh                       # SOAK_DURATION (default 10m)
//	go run ./bench/soak -h              # every flag
package main

import (
	"bufio"
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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
)

type options struct {
	db, pgCluster, faults, bin string
	duration, down, grace      time.Duration
	rescueAfter, llmLatency    time.Duration
	readers, runners, uploads  int
	keep, failOnStuck          bool
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "postgres://postgres@127.0.0.1:5440/postgres?sslmode=disable", "PostgreSQL server (a fresh database ethox_soak_<pid> is created there)")
	flag.StringVar(&o.pgCluster, "pg-cluster", "", `"VERSION NAME" of the cluster behind -db, restarted once with pg_ctlcluster (empty: no restart)`)
	flag.StringVar(&o.faults, "faults", "429=0.03,500=0.03,malformed=0.03", "share of LLM calls answered with each fault (fakellm.ParseFaults)")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "length of the load")
	flag.DurationVar(&o.down, "down", 5*time.Second, "how long the killed process stays down")
	flag.DurationVar(&o.grace, "grace", 3*time.Minute, "after the load, how long runs may take to become final")
	flag.DurationVar(&o.rescueAfter, "rescue-after", 0, "JOB_RESCUE_AFTER of both processes, JOB_TIMEOUT two thirds of it (0: the defaults; a killed process's jobs are taken over after WORKER_LEASE)")
	flag.DurationVar(&o.llmLatency, "llm-latency", 20*time.Millisecond, "latency of each fake LLM call")
	flag.IntVar(&o.readers, "readers", 4, "concurrent readers")
	flag.IntVar(&o.runners, "runners", 2, "concurrent runners (LLM runs, 20 agents, 1 round)")
	flag.IntVar(&o.uploads, "uploaders", 1, "concurrent uploaders (each upload deletes the previous one)")
	flag.StringVar(&o.bin, "bin", "", "server binary (default: go build one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir with the servers' logs, and the database")
	flag.BoolVar(&o.failOnStuck, "fail-on-stuck", true, "exit 1 when a run is not final after -grace (false: report it as a known gap)")
	flag.Parse()
	os.Exit(run(o))
}

// proc is one server process, restartable on the same port.
type proc struct {
	name, base, logPath string
	cmd                 *exec.Cmd
	exited              chan error
	up                  atomic.Bool
	starts              []metrics // at each start, then at the end
	logErrors           int
}

type metrics struct {
	at         string
	goroutines float64
	heapMB     float64
	rssMB      float64
}

type soak struct {
	o          options
	bin, dbURL string
	env        []string
	procs      []*proc
	http       *http.Client
	fk         *fakellm.Server
	smallDoc   []byte

	mu      sync.Mutex
	ops     map[string]*opStat
	windows [][2]time.Time // fault windows: errors inside are expected
	runIDs  []string
	notes   []string
}

type opStat struct{ ok, failed, inWindow int }

func run(o options) (code int) {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
		return 2
	}
	faults, err := fakellm.ParseFaults(o.faults)
	if err != nil {
		return fail("-faults: %v", err)
	}
	root, err := fixtures.Root()
	if err != nil {
		return fail("%v", err)
	}
	s := &soak{o: o, ops: map[string]*opStat{}, http: &http.Client{Timeout: time.Minute}}
	if s.smallDoc, err = os.ReadFile(filepath.Join(root, "testdata", fixtures.Network20)); err != nil {
		return fail("fixture: %v", err)
	}
	tmp, err := os.MkdirTemp("", "ethox-soak-")
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if o.keep || code != 0 {
			fmt.Printf("kept %s (server logs)\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	s.bin = o.bin
	if s.bin == "" {
		s.bin = filepath.Join(tmp, "ethox")
		build := exec.Command("go", "build", "-o", s.bin, ".")
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fail("go build: %v\n%s", err, out)
		}
	}
	var drop func()
	if s.dbURL, drop, err = createDatabase(o.db); err != nil {
		return fail("%v", err)
	}
	defer func() {
		if o.keep || code != 0 {
			fmt.Printf("kept database %s\n", redact(s.dbURL))
			return
		}
		drop()
	}()
	s.fk = fakellm.New(o.llmLatency)
	defer s.fk.Close()
	s.fk.SetFaults(faults)
	s.env = append(os.Environ(), "ENV=development", "LOG_LEVEL=info", "HOST=127.0.0.1", "DATABASE_URL="+s.dbURL,
		"DEMO_DATA=false", "WORKERS=4", "OPENAI_BASE_URL="+s.fk.BaseURL(), "OPENAI_API_KEY=test", "SHUTDOWN_TIMEOUT=20s")
	if o.rescueAfter > 0 {
		s.env = append(s.env, "JOB_RESCUE_AFTER="+o.rescueAfter.String(), "JOB_TIMEOUT="+(o.rescueAfter*2/3).String())
	}
	for _, name := range []string{"A", "B"} {
		port, err := freePort()
		if err != nil {
			return fail("%v", err)
		}
		p := &proc{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: filepath.Join(tmp, "server-"+name+".log")}
		s.procs = append(s.procs, p)
		if err := s.start(p, port); err != nil {
			return fail("start %s: %v", name, err)
		}
		defer s.stop(p) //nolint:errcheck // at the end, stopped explicitly first
	}
	fmt.Printf("soak: %s on PostgreSQL (%s), processes A %s and B %s, fake LLM %s with faults %s\n",
		o.duration, redact(s.dbURL), s.procs[0].base, s.procs[1].base, o.llmLatency, o.faults)

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	smallID, ok := s.upload(context.Background(), s.procs[0], "soak-20")
	if !ok {
		return fail("setup upload failed\n%s", tail(s.procs[0].logPath, 30))
	}
	llmBefore := s.fk.Calls()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.readers {
		wg.Go(func() { s.reader(ctx, i, smallID) })
	}
	for i := range o.runners {
		wg.Go(func() { s.runner(ctx, i, smallID) })
	}
	for i := range o.uploads {
		wg.Go(func() { s.uploader(ctx, i) })
	}
	wg.Go(func() { s.chaos(ctx, start) })
	wg.Wait()
	fmt.Printf("load stopped after %s; waiting up to %s for every run to be final\n", time.Since(start).Round(time.Second), o.grace)

	statuses, waited := s.waitFinal(o.grace)
	llmCalls := s.fk.Calls() - llmBefore
	steps := s.storedSteps()
	for _, p := range s.procs {
		if m, err := s.scrape(p, "end"); err == nil {
			p.starts = append(p.starts, m)
		}
	}
	var stopErrs []string
	for _, p := range s.procs {
		if err := s.stop(p); err != nil {
			stopErrs = append(stopErrs, fmt.Sprintf("%s: %v", p.name, err))
		}
		p.logErrors = countErrors(p.logPath)
	}
	return s.report(statuses, waited, llmCalls, steps, stopErrs)
}

// start runs p's server and waits until /readyz answers 200.
func (s *soak) start(p *proc, port int) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin)
	cmd.Dir = filepath.Dir(p.logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(append([]string{}, s.env...), "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	p.cmd, p.exited = cmd, make(chan error, 1)
	go func() { p.exited <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := s.http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.up.Store(true)
				m, err := s.scrape(p, fmt.Sprintf("start %d", len(p.starts)+1))
				if err == nil {
					p.starts = append(p.starts, m)
				}
				return nil
			}
		}
		select {
		case err := <-p.exited:
			return fmt.Errorf("exited: %v\n%s", err, tail(p.logPath, 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("not ready within 2 minutes")
}

// stop sends SIGTERM and waits for p to exit.
func (s *soak) stop(p *proc) error {
	if p.cmd == nil || !p.up.Swap(false) {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(45 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("did not stop within 45 s of SIGTERM; killed")
	}
}

// chaos restarts PostgreSQL at 30% of the duration and kills process B at 60%.
func (s *soak) chaos(ctx context.Context, start time.Time) {
	at := func(share float64) bool {
		t := time.NewTimer(time.Until(start.Add(time.Duration(share * float64(s.o.duration)))))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if s.o.pgCluster != "" && at(0.3) {
		f := strings.Fields(s.o.pgCluster)
		t0 := time.Now()
		end := s.window(t0)
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", f[0], f[1], "restart", "-m", "fast").CombinedOutput()
		end(time.Now().Add(10 * time.Second)) // pools reconnect, River's jobs retry
		s.note("PostgreSQL restarted at %s in %s %v %s", time.Since(start).Round(time.Second),
			time.Since(t0).Round(time.Millisecond), errOrOK(err), strings.TrimSpace(string(out)))
	}
	if !at(0.6) {
		return
	}
	b := s.procs[1]
	port, _ := strconv.Atoi(b.base[strings.LastIndexByte(b.base, ':')+1:])
	t0 := time.Now()
	end := s.window(t0)
	b.up.Store(false) // the load stops sending to it
	_ = b.cmd.Process.Kill()
	<-b.exited
	s.note("process B killed (SIGKILL) at %s", time.Since(start).Round(time.Second))
	time.Sleep(s.o.down)
	err := s.start(b, port)
	end(time.Now().Add(2 * time.Second))
	s.note("process B started again after %s %v", time.Since(t0).Round(time.Millisecond), errOrOK(err))
}

func errOrOK(err error) string {
	if err != nil {
		return "FAILED: " + err.Error()
	}
	return "(ok)"
}

func (s *soak) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Println("  " + line)
	s.mu.Lock()
	s.notes = append(s.notes, line)
	s.mu.Unlock()
}

// window opens a fault's window at from, until end sets its end: requests
// failing meanwhile are counted as expected.
func (s *soak) window(from time.Time) (end func(time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.windows)
	s.windows = append(s.windows, [2]time.Time{from, from.Add(24 * time.Hour)})
	return func(to time.Time) {
		s.mu.Lock()
		s.windows[i][1] = to
		s.mu.Unlock()
	}
}

// record counts one request; a failure inside a fault's window is expected.
func (s *soak) record(op string, started time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ops[op]
	if st == nil {
		st = &opStat{}
		s.ops[op] = st
	}
	if err == nil {
		st.ok++
		return
	}
	for _, w := range s.windows {
		if !started.After(w[1]) && !time.Now().Before(w[0]) {
			st.inWindow++
			return
		}
	}
	st.failed++
	if st.failed <= 3 {
		fmt.Printf("  error %s: %v\n", op, truncate(err.Error(), 300))
	}
}

// pick is a live process, at random.
func (s *soak) pick(r *rand.Rand) *proc {
	for range 20 {
		if p := s.procs[r.IntN(len(s.procs))]; p.up.Load() {
			return p
		}
	}
	return s.procs[0]
}

// gql posts a GraphQL request to p; errors of the answer are errors.
func (s *soak) gql(ctx context.Context, p *proc, q string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/query", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return s.do(req, out)
}

func (s *soak) do(req *http.Request, out any) error {
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(b), 200))
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("HTTP %d: %s (%v)", resp.StatusCode, env.Errors[0].Message, env.Errors[0].Extensions["code"])
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

func (s *soak) reader(ctx context.Context, i int, smallID string) {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for ctx.Err() == nil {
		p := s.pick(r)
		t0 := time.Now()
		var err error
		switch k := r.IntN(3); k {
		case 0:
			var d struct {
				Graph struct{ Nodes []struct{ AgentID string } }
			}
			err = s.gql(ctx, p, `query($id: ID) { graph(networkId: $id) { nodes { agentId degree traits } edges { source target weight } } }`,
				map[string]any{"id": smallID}, &d)
			if err == nil && len(d.Graph.Nodes) != 20 {
				err = fmt.Errorf("graph has %d nodes, want 20", len(d.Graph.Nodes))
			}
			s.record("graph", t0, ignoreCanceled(ctx, err))
		case 1:
			err = s.gql(ctx, p, `query($id: ID) { agent(agentId: "0", networkId: $id) { node { agentId } neighbors { agentId weight } } }`,
				map[string]any{"id": smallID}, nil)
			s.record("agent", t0, ignoreCanceled(ctx, err))
		default:
			var d struct {
				Networks struct {
					TotalCount int
					Edges      []struct{ Cursor string }
				}
			}
			err = s.gql(ctx, p, `{ networks(first: 1000) { totalCount edges { cursor } } }`, nil, &d)
			if err == nil && d.Networks.TotalCount != len(d.Networks.Edges) {
				err = fmt.Errorf("networks: totalCount %d with %d edges", d.Networks.TotalCount, len(d.Networks.Edges))
			}
			s.record("networks", t0, ignoreCanceled(ctx, err))
		}
	}
}

func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil // the load's end cut it off
	}
	return err
}

func (s *soak) runner(ctx context.Context, i int, smallID string) {
	r := rand.New(rand.NewPCG(uint64(i), 11))
	for ctx.Err() == nil {
		p := s.pick(r)
		t0 := time.Now()
		var d struct{ RunSimulation struct{ ID string } }
		err := s.gql(ctx, p, `mutation($id: ID!) { runSimulation(input: {trigger: "The city will close the central library on Sundays.", engine: LLM, rounds: 1, networkId: $id}) { id } }`,
			map[string]any{"id": smallID}, &d)
		s.record("runSimulation", t0, ignoreCanceled(ctx, err))
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.runIDs = append(s.runIDs, d.RunSimulation.ID)
		s.mu.Unlock()
		// Poll it a while, as a dashboard would; finality is checked at the end.
		for end := time.Now().Add(20 * time.Second); ctx.Err() == nil && time.Now().Before(end); {
			time.Sleep(250 * time.Millisecond)
			var st struct{ Simulation struct{ Status string } }
			t1 := time.Now()
			err := s.gql(ctx, s.pick(r), `query($id: ID!) { simulation(id: $id) { status } }`, map[string]any{"id": d.RunSimulation.ID}, &st)
			s.record("simulation (poll)", t1, ignoreCanceled(ctx, err))
			if err == nil && st.Simulation.Status != "QUEUED" && st.Simulation.Status != "RUNNING" {
				break
			}
		}
	}
}

// uploader uploads the 20-agent network and deletes its previous upload.
func (s *soak) uploader(ctx context.Context, i int) {
	r := rand.New(rand.NewPCG(uint64(i), 13))
	prev := ""
	for n := 0; ctx.Err() == nil; n++ {
		p := s.pick(r)
		id, ok := s.upload(ctx, p, fmt.Sprintf("soak-upload-%d-%d", i, n))
		if ok && prev != "" {
			t0 := time.Now()
			err := s.gql(ctx, s.pick(r), `mutation($id: ID!) { deleteNetwork(id: $id) { deletedId } }`, map[string]any{"id": prev}, nil)
			s.record("deleteNetwork", t0, ignoreCanceled(ctx, err))
		}
		if ok {
			prev = id
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *soak) upload(ctx context.Context, p *proc, name string) (string, bool) {
	t0 := time.Now()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{
		"query":     `mutation($file: Upload!, $name: String) { uploadGraph(file: $file, name: $name) { network { id nodeCount } } }`,
		"variables": map[string]any{"file": nil, "name": name}})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.file"]}`)
	fw, _ := mw.CreateFormFile("0", "network.json")
	_, _ = fw.Write(s.smallDoc)
	_ = mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/query", &buf)
	if err != nil {
		return "", false
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var d struct {
		UploadGraph struct{ Network struct{ ID string } }
	}
	err = s.do(req, &d)
	s.record("uploadGraph", t0, ignoreCanceled(ctx, err))
	return d.UploadGraph.Network.ID, err == nil && d.UploadGraph.Network.ID != ""
}

// waitFinal polls the database until every run started is final, or grace.
func (s *soak) waitFinal(grace time.Duration) (map[string]int, time.Duration) {
	db, err := sql.Open("pgx", s.dbURL)
	if err != nil {
		return map[string]int{"(database unreachable)": 1}, 0
	}
	defer db.Close()
	t0 := time.Now()
	for {
		out := map[string]int{}
		rows, err := db.Query(`SELECT status, COUNT(*) FROM simulations GROUP BY status`)
		if err == nil {
			for rows.Next() {
				var st string
				var n int
				if rows.Scan(&st, &n) == nil {
					out[st] = n
				}
			}
			rows.Close()
		}
		if err == nil && out["QUEUED"] == 0 && out["RUNNING"] == 0 || time.Since(t0) > grace {
			return out, time.Since(t0)
		}
		time.Sleep(time.Second)
	}
}

// showStuck prints the River jobs of the runs that are not final.
func (s *soak) showStuck() {
	db, err := sql.Open("pgx", s.dbURL)
	if err != nil {
		return
	}
	defer db.Close()
	rows, err := db.Query(`SELECT s.id, s.status, s.completed_steps, s.total_steps, j.id, j.kind, j.state, j.attempt,
		COALESCE(j.args->>'round', ''), COALESCE(j.args->>'chunk', ''), j.scheduled_at, COALESCE(j.attempted_by[array_length(j.attempted_by, 1)], ''),
		COALESCE(j.errors[array_length(j.errors, 1)]->>'error', '')
		FROM simulations s LEFT JOIN river_job j ON (j.args->>'simulationId')::bigint = s.id
		WHERE s.status IN ('QUEUED', 'RUNNING') ORDER BY s.id, j.id`)
	if err != nil {
		fmt.Printf("  (jobs unreadable: %v)\n", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var sim, done, total int
		var status, kind, state, round, chunk, by, lastErr sql.NullString
		var job, attempt sql.NullInt64
		var at sql.NullTime
		if err := rows.Scan(&sim, &status, &done, &total, &job, &kind, &state, &attempt, &round, &chunk, &at, &by, &lastErr); err != nil {
			fmt.Printf("  (%v)\n", err)
			return
		}
		fmt.Printf("  run %d %s %d/%d steps: job %d %s round %s chunk %s %s attempt %d scheduled %s by %s %s\n", sim, status.String,
			done, total, job.Int64, kind.String, round.String, chunk.String, state.String, attempt.Int64,
			at.Time.Format(time.TimeOnly), by.String, truncate(lastErr.String, 120))
	}
}

func (s *soak) storedSteps() int {
	db, err := sql.Open("pgx", s.dbURL)
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM agent_states`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// scrape reads p's goroutines, Go heap and resident memory from /metrics.
func (s *soak) scrape(p *proc, at string) (metrics, error) {
	m := metrics{at: at}
	resp, err := s.http.Get(p.base + "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			m.goroutines = v
		case "go_memstats_heap_inuse_bytes":
			m.heapMB = v / (1 << 20)
		case "process_resident_memory_bytes":
			m.rssMB = v / (1 << 20)
		}
	}
	return m, sc.Err()
}

func (s *soak) report(statuses map[string]int, waited time.Duration, llmCalls, steps int, stopErrs []string) int {
	fmt.Printf("\nEthox soak on PostgreSQL, %s, two processes; faults: LLM %s", time.Now().UTC().Format(time.RFC3339), s.o.faults)
	if s.o.pgCluster != "" {
		fmt.Print(", one PostgreSQL restart")
	}
	fmt.Println(", one kill -9")
	for _, n := range s.notes {
		fmt.Println("  " + n)
	}
	fmt.Printf("\n%-20s %8s %8s %14s\n", "requests", "ok", "errors", "in fault window")
	names := make([]string, 0, len(s.ops))
	for k := range s.ops {
		names = append(names, k)
	}
	sort.Strings(names)
	var total, errs, inWindow int
	for _, k := range names {
		st := s.ops[k]
		fmt.Printf("%-20s %8d %8d %14d\n", k, st.ok, st.failed, st.inWindow)
		total += st.ok + st.failed + st.inWindow
		errs += st.failed
		inWindow += st.inWindow
	}
	fmt.Printf("%-20s %8d %8d %14d\n", "all", total-errs-inWindow, errs, inWindow)
	notFinal := statuses["QUEUED"] + statuses["RUNNING"]
	fmt.Printf("\nruns started: %d; by status after %s: %v\n", len(s.runIDs), waited.Round(time.Second), statuses)
	fc := s.fk.FaultCounts()
	answered := int64(llmCalls) - fc.RateLimited - fc.ServerError
	fmt.Printf("LLM calls: %d (429: %d, 500: %d, malformed: %d); answered: %d; stored steps: %d (answers not stored: %d)\n",
		llmCalls, fc.RateLimited, fc.ServerError, fc.Malformed, answered, steps, answered-int64(steps))
	fmt.Printf("\n%-8s %-10s %10s %10s %10s\n", "process", "when", "goroutines", "heap MB", "RSS MB")
	for _, p := range s.procs {
		for _, m := range p.starts {
			fmt.Printf("%-8s %-10s %10.0f %10.1f %10.1f\n", p.name, m.at, m.goroutines, m.heapMB, m.rssMB)
		}
		fmt.Printf("%-8s ERROR lines in its log: %d\n", p.name, p.logErrors)
	}
	code := 0
	if notFinal > 0 {
		if s.o.failOnStuck {
			fmt.Printf("FAIL: %d runs not final after the grace period; their jobs:\n", notFinal)
			code = 1
		} else {
			fmt.Printf("KNOWN GAP (-fail-on-stuck=false): %d runs not final after the grace period; their jobs:\n", notFinal)
		}
		s.showStuck()
	}
	if errs > 0 {
		fmt.Printf("FAIL: %d requests failed outside a fault's window\n", errs)
		code = 1
	}
	for _, e := range stopErrs {
		fmt.Printf("FAIL: process %s\n", e)
		code = 1
	}
	if code == 0 && notFinal == 0 {
		fmt.Println("PASS: every run final, no error outside a fault's window")
	}
	return code
}

func countErrors(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return strings.Count(string(b), "level=ERROR")
}

func createDatabase(admin string) (string, func(), error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("ethox_soak_%d", os.Getpid())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create database %s on %s: %w", name, redact(admin), err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
