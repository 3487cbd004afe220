// Package frontend serves a built single-page application from a directory
// (FRONTEND_DIR), the way the prototype's WhiteNoise served its React front
// end next to the API:
//
//   - files with their content type, and index.html for client-side routes
//     (a path that is no file and whose last segment has no extension);
//   - text assets compressed once per file and encoding (brotli, zstd, gzip,
//     chosen by Accept-Encoding; a prebuilt sibling such as app.js.br is used
//     as it is) and kept in memory, never compressed per request;
//   - fingerprinted assets (index-3f2a1b.js, assets/index-BdQq_4o_.js) cached
//     for a year as immutable; everything else, index.html included, with
//     no-cache and an ETag, so a browser revalidates and gets 304 Not Modified;
//   - nothing outside the directory: paths are cleaned, dot files refused, and
//     files are opened through os.Root, which refuses ".." and symbolic links
//     leading out of it.
//
// Paths under Options.Reserved (the API's routes) are never answered with the
// app: they get 404, so a mistyped API path is not answered with HTML.
package frontend

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Handler.
type Options struct {
	// Reserved are URL path prefixes the app never answers: a request under
	// one that reaches the handler gets 404 ("/api/" covers /api/…; "/query"
	// covers /query and /query/…).
	Reserved []string
	// Logger gets the start-up summary and compression failures.
	Logger *slog.Logger
	// NoPrecompress leaves compression to the first request of each file
	// instead of a background pass at start (tests).
	NoPrecompress bool
}

// Handler serves one directory. It is safe for concurrent use.
type Handler struct {
	root     *os.Root
	fsys     fs.FS
	reserved []string
	log      *slog.Logger

	mu    sync.Mutex
	files map[string]*file // by slash path relative to the root

	warm chan struct{} // closed when the compression at start is done
}

// New opens dir, which must hold index.html, and indexes its files. Unless
// NoPrecompress is set, a background goroutine compresses every compressible
// file once (gzip first, then zstd, then brotli); requests meanwhile get the
// encodings that are ready.
func New(dir string, o Options) (*Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("FRONTEND_DIR: %w", err)
	}
	h := &Handler{root: root, fsys: root.FS(), reserved: o.Reserved, log: o.Logger, files: map[string]*file{},
		warm: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	if f, err := h.lookup("index.html"); err != nil || f == nil {
		root.Close()
		return nil, fmt.Errorf("FRONTEND_DIR %s has no index.html: a built single-page app is expected (e.g. Vite's dist/)", dir)
	}
	var names []string
	var total int64
	err = fs.WalkDir(h.fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name != "." && hidden(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			f, err := h.lookup(name)
			if err != nil {
				return err
			}
			if f != nil {
				names = append(names, name)
				total += f.size
			}
		}
		return nil
	})
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("FRONTEND_DIR %s: %w", dir, err)
	}
	h.log.Info("serving the front end", "dir", dir, "files", len(names), "bytes", total)
	if o.NoPrecompress {
		close(h.warm)
	} else {
		go h.precompress(names)
	}
	return h, nil
}

// Precompressed is closed once the compression at start is done (at once
// with NoPrecompress).
func (h *Handler) Precompressed() <-chan struct{} { return h.warm }

// Close releases the directory.
func (h *Handler) Close() error { return h.root.Close() }

// file is one indexed file. Its content is read from disk on each request;
// its compressed forms are kept in memory.
type file struct {
	name      string
	size      int64
	mod       time.Time
	ctype     string
	etag      string // hex prefix of the content's SHA-256
	immutable bool
	variants  []*variant // one per encodings entry; nil when not compressible
}

// variant is a file compressed with one encoding, made once.
type variant struct {
	once  sync.Once
	ready atomic.Bool
	data  []byte // nil when the encoding does not make the file smaller
}

// lookup returns the indexed file at name, (re)indexing it when it is new or
// changed on disk since; nil when there is no regular file there.
func (h *Handler) lookup(name string) (*file, error) {
	info, err := fs.Stat(h.fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || isPathError(err) {
			return nil, nil
		}
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil
	}
	h.mu.Lock()
	f := h.files[name]
	h.mu.Unlock()
	if f != nil && f.size == info.Size() && f.mod.Equal(info.ModTime()) {
		return f, nil
	}
	data, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	f = &file{name: name, size: int64(len(data)), mod: info.ModTime(), ctype: contentType(name, data),
		etag: hex.EncodeToString(sum[:8]), immutable: Fingerprinted(name)}
	if compressible(name, f.size) {
		f.variants = make([]*variant, len(encodings))
		for i, enc := range encodings {
			f.variants[i] = &variant{}
			h.prebuilt(f, i, enc, info)
		}
	}
	h.mu.Lock()
	h.files[name] = f
	h.mu.Unlock()
	return f, nil
}

