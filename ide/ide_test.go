package ide

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// get performs one request against h and returns the recorded response.
func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// handlers returns the two ways of mounting the IDE, so that every test
// covers both.
func handlers(endpoint, title string) map[string]http.Handler {
	mux := http.NewServeMux()
	Mount(mux, endpoint, title)
	return map[string]http.Handler{"Mount": mux, "Handler": Handler(endpoint, title)}
}

var attrURL = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*"([^"]*)"`)

// referencedURLs returns the src and href attribute values of an HTML page.
func referencedURLs(page string) []string {
	var urls []string
	for _, m := range attrURL.FindAllStringSubmatch(page, -1) {
		urls = append(urls, m[1])
	}
	return urls
}

func TestPage(t *testing.T) {
	for name, h := range handlers("/query", "Ethox") {
		t.Run(name, func(t *testing.T) {
			rec := get(t, h, http.MethodGet, "/", nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET / = %d, want 200", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", cc)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			body := rec.Body.String()
			for _, want := range []string{
				`data-endpoint="/query"`,
				`<title>Ethox</title>`,
				`data-title="Ethox"`,
				`nodeCount`, // the default query
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, asset := range []string{"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "graphiql.min.css", "ide.js", "ide.css"} {
				u := AssetURL(asset)
				if u == "" || !strings.HasPrefix(u, AssetPrefix+asset+"?v=") {
					t.Fatalf("AssetURL(%q) = %q", asset, u)
				}
				if !strings.Contains(body, `"`+u+`"`) {
					t.Errorf("page does not reference %s", u)
				}
			}

			head := get(t, h, http.MethodHead, "/", nil)
			if head.Code != http.StatusOK || head.Body.Len() != 0 {
				t.Errorf("HEAD / = %d with %d body bytes, want 200 and none", head.Code, head.Body.Len())
			}
			if head.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("HEAD / Content-Type = %q", head.Header().Get("Content-Type"))
			}

			if etag := rec.Header().Get("ETag"); etag == "" {
				t.Error("page has no ETag")
			} else if c := get(t, h, http.MethodGet, "/", map[string]string{"If-None-Match": etag}).Code; c != http.StatusNotModified {
				t.Errorf("GET / with If-None-Match = %d, want 304", c)
			}
		})
	}
}

