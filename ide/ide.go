// Package ide serves a GraphQL IDE (GraphiQL) whose JavaScript and CSS are
// embedded in the binary, so that it works on machines without internet
// access. gqlgen's playground loads its code from a CDN and stays blank there.
//
// Mount it next to the GraphQL endpoint:
//
//	mux := http.NewServeMux()
//	mux.Handle("/query", graphqlHandler)
//	ide.Mount(mux, "/query", "Ethox")
//
// which registers "GET /{$}" (the page) and "GET /ide/assets/" (its assets).
// Handler returns the same thing as a single http.Handler for routers other
// than http.ServeMux; it answers "/" and AssetPrefix and 404s anything else.
//
// The page sends queries and mutations as HTTP POST to the endpoint and
// subscriptions over a WebSocket to the same path (ws: or wss: following the
// page's scheme), with the graphql-transport-ws protocol.
//
// The vendored files in assets/ are refreshed by update-assets.sh, which pins
// their versions; web/ holds this package's own page and start-up script.
package ide

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// AssetPrefix is the URL path under which the IDE's assets are served.
const AssetPrefix = "/ide/assets/"

// defaultQuery fills the editor when the browser has no saved query.
const defaultQuery = `# Ethox GraphQL API. Ctrl-Enter runs the query.
{
  graph {
    metadata {
      nodeCount
      edgeCount
      traitKeys
    }
    nodes {
      agentId
      degree
      cluster
    }
  }
}
`

var (
	//go:embed assets/*.js assets/*.css assets/LICENSES.txt
	vendorFS embed.FS
	//go:embed web/ide.js web/ide.css
	ownFS embed.FS
	//go:embed web/index.html
	indexHTML string
)

// Mount registers the IDE page at GET / (exactly) and its assets under
// GET AssetPrefix on mux. HEAD is answered too; other methods get 405.
func Mount(mux *http.ServeMux, endpoint, title string) {
	MountAt(mux, "/", endpoint, title)
}

// MountAt is Mount with the page at GET pagePath (exactly) instead of /, for
// a server whose / serves something else. The assets stay under AssetPrefix.
func MountAt(mux *http.ServeMux, pagePath, endpoint, title string) {
	pattern := "GET " + pagePath
	if strings.HasSuffix(pagePath, "/") {
		pattern += "{$}"
	}
	mux.Handle(pattern, newPage(endpoint, title))
	mux.Handle("GET "+AssetPrefix, assetHandler{})
}

// Handler returns a handler serving the IDE page at "/" and its assets under
// AssetPrefix; every other path is 404. Mount is the simpler choice with an
// http.ServeMux.
func Handler(endpoint, title string) http.Handler {
	mux := http.NewServeMux()
	Mount(mux, endpoint, title)
	return mux
}

// ---- the page ----

type page struct {
	body []byte
	etag string
	csp  string
}

var pageTemplate = template.Must(template.New("index.html").Parse(indexHTML))

func newPage(endpoint, title string) *page {
	if endpoint == "" {
		endpoint = "/query"
	}
	if title == "" {
		title = "GraphiQL"
	}
	data := struct {
		Title, Endpoint, DefaultQuery string
		Assets                        map[string]string
	}{title, endpoint, defaultQuery, map[string]string{}}
	for name := range registry {
		data.Assets[name] = AssetURL(name)
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		panic("ide: rendering the page: " + err.Error())
	}
	sum := sha256.Sum256(buf.Bytes())
	return &page{
		body: buf.Bytes(),
		etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
		csp:  contentSecurityPolicy(endpoint),
	}
}

// contentSecurityPolicy keeps the page from loading anything that is not on
// this server: it must work offline, and should not leak queries elsewhere.
// Inline styles are allowed because GraphiQL's components set them.
func contentSecurityPolicy(endpoint string) string {
	connect := "'self'"
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		ws := "ws"
		if u.Scheme == "https" {
			ws = "wss"
		}
		connect += " " + u.Scheme + "://" + u.Host + " " + ws + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src " + connect + "; " +
		"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", p.etag)
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.body))
}

// ---- the assets ----

type asset struct {
	data  []byte
	ctype string
	hash  string // hex prefix of the SHA-256 of data; the URL's version

	gzOnce sync.Once
	gz     []byte // gzip-compressed data, or nil when that is not smaller
}

var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".html": "text/html; charset=utf-8",
}

// registry maps an asset's file name to its content; it never changes.
var registry = loadAssets()

func loadAssets() map[string]*asset {
	m := map[string]*asset{}
	add := func(fsys fs.FS, dir string) {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			panic("ide: " + err.Error())
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || name == "index.html" {
				continue
			}
			ctype, ok := contentTypes[path.Ext(name)]
			if !ok {
				panic("ide: no content type for asset " + name)
			}
			if _, dup := m[name]; dup {
				panic("ide: two assets named " + name)
			}
			data, err := fs.ReadFile(fsys, dir+"/"+name)
			if err != nil {
				panic("ide: " + err.Error())
			}
			sum := sha256.Sum256(data)
			m[name] = &asset{data: data, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
		}
	}
	add(vendorFS, "assets")
	add(ownFS, "web")
	return m
}

// AssetURL returns the versioned URL path of the named asset (for example
// "graphiql.min.js"), or "" when there is none. Its query string changes with
// the content, so the response can be cached for good.
func AssetURL(name string) string {
	a, ok := registry[name]
	if !ok {
		return ""
	}
	return AssetPrefix + name + "?v=" + a.hash
}

func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		if len(a.data) < 1024 {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.data)
		if err := zw.Close(); err == nil && buf.Len() < len(a.data) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

type assetHandler struct{}

func (assetHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
	a := registry[name]
	if !ok || a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// An unversioned or outdated URL: usable, but revalidated each time.
		h.Set("Cache-Control", "no-cache")
	}
	body, etag := a.data, a.hash
	if gz := a.gzipped(); gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = gz, a.hash+"-gz"
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip,
// honouring "gzip;q=0" and "*".
func acceptsGzip(header string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		ok := true
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				var q float64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &q); err == nil && q <= 0 {
					ok = false
				}
			}
		}
		if coding == "*" {
			star = ok
			continue
		}
		return ok
	}
	return star
}
