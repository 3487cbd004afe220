package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethox/ethox/apperr"
)

type requestIDKey struct{}
type clientIPKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ClientIP returns the client address of the request ctx belongs to: the
// peer, or the address a trusted proxy forwarded.
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// LogHandler wraps a slog.Handler so that every record logged with a request's
// context carries its request_id.
type LogHandler struct{ slog.Handler }

func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }

// Proxies is the set of TLS-terminating proxies (TRUST_PROXY) whose
// X-Forwarded-Proto and X-Forwarded-For are believed.
type Proxies []netip.Prefix

func (p Proxies) trusts(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the peer, or, when the peer is a trusted proxy, the rightmost
// X-Forwarded-For address that is not itself a trusted proxy (entries left of
// it can be forged by the client).
func (p Proxies) clientIP(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !p.trusts(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(h)
		if err != nil {
			return peer // not an address: the header is not to be believed
		}
		if !p.trusts(h) {
			return a.Unmap().String()
		}
	}
	return peer
}

// newRequestID keeps a sane X-Request-Id from a trusted proxy (so its id
// follows the request through; with no proxy configured, from any client)
// and otherwise makes one.
func newRequestID(r *http.Request, proxies Proxies) string {
	peer, _, _ := net.SplitHostPort(r.RemoteAddr)
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && printableASCII(id) &&
		(len(proxies) == 0 || proxies.trusts(peer)) {
		return id
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestContext gives every request an id (echoed in X-Request-Id) and its
// client IP, and logs one line per request.
func requestContext(proxies Proxies, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID(r, proxies)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = context.WithValue(ctx, clientIPKey{}, proxies.clientIP(r))
		w.Header().Set("X-Request-Id", id)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			return // probes and scrapes would drown the log
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.code()), slog.Duration("took", time.Since(start)), slog.String("client_ip", ClientIP(ctx)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusSwitchingProtocols // hijacked: a WebSocket
	}
	return w.status
}

// Flush is here, not only through Unwrap, because gqlgen's SSE transport
// asserts http.Flusher directly: without it events wait for the end.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach Hijack and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// securityHeaders are production's response headers. The CSP only restricts
// framing, so the IDE page (inline scripts, same-origin assets) still works,
// and may itself be framed by this origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Content-Security-Policy", "frame-ancestors 'self'")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		next.ServeHTTP(w, r)
	})
}

// httpsRedirect sends plain-HTTP requests that came through the trusted
// proxy to https. Health probes stay on whatever scheme the prober uses.
func httpsRedirect(proxies Proxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only a request the proxy says came over plain HTTP is redirected; a
		// local client talking to the server directly (a scrape) is not.
		peer, _, _ := net.SplitHostPort(r.RemoteAddr)
		if proxies.trusts(peer) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "http") &&
			r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			u := *r.URL
			u.Scheme, u.Host = "https", r.Host
			http.Redirect(w, r, u.String(), http.StatusPermanentRedirect)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isUpgrade tells a WebSocket attempt. Any Upgrade header counts: gqlgen
// and coder/websocket accept "websocket" anywhere in a list.
func isUpgrade(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// isSSE tells a GraphQL event stream (Server-Sent Events, GET or POST).
func isSSE(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodGet) && r.URL.Path == "/query" && acceptsEventStream(r)
}

// isStream tells requests that legitimately outlive a write timeout:
// WebSocket upgrades, Server-Sent Events and streamed downloads.
func isStream(r *http.Request) bool {
	return isUpgrade(r) || isSSE(r) || strings.HasPrefix(r.URL.Path, "/exports/")
}

// deadlines are http.Server's ReadTimeout and WriteTimeout for every request
// but WebSockets (reads) and streams (writes), which the server's own
// timeouts cannot exempt. The read deadline stops a body trickled forever.
func deadlines(read, write time.Duration, next http.Handler) http.Handler {
	if read <= 0 && write <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if read > 0 && !isUpgrade(r) {
			_ = rc.SetReadDeadline(time.Now().Add(read))
		}
		if write > 0 && !isStream(r) {
			_ = rc.SetWriteDeadline(time.Now().Add(write))
		}
		next.ServeHTTP(w, r)
	})
}

// onShutdown ends WebSocket and SSE requests when shutdown begins, so that
// http.Server.Shutdown can drain the others (which keep their context).
func onShutdown(shutdown <-chan struct{}, next http.Handler) http.Handler {
	if shutdown == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) && !isSSE(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-shutdown:
				cancel()
			case <-ctx.Done():
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// streamLimit caps the open long-lived streams of one transport (WebSocket
// connections, SSE subscriptions); one more is refused with 503 before any
// work, naming the setting.
func streamLimit(max int, is func(*http.Request) bool, what, setting string, next http.Handler) http.Handler {
	if max <= 0 {
		return next
	}
	var open atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !is(r) {
			next.ServeHTTP(w, r)
			return
		}
		if open.Add(1) > int64(max) {
			open.Add(-1)
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, apperr.RateLimited, "too many open "+what+" ("+setting+" = "+strconv.Itoa(max)+")")
			return
		}
		defer open.Add(-1)
		next.ServeHTTP(w, r)
	})
}