// The page must work without internet access: nothing in it may point at
// another host.
func TestPageReferencesNoAbsoluteURL(t *testing.T) {
	for name, h := range handlers("/query", "Ethox") {
		t.Run(name, func(t *testing.T) {
			body := get(t, h, http.MethodGet, "/", nil).Body.String()
			for _, bad := range []string{"://", "http:", "https:", "ws:", "wss:", "url(", "@import"} {
				if strings.Contains(strings.ToLower(body), bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			urls := referencedURLs(body)
			if len(urls) < 6 {
				t.Fatalf("page references %d URLs, want at least 6: %q", len(urls), urls)
			}
			for _, u := range urls {
				local := strings.HasPrefix(u, AssetPrefix) && !strings.HasPrefix(u, "//")
				if !local && u != "data:," {
					t.Errorf("page references %q, which is not one of its own assets", u)
				}
			}
		})
	}
	// The start-up script derives the WebSocket URL from the page's location
	// instead of naming a scheme and host.
	js := string(registry["ide.js"].data)
	for _, bad := range []string{"://", "//cdn", "unpkg", "jsdelivr"} {
		if strings.Contains(js, bad) {
			t.Errorf("ide.js contains %q", bad)
		}
	}
}

func TestAssetsReferencedByThePage(t *testing.T) {
	wantType := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
	}
	for name, h := range handlers("/query", "Ethox") {
		page := get(t, h, http.MethodGet, "/", nil).Body.String()
		for _, u := range referencedURLs(page) {
			if !strings.HasPrefix(u, AssetPrefix) {
				continue
			}
			file := path.Base(strings.SplitN(u, "?", 2)[0])
			t.Run(name+"/"+file, func(t *testing.T) {
				want := registry[file]
				if want == nil {
					t.Fatalf("%s is not an embedded asset", file)
				}
				tests := []struct {
					name, method, encoding string
					gzip                   bool
				}{
					{"GET", http.MethodGet, "", false},
					{"GET gzip", http.MethodGet, "gzip, deflate, br", want.gzipped() != nil},
					{"GET gzip refused", http.MethodGet, "gzip;q=0, br", false},
					{"HEAD", http.MethodHead, "", false},
				}
				for _, tc := range tests {
					rec := get(t, h, tc.method, u, map[string]string{"Accept-Encoding": tc.encoding})
					if rec.Code != http.StatusOK {
						t.Fatalf("%s %s = %d, want 200", tc.name, u, rec.Code)
					}
					hd := rec.Header()
					if ct := hd.Get("Content-Type"); ct != wantType[path.Ext(file)] {
						t.Errorf("%s: Content-Type = %q, want %q", tc.name, ct, wantType[path.Ext(file)])
					}
					if cc := hd.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
						t.Errorf("%s: Cache-Control = %q", tc.name, cc)
					}
					if hd.Get("ETag") == "" || hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Vary") != "Accept-Encoding" {
						t.Errorf("%s: headers %v", tc.name, hd)
					}
					if gz := hd.Get("Content-Encoding") == "gzip"; gz != tc.gzip {
						t.Errorf("%s: Content-Encoding = %q, want gzip: %v", tc.name, hd.Get("Content-Encoding"), tc.gzip)
					}
					if tc.method == http.MethodHead {
						if rec.Body.Len() != 0 {
							t.Errorf("HEAD returned %d body bytes", rec.Body.Len())
						}
						continue
					}
					body := rec.Body.Bytes()
					if tc.gzip {
						zr, err := gzip.NewReader(bytes.NewReader(body))
						if err != nil {
							t.Fatal(err)
						}
						if body, err = io.ReadAll(zr); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(body, want.data) {
						t.Errorf("%s: body differs from the embedded file (%d vs %d bytes)", tc.name, len(body), len(want.data))
					}
					if bytes.Contains(body, []byte("sourceMappingURL")) {
						t.Errorf("%s: refers to a source map that is not served", file)
					}
				}

				etag := get(t, h, http.MethodGet, u, nil).Header().Get("ETag")
				if c := get(t, h, http.MethodGet, u, map[string]string{"If-None-Match": etag}).Code; c != http.StatusNotModified {
					t.Errorf("If-None-Match: %d, want 304", c)
				}
			})
		}
	}
}

func TestRouting(t *testing.T) {
	js := AssetURL("graphiql.min.js")
	tests := []struct {
		name, method, target string
		want                 int
		cacheControl         string
	}{
		{"page", http.MethodGet, "/", 200, "no-cache"},
		{"page HEAD", http.MethodHead, "/", 200, "no-cache"},
		{"page POST", http.MethodPost, "/", 405, ""},
		{"page PUT", http.MethodPut, "/", 405, ""},
		{"asset", http.MethodGet, js, 200, "public, max-age=31536000, immutable"},
		{"asset without version", http.MethodGet, AssetPrefix + "graphiql.min.js", 200, "no-cache"},
		{"asset with old version", http.MethodGet, AssetPrefix + "graphiql.min.js?v=0", 200, "no-cache"},
		{"licenses", http.MethodGet, AssetPrefix + "LICENSES.txt", 200, "no-cache"},
		{"asset POST", http.MethodPost, js, 405, ""},
		{"asset DELETE", http.MethodDelete, js, 405, ""},
		{"unknown asset", http.MethodGet, AssetPrefix + "nope.js", 404, ""},
		{"unknown asset HEAD", http.MethodHead, AssetPrefix + "nope.js", 404, ""},
		{"source map", http.MethodGet, AssetPrefix + "graphiql.min.js.map", 404, ""},
		{"asset directory", http.MethodGet, AssetPrefix, 404, ""},
		{"nested path", http.MethodGet, AssetPrefix + "x/graphiql.min.js", 404, ""},
		{"template", http.MethodGet, AssetPrefix + "index.html", 404, ""},
		{"traversal", http.MethodGet, AssetPrefix + "..%2fide.go", 404, ""},
		{"other path", http.MethodGet, "/other", 404, ""},
	}
	for name, h := range handlers("/query", "Ethox") {
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				rec := get(t, h, tc.method, tc.target, nil)
				if rec.Code != tc.want {
					t.Fatalf("%s %s = %d, want %d", tc.method, tc.target, rec.Code, tc.want)
				}
				if tc.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
					t.Errorf("Allow = %q, want GET, HEAD", rec.Header().Get("Allow"))
				}
				if tc.cacheControl != "" && rec.Header().Get("Cache-Control") != tc.cacheControl {
					t.Errorf("Cache-Control = %q, want %q", rec.Header().Get("Cache-Control"), tc.cacheControl)
				}
			})
		}
	}
}