// isPathError tells errors os.Root gives for a path it refuses to follow
// (a symbolic link out of the root, a path through a file).
func isPathError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

// prebuilt takes a compressed sibling from the build (app.js.br, app.js.gz,
// app.js.zst) as the file's variant when it is at least as new as the file.
func (h *Handler) prebuilt(f *file, i int, enc encoding, info fs.FileInfo) {
	sib, err := fs.Stat(h.fsys, f.name+enc.suffix)
	if err != nil || !sib.Mode().IsRegular() || sib.ModTime().Before(info.ModTime()) || sib.Size() >= f.size {
		return
	}
	data, err := fs.ReadFile(h.fsys, f.name+enc.suffix)
	if err != nil {
		return
	}
	v := f.variants[i]
	v.once.Do(func() { v.data = data })
	v.ready.Store(true)
}

// compressed returns the file in encoding i, compressing it now when block
// is set and nobody did yet; nil when it is not ready or not smaller.
func (h *Handler) compressed(f *file, i int, block bool) []byte {
	v := f.variants[i]
	if !v.ready.Load() && !block {
		return nil
	}
	v.once.Do(func() {
		defer v.ready.Store(true)
		data, err := fs.ReadFile(h.fsys, f.name)
		if err != nil || int64(len(data)) != f.size {
			return // changed meanwhile: the next lookup re-indexes it
		}
		c, err := encodings[i].compress(data)
		if err != nil {
			h.log.Warn("front end: compression failed", "file", f.name, "encoding", encodings[i].name, "error", err)
			return
		}
		// As WhiteNoise: keep it only when it saves at least 5%.
		if len(c)*20 < len(data)*19 {
			v.data = c
		}
	})
	return v.data
}

// precompress compresses every file once, cheapest encoding first, so the
// first visitors after a start are not kept waiting.
func (h *Handler) precompress(names []string) {
	defer close(h.warm)
	start := time.Now()
	for i := len(encodings) - 1; i >= 0; i-- { // gzip, zstd, then brotli
		for _, name := range names {
			h.mu.Lock()
			f := h.files[name]
			h.mu.Unlock()
			if f != nil && f.variants != nil {
				h.compressed(f, i, true)
			}
		}
	}
	h.log.Debug("front end compressed", "files", len(names), "took", time.Since(start))
}

// ServeHTTP serves GET and HEAD requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") || strings.ContainsRune(upath, 0) || h.isReserved(upath) {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) || hiddenPath(name) {
		http.NotFound(w, r)
		return
	}
	if name == "." || strings.HasSuffix(upath, "/") {
		name = path.Join(name, "index.html")
	}
	f, err := h.lookup(name)
	if err != nil {
		h.log.ErrorContext(r.Context(), "front end: reading a file", "file", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if f == nil {
		if dir, err := fs.Stat(h.fsys, name); err == nil && dir.IsDir() {
			if idx, _ := h.lookup(path.Join(name, "index.html")); idx != nil {
				http.Redirect(w, r, path.Base(upath)+"/", http.StatusMovedPermanently)
				return
			}
		}
		if strings.Contains(path.Base(upath), ".") {
			http.NotFound(w, r) // a missing asset, not a client-side route: no HTML for a script
			return
		}
		if f, err = h.lookup("index.html"); err != nil || f == nil {
			http.Error(w, "the front end has no index.html", http.StatusNotFound)
			return
		}
	}
	h.serve(w, r, f)
}

func (h *Handler) isReserved(p string) bool {
	for _, pre := range h.reserved {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, strings.TrimSuffix(pre, "/")+"/") {
			return true
		}
	}
	return false
}

