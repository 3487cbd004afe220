package frontend

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

func TestFingerprinted(t *testing.T) {
	for name, want := range map[string]bool{
		"index-3f2a1b.js":                 true,
		"assets/index-BdQq_4o_.js":        true, // Vite 5: 8 characters of base64url
		"assets/index-a-bC3dEf.css":       true, // '-' inside the hash
		"assets/index-BdQq_4o_.js.map":    true,
		"assets/logo-a1b2c3d4.svg":        true,
		"static/js/main.5d41402a.js":      true, // create-react-app
		"css/site.3f2a1b9c0d4e.css":       true, // Django's manifest storage
		"nested/assets/chunk-Dx7kLm9Q.js": true,
		"index.html":                      false,
		"favicon.ico":                     false,
		"robots.txt":                      false,
		"assets/polyfill.js":              false,
		"assets/vendor-polyfill.js":       false, // a word, not a hash
		"assets/react-dom.js":             false,
		"vendor-bundle.js":                false,
		"app-decade.js":                   false, // hex letters only: a word
		"build-20240101.js":               false, // digits only: a date, not a hash
		"index-3f2a1.js":                  false, // too short
		"lib/index-BdQq_4o_.js":           false, // base64 hashes only under assets/
		"3f2a1b9c":                        false,
	} {
		if got := Fingerprinted(name); got != want {
			t.Errorf("Fingerprinted(%q) = %v", name, got)
		}
	}
}

func TestAcceptedEncodings(t *testing.T) {
	q := acceptedEncodings("gzip, deflate, br;q=0.8, zstd;q=0, *;q=0.1, bad;q=x")
	if q["gzip"] != 1 || q["br"] != 0.8 || q["zstd"] != 0 || q["*"] != 0.1 || q["bad"] != 0 {
		t.Fatalf("%v", q)
	}
}

// A build as Vite writes it, plus what must never be served.
var script = strings.Repeat("export function f(){return document.querySelector('#app').textContent}\n", 200)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func newSite(t *testing.T, o Options) (string, *Handler) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "dist")
	writeFiles(t, base, map[string]string{"outside.txt": "secret outside the front end"})
	writeFiles(t, dir, map[string]string{
		"index.html":                 `<!doctype html><html><head><script type="module" src="/assets/index-BdQq_4o_.js"></script></head><body><div id="app"></div></body></html>`,
		"assets/index-BdQq_4o_.js":   script,
		"assets/index-C1xYz9Qw.css":  strings.Repeat("body{margin:0;font-family:sans-serif}\n", 100),
		"assets/font-Ab12Cd34.woff2": strings.Repeat("\x00w", 600),
		"assets/logo-a1b2c3d4.png":   strings.Repeat("\x89PNG", 500),
		"favicon.ico":                strings.Repeat("\x00\x00\x01\x00", 300),
		"robots.txt":                 "User-agent: *\n",
		"manifest.webmanifest":       `{"name":"Society Explorer"}`,
		"prebuilt.css":               strings.Repeat("p{color:red}\n", 200),
		".env":                       "OPENAI_API_KEY=sk-secret",
		".git/config":                "[core]",
		".well-known/security.txt":   "Contact: mailto:security@example.com\n",
		"docs/index.html":            "<!doctype html><title>docs</title>",
	})
	// A prebuilt brotli sibling, newer than its file: taken as it is.
	writeFiles(t, dir, map[string]string{"prebuilt.css.br": "BROTLI-PREBUILT"})
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "prebuilt.css.br"), future, future); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "outside.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		<-h.Precompressed()
		h.Close()
	})
	return dir, h
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func get(h http.Handler, method, target string, header ...string) result {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	return result{rr.Code, rr.Header(), rr.Body.Bytes()}
}