// Mount must coexist with the GraphQL endpoint and other routes on one mux.
func TestMountBesideOtherRoutes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/query", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "graphql") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	Mount(mux, "/query", "Ethox")
	for _, tc := range []struct{ method, target, want string }{
		{http.MethodPost, "/query", "graphql"},
		{http.MethodGet, "/query", "graphql"}, // WebSocket upgrades arrive as GET
		{http.MethodGet, "/healthz", "ok"},
	} {
		if got := get(t, mux, tc.method, tc.target, nil).Body.String(); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
	if c := get(t, mux, http.MethodGet, "/", nil).Code; c != 200 {
		t.Errorf("GET / = %d", c)
	}
}

func TestPageEscapesItsParameters(t *testing.T) {
	h := Handler(`/q"><script>alert(1)</script>`, `<b>T</b>`)
	body := get(t, h, http.MethodGet, "/", nil).Body.String()
	for _, bad := range []string{"<script>alert", "<b>T</b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	// Empty values fall back to defaults.
	body = get(t, Handler("", ""), http.MethodGet, "/", nil).Body.String()
	if !strings.Contains(body, `data-endpoint="/query"`) || !strings.Contains(body, "<title>GraphiQL</title>") {
		t.Errorf("defaults missing from page")
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	tests := []struct {
		endpoint, wantConnect string
	}{
		{"/query", "connect-src 'self';"},
		{"query", "connect-src 'self';"},
		{"https://api.example.org/query", "connect-src 'self' https://api.example.org wss://api.example.org;"},
		{"http://127.0.0.1:8080/query", "connect-src 'self' http://127.0.0.1:8080 ws://127.0.0.1:8080;"},
	}
	for _, tc := range tests {
		csp := contentSecurityPolicy(tc.endpoint)
		if !strings.Contains(csp, tc.wantConnect) {
			t.Errorf("contentSecurityPolicy(%q) = %q, want %q", tc.endpoint, csp, tc.wantConnect)
		}
		if !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("contentSecurityPolicy(%q) = %q lacks default-src 'self'", tc.endpoint, csp)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip; q=0.0, br", false},
		{"*", true},
		{"*;q=0", false},
		{"br, *", true},
		{"gzip;q=0, *", false},
		{"x-gzip", true},
		{"identity", false},
	}
	for _, tc := range tests {
		if got := acceptsGzip(tc.header); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// The vendored files are committed: keep them few and small, and keep the
// license texts with them.
func TestVendoredAssets(t *testing.T) {
	var total int64
	var names []string
	err := fs.WalkDir(vendorFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		names = append(names, d.Name())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 4<<20 {
		t.Errorf("vendored assets total %d bytes, more than 4 MiB: %v", total, names)
	}
	licenses := string(registry["LICENSES.txt"].data)
	for _, want := range []string{"graphiql@", "react@", "react-dom@", "MIT License"} {
		if !strings.Contains(licenses, want) {
			t.Errorf("LICENSES.txt lacks %q", want)
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".map") || strings.Contains(n, "development") {
			t.Errorf("vendored %s: no source maps or development builds", n)
		}
	}
}