// serve writes f, or its best compressed form the client accepts.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if f.immutable {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	if f.variants != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if i, data := h.pick(f, r.Header.Get("Accept-Encoding")); data != nil {
			hdr.Set("Content-Encoding", encodings[i].name)
			hdr.Set("ETag", `"`+f.etag+"-"+encodings[i].suffix[1:]+`"`)
			http.ServeContent(w, r, "", f.mod, bytes.NewReader(data))
			return
		}
	}
	hdr.Set("ETag", `"`+f.etag+`"`)
	fh, err := h.fsys.Open(f.name)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer fh.Close()
	rs, ok := fh.(io.ReadSeeker)
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.ServeContent(w, r, "", f.mod, rs)
}

// pick chooses the encoding: the highest q the client gives, the server's
// order (brotli, zstd, gzip) among equals. Only ready variants count, except
// gzip, which is made now when needed (it is fast).
func (h *Handler) pick(f *file, header string) (int, []byte) {
	q := acceptedEncodings(header)
	best, bestQ := -1, 0.0
	var bestData []byte
	for i, enc := range encodings {
		qi, ok := q[enc.name]
		if !ok {
			qi, ok = q["*"]
		}
		if !ok || qi <= 0 || qi <= bestQ {
			continue
		}
		data := h.compressed(f, i, enc.name == "gzip")
		if data == nil {
			continue
		}
		best, bestQ, bestData = i, qi, data
	}
	return best, bestData
}

// hidden tells dot files and directories (.env, .git), which are never
// served; .well-known is the exception.
func hidden(base string) bool { return strings.HasPrefix(base, ".") && base != ".well-known" }

func hiddenPath(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if hidden(seg) && seg != "." {
			return true
		}
	}
	return false
}

// Content types the standard table (mime.TypeByExtension, which depends on
// the system's tables: a distroless image has none) may lack.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "text/xml; charset=utf-8",
	".wasm":        "application/wasm",
	".ico":         "image/x-icon",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".pdf":         "application/pdf",
	".csv":         "text/csv; charset=utf-8",
}

func contentType(name string, data []byte) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return http.DetectContentType(data)
}

// Extensions of formats that are compressed already, as WhiteNoise skips them.
var incompressible = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true, ".avif": true,
	".zip": true, ".gz": true, ".tgz": true, ".bz2": true, ".tbz": true, ".xz": true, ".br": true, ".zst": true,
	".swf": true, ".flv": true, ".woff": true, ".woff2": true, ".3gp": true, ".3gpp": true, ".asf": true,
	".avi": true, ".m4v": true, ".mov": true, ".mp4": true, ".mpeg": true, ".mpg": true, ".webm": true,
	".wmv": true, ".mp3": true, ".ogg": true, ".m4a": true, ".pdf": true,
}

// maxCompressBytes bounds the files kept compressed in memory.
const maxCompressBytes = 32 << 20

func compressible(name string, size int64) bool {
	return size > 0 && size <= maxCompressBytes && !incompressible[strings.ToLower(path.Ext(name))]
}

// Fingerprinted reports whether a file's name carries a hash of its content,
// so that its URL changes whenever it does and it may be cached for good:
//
//   - a hexadecimal hash of 6 or more characters, with a digit and a
//     letter, after the last '-' or '.' of the name: index-3f2a1b.js,
//     main.5d41402a.css, app.3f2a1b9c0d4e.js (webpack, Django's manifest);
//   - in an assets/ directory, Vite's [name]-[hash].[ext], the hash 8
//     characters of base64url not all lower-case letters (a word such as
//     "polyfill" is not a hash): assets/index-BdQq_4o_.js.
//
// A trailing .map counts as part of the extension (index-3f2a1b.js.map).
// Anything else is revalidated on each use (no-cache with an ETag): a
// fingerprint missed costs a 304, one wrongly assumed a stale file.
func Fingerprinted(name string) bool {
	base := strings.TrimSuffix(path.Base(name), ".map")
	ext := path.Ext(base)
	if ext == "" || ext == base {
		return false
	}
	stem := strings.TrimSuffix(base, ext)
	if i := strings.LastIndexAny(stem, ".-"); i > 0 && hexHash(stem[i+1:]) {
		return true
	}
	inAssets := strings.HasPrefix(name, "assets/") || strings.Contains(name, "/assets/")
	if n := len(stem); inAssets && n > 9 && stem[n-9] == '-' && viteHash(stem[n-8:]) {
		return true
	}
	return false
}

func hexHash(s string) bool {
	if len(s) < 6 {
		return false
	}
	digit, letter := false, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return digit && letter
}

func viteHash(s string) bool {
	word := true
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z':
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			word = false
		default:
			return false
		}
	}
	return !word
}
