package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/reporting"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/telemetry"
)

// readFixture returns testdata/name (see internal/fixtures).
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	return fixtures.Read(t, name)
}

// env is a real HTTP server over a fresh database.
type env struct {
	t    testing.TB
	url  string
	db   *database.DB
	fk   *fakellm.Server
	opts api.Options
}

func newEnv(t testing.TB, dialect string, opts ...func(*api.Options)) *env {
	t.Helper()
	db := testdb.Open(t, dialect)
	fk := fakellm.New(2 * time.Millisecond)
	t.Cleanup(fk.Close)
	lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	// The server's reads come from memory (on PostgreSQL once its listener
	// for other processes' deletes is up; before, they check the database).
	graphs := graphstore.New(db)
	memCtx, stopMem := context.WithCancel(context.Background())
	t.Cleanup(stopMem)
	graphs.ServeFromMemory(memCtx, graphstore.DefaultMemoryBytes, nil)
	// Shared with the simulations, as the server does: its deletes enqueue purges for their workers.
	exps := experiment.New(db, experiment.Config{Poll: 100 * time.Millisecond, BootstrapResamples: 500}, nil)
	sims, err := simulation.New(db, lc, simulation.Config{Workers: 2, ChunkSize: 8, PollInterval: 50 * time.Millisecond, Graphs: graphs,
		AddWorkers: exps.AddWorkers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exps.Attach(sims)
	exps.SetNarrator(reporting.New(db, lc, reporting.Narrator{}))
	metrics := telemetry.New(db.SQL)
	sims.SetMetrics(metrics)
	if err := sims.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sims.Stop(ctx)
	})
	o := api.Options{
		DB:             db,
		Client:         db.Client,
		Graphs:         graphs,
		Sims:           sims,
		Reports:        reporting.New(db, lc, reporting.Narrator{}),
		Experiments:    exps,
		Metrics:        metrics,
		CORSOrigins:    []string{"*"},
		MaxUploadBytes: 256 << 20,
		MaxBodyBytes:   64 << 20,
		Logger:         slog.New(slog.DiscardHandler), // request lines would drown test output
	}
	for _, f := range opts {
		f(&o)
	}
	srv := httptest.NewServer(api.NewHandler(o))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, db: db, fk: fk, opts: o}
}

// forEachDB runs f against SQLite, and PostgreSQL when TEST_DATABASE_URL is set.
func forEachDB(t *testing.T, f func(t *testing.T, dialect string)) {
	for _, d := range testdb.Dialects() {
		t.Run(d, func(t *testing.T) { f(t, d) })
	}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// decode unmarshals data into v, failing the test on GraphQL errors.
func (r gqlResponse) decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

func (e *env) query(q string, vars map[string]any) gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	return e.post("application/json", bytes.NewReader(body))
}

func (e *env) post(contentType string, body io.Reader) gqlResponse {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.url+"/query", body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return e.send(req)
}

func (e *env) send(req *http.Request) gqlResponse {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := gqlResponse{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("response is not JSON (status %d): %s", resp.StatusCode, raw)
	}
	return out
}

const uploadMutation = `mutation($file: Upload!, $name: String) {
  uploadGraph(file: $file, name: $name) {
    network { id name source nodeCount edgeCount traitKeys directed }
    metadata { nodeCount edgeCount traitKeys }
  }
}`

// multipartBody builds a GraphQL multipart request as apollo-upload-client sends it.
func multipartBody(t testing.TB, query string, vars map[string]any, file []byte, filename string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if vars == nil {
		vars = map[string]any{}
	}
	vars["file"] = nil
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0":["variables.file"]}`)
	fw, err := mw.CreateFormFile("0", filename)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file)
	_ = mw.Close()
	return mw.FormDataContentType(), &buf
}

func (e *env) upload(file []byte, name string) gqlResponse {
	e.t.Helper()
	var vars map[string]any
	if name != "" {
		vars = map[string]any{"name": name}
	}
	ct, body := multipartBody(e.t, uploadMutation, vars, file, "network.json")
	return e.post(ct, body)
}

type uploadResult struct {
	UploadGraph struct {
		Network struct {
			ID        string   `json:"id"`
			Name      string   `json:"name"`
			Source    string   `json:"source"`
			NodeCount int      `json:"nodeCount"`
			EdgeCount int      `json:"edgeCount"`
			TraitKeys []string `json:"traitKeys"`
		} `json:"network"`
		Metadata struct {
			NodeCount int      `json:"nodeCount"`
			EdgeCount int      `json:"edgeCount"`
			TraitKeys []string `json:"traitKeys"`
		} `json:"metadata"`
	} `json:"uploadGraph"`
}

func (e *env) mustUpload(file []byte, name string) uploadResult {
	e.t.Helper()
	var out uploadResult
	e.upload(file, name).decode(e.t, &out)
	return out
}

// counts reads row counts straight from the database, to prove a rejected
// request wrote nothing.
func (e *env) counts() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"networks", "agents", "ties"} {
		var n int
		if err := e.db.SQL.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func bytesBuffer(b []byte) *bytes.Buffer { return bytes.NewBuffer(b) }

// newPost builds a POST; chunked hides the length, as a streaming client sends it.
func newPost(t testing.TB, base, contentType string, body *bytes.Buffer, chunked bool) *http.Request {
	t.Helper()
	var r io.Reader = body
	if chunked {
		r = io.MultiReader(body) // not a *bytes.Buffer: net/http cannot know the length
	}
	req, err := http.NewRequest(http.MethodPost, base+"/query", r)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", contentType)
	return req
}
