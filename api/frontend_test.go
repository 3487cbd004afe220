package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/frontend"
)

// A built front end (FRONTEND_DIR) is served at / beside the API, which it
// never shadows; GraphiQL moves to /graphiql.

const appHTML = `<!doctype html><html><head><title>Society Explorer</title></head><body><div id="root"></div></body></html>`

func withFrontend(t *testing.T) func(*api.Options) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"index.html":               appHTML,
		"assets/index-BdQq_4o_.js": strings.Repeat("console.log('Society Explorer');\n", 100),
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fe, err := frontend.New(dir, frontend.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		<-fe.Precompressed()
		fe.Close()
	})
	return func(o *api.Options) { o.Frontend = fe }
}

func get(t *testing.T, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects, no transparent gzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestFrontendMounted(t *testing.T) {
	e := newEnv(t, "sqlite", withFrontend(t))
	e.mustUpload([]byte(tinyGraph), "tiny")
	for _, path := range []string{"/", "/graph", "/simulations/42/report"} {
		status, h, body := get(t, e.url+path)
		if status != 200 || body != appHTML || h.Get("Cache-Control") != "no-cache" || h.Get("ETag") == "" {
			t.Fatalf("%s: %d %v %.80s", path, status, h, body)
		}
	}
	status, h, body := get(t, e.url+"/assets/index-BdQq_4o_.js", "Accept-Encoding", "gzip")
	if status != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		!strings.HasPrefix(h.Get("Content-Type"), "text/javascript") || len(body) == 0 {
		t.Fatalf("asset: %d %v", status, h)
	}
	// GraphiQL has a path of its own; its assets still load.
	status, _, body = get(t, e.url+api.GraphiQLPath)
	if status != 200 || !strings.Contains(body, "graphiql") || strings.Contains(body, "Society Explorer") {
		t.Fatalf("%s: %d %.200s", api.GraphiQLPath, status, body)
	}
	if status, _, _ = get(t, e.url+"/ide/assets/graphiql.min.js"); status != 200 {
		t.Fatalf("IDE asset: %d", status)
	}
	// The API's routes are never the app: each answers as it would without it.
	if status, _, body = get(t, e.url+"/api/graph/"); status != 200 || !strings.Contains(body, `"node_count":3`) {
		t.Fatalf("/api/graph/: %d %s", status, body)
	}
	if status, _, body = get(t, e.url+`/query?query={networks{totalCount}}`); status != 200 || !strings.Contains(body, `"totalCount":1`) {
		t.Fatalf("/query: %d %s", status, body)
	}
	for path, want := range map[string]int{
		"/healthz": 200, "/readyz": 200, "/metrics": 200,
		"/api/nope/": 404, "/exports/nope": 404, "/reports/1/charts/x.svg": 404,
		"/riverui/":   404, // not mounted here: still not the app
		"/graphiql/x": 404, "/ide/assets/nope.js": 404, "/query/x": 404,
	} {
		status, _, body := get(t, e.url+path)
		if status != want || strings.Contains(body, "Society Explorer") {
			t.Errorf("%s: %d (want %d) %.80s", path, status, want, body)
		}
	}
}

func TestFrontendAbsentKeepsGraphiQLAtRoot(t *testing.T) {
	e := newEnv(t, "sqlite")
	if status, _, body := get(t, e.url+"/"); status != 200 || !strings.Contains(body, "graphiql") {
		t.Fatalf("/: %d %.100s", status, body)
	}
	if status, _, _ := get(t, e.url+api.GraphiQLPath); status != 404 {
		t.Fatalf("%s without a front end: %d", api.GraphiQLPath, status)
	}
	// With the IDE off and a front end, /graphiql is not the app either.
	e2 := newEnv(t, "sqlite", withFrontend(t), func(o *api.Options) { o.DisableIDE = true })
	if status, _, body := get(t, e2.url+api.GraphiQLPath); status != 404 || strings.Contains(body, "Society Explorer") {
		t.Fatalf("IDE off: %d %.80s", status, body)
	}
	if status, _, body := get(t, e2.url+"/"); status != 200 || body != appHTML {
		t.Fatalf("IDE off, /: %d", status)
	}
}