func decode(t *testing.T, enc string, b []byte) string {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return string(b)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestServesTheApp(t *testing.T) {
	_, h := newSite(t, Options{})
	<-h.Precompressed()

	index := get(h, http.MethodGet, "/")
	if index.status != 200 || index.header.Get("Content-Type") != "text/html; charset=utf-8" ||
		index.header.Get("Cache-Control") != "no-cache" || index.header.Get("ETag") == "" || !bytes.Contains(index.body, []byte(`id="app"`)) {
		t.Fatalf("/: %d %v %s", index.status, index.header, index.body)
	}
	if r := get(h, http.MethodGet, "/", "If-None-Match", index.header.Get("ETag")); r.status != http.StatusNotModified || len(r.body) != 0 {
		t.Fatalf("revalidation: %d", r.status)
	}
	// Client-side routes get index.html; the explicit /index.html too.
	for _, route := range []string{"/simulations/42", "/graph", "/nodes/7/details", "/index.html"} {
		if r := get(h, http.MethodGet, route); r.status != 200 || !bytes.Equal(r.body, index.body) || r.header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: %d %s", route, r.status, r.body)
		}
	}
	// A directory with its own index.html.
	if r := get(h, http.MethodGet, "/docs/"); r.status != 200 || !strings.Contains(string(r.body), "<title>docs") {
		t.Fatalf("/docs/: %d %s", r.status, r.body)
	}
	if r := get(h, http.MethodGet, "/docs"); r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/docs/" {
		t.Fatalf("/docs: %d %v", r.status, r.header)
	}

	// The fingerprinted script: immutable, in the encoding asked for.
	const js = "/assets/index-BdQq_4o_.js"
	etags := map[string]bool{}
	for _, tc := range []struct{ accept, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"gzip, deflate, br, zstd", "br"},
		{"gzip, zstd", "zstd"},
		{"br;q=0.5, gzip", "gzip"},
		{"gzip;q=0, identity", ""},
		{"*", "br"},
		{"*, br;q=0", "zstd"},
	} {
		r := get(h, http.MethodGet, js, "Accept-Encoding", tc.accept)
		if r.status != 200 || r.header.Get("Content-Encoding") != tc.want || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
			r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.header.Get("Vary") != "Accept-Encoding" ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%q: %d %v", tc.accept, r.status, r.header)
		}
		if got := decode(t, tc.want, r.body); got != script {
			t.Fatalf("%q: the body does not decode to the file", tc.accept)
		}
		if tc.want != "" && len(r.body) >= len(script)/5 {
			t.Fatalf("%q: %d bytes compressed from %d", tc.accept, len(r.body), len(script))
		}
		etags[r.header.Get("ETag")] = true
		if nm := get(h, http.MethodGet, js, "Accept-Encoding", tc.accept, "If-None-Match", r.header.Get("ETag")); nm.status != http.StatusNotModified {
			t.Fatalf("%q: revalidation %d", tc.accept, nm.status)
		}
	}
	if len(etags) != 4 {
		t.Fatalf("one ETag per representation: %v", etags)
	}
	if r := get(h, http.MethodHead, js, "Accept-Encoding", "gzip"); r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("HEAD: %d %v", r.status, r.header)
	}
	if r := get(h, http.MethodGet, js, "Range", "bytes=0-9"); r.status != http.StatusPartialContent || string(r.body) != script[:10] {
		t.Fatalf("range: %d %q", r.status, r.body)
	}

	// Content types; formats compressed already are sent as they are.
	for path, ct := range map[string]string{
		"/assets/index-C1xYz9Qw.css":  "text/css; charset=utf-8",
		"/assets/font-Ab12Cd34.woff2": "font/woff2",
		"/assets/logo-a1b2c3d4.png":   "image/png",
		"/favicon.ico":                "image/x-icon",
		"/robots.txt":                 "text/plain; charset=utf-8",
		"/manifest.webmanifest":       "application/manifest+json",
	} {
		r := get(h, http.MethodGet, path, "Accept-Encoding", "gzip")
		if r.status != 200 || r.header.Get("Content-Type") != ct {
			t.Errorf("%s: %d %v", path, r.status, r.header)
		}
		binary := strings.HasSuffix(path, ".woff2") || strings.HasSuffix(path, ".png")
		if binary && (r.header.Get("Content-Encoding") != "" || r.header.Get("Vary") != "") {
			t.Errorf("%s compressed again: %v", path, r.header)
		}
		if small := path == "/robots.txt" || path == "/manifest.webmanifest"; small && r.header.Get("Content-Encoding") != "" {
			t.Errorf("%s: compressed though that makes it no smaller", path)
		}
		if want := path != "/favicon.ico" && path != "/robots.txt" && path != "/manifest.webmanifest"; (r.header.Get("Cache-Control") == "no-cache") == want {
			t.Errorf("%s: Cache-Control %s", path, r.header.Get("Cache-Control"))
		}
	}
	// A prebuilt .br sibling is served as it is.
	if r := get(h, http.MethodGet, "/prebuilt.css", "Accept-Encoding", "br"); r.header.Get("Content-Encoding") != "br" || string(r.body) != "BROTLI-PREBUILT" {
		t.Fatalf("prebuilt sibling: %v %q", r.header, r.body)
	}

	// Nothing outside the directory, no dot files, no HTML for a missing asset.
	for _, path := range []string{"/.env", "/.git/config", "/assets/missing-abc123de.js", "/link.txt", "/up/outside.txt",
		"/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/nope.png"} {
		r := get(h, http.MethodGet, path)
		if r.status != http.StatusNotFound || bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("<html")) {
			t.Errorf("%s: %d %q", path, r.status, r.body)
		}
	}
	if r := get(h, http.MethodGet, "/.well-known/security.txt"); r.status != 200 {
		t.Errorf(".well-known: %d", r.status)
	}
	if r := get(h, http.MethodPost, "/"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
}

func TestReservedPaths(t *testing.T) {
	_, h := newSite(t, Options{Reserved: []string{"/api/", "/query"}})
	for path, want := range map[string]int{"/api/": 404, "/api/graph/": 404, "/api": 404, "/query": 404, "/query/x": 404, "/queryx": 200, "/apix": 200} {
		if r := get(h, http.MethodGet, path); r.status != want {
			t.Errorf("%s: %d, want %d", path, r.status, want)
		}
	}
}

// Each file is compressed once per encoding, however many requests ask.
func TestCompressedOnce(t *testing.T) {
	var calls atomic.Int64
	saved := encodings[2].compress
	encodings[2].compress = func(b []byte) ([]byte, error) { calls.Add(1); return saved(b) }
	defer func() { encodings[2].compress = saved }()
	_, h := newSite(t, Options{NoPrecompress: true})
	for range 20 {
		if r := get(h, http.MethodGet, "/assets/index-BdQq_4o_.js", "Accept-Encoding", "gzip"); r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%v", r.header)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("gzip ran %d times", n)
	}
	// Without the pass at start, brotli and zstd are not made during a request.
	if r := get(h, http.MethodGet, "/assets/index-BdQq_4o_.js", "Accept-Encoding", "br, zstd"); r.header.Get("Content-Encoding") != "" {
		t.Fatalf("made on a request: %v", r.header)
	}
}

// A file changed on disk (a new build) is read again: new ETag, new body.
func TestChangedFile(t *testing.T) {
	dir, h := newSite(t, Options{})
	<-h.Precompressed()
	before := get(h, http.MethodGet, "/robots.txt")
	writeFiles(t, dir, map[string]string{"robots.txt": "User-agent: *\nDisallow: /\n", "new-page.txt": "new"})
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(filepath.Join(dir, "robots.txt"), later, later)
	after := get(h, http.MethodGet, "/robots.txt")
	if after.header.Get("ETag") == before.header.Get("ETag") || !strings.Contains(string(after.body), "Disallow") {
		t.Fatalf("changed file: %v %q", after.header, after.body)
	}
	if r := get(h, http.MethodGet, "/new-page.txt"); r.status != 200 || string(r.body) != "new" {
		t.Fatalf("new file: %d", r.status)
	}
}

func TestNeedsIndexHTML(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"app.js": "x"})
	quiet := Options{Logger: slog.New(slog.DiscardHandler)}
	if _, err := New(dir, quiet); err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Fatalf("no index.html: %v", err)
	}
	if _, err := New(filepath.Join(dir, "missing"), quiet); err == nil || !strings.Contains(err.Error(), "FRONTEND_DIR") {
		t.Fatalf("missing dir: %v", err)
	}
}
