package llm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// attemptMeta is what the transport saw for one attempt. go-openai drops the
// response headers on errors, so the capturing transport stores them here,
// found through the request context. RoundTrip runs in the goroutine that
// calls http.Client.Do, and it returns before go-openai returns to us, so the
// fields need no lock.
type attemptMeta struct {
	sent       bool // the request reached the transport (counts as a call)
	status     int  // 0 if no response
	retryAfter time.Duration
	anomalies  []Anomaly // repaired in a successful response
}

type metaKey struct{}

func withMeta(ctx context.Context, m *attemptMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// captureTransport records status and retry hints of each response.
type captureTransport struct {
	base http.RoundTripper
	now  func() time.Time
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m, _ := req.Context().Value(metaKey{}).(*attemptMeta)
	if m != nil {
		m.sent = true
	}
	resp, err := t.base.RoundTrip(req)
	if m != nil && resp != nil {
		m.status = resp.StatusCode
		m.retryAfter = parseRetryAfter(resp.Header, t.now())
	}
	if resp != nil && resp.Body != nil {
		// go-openai reads whole bodies into memory: a server must not be able to send gigabytes.
		resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	}
	return resp, err
}

var errResponseTooLarge = fmt.Errorf("llm: response body over %d bytes", MaxResponseBytes)

// limitedBody fails a read past its limit instead of truncating silently.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells a body of exactly the limit from a longer one
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left = int(b.left), -1
	return n, errResponseTooLarge
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// parseRetryAfter reads retry-after-ms (OpenAI, milliseconds, may be
// fractional) first, then Retry-After (delay-seconds or an HTTP date). It
// returns 0 when there is no usable hint.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if s := strings.TrimSpace(h.Get("retry-after-ms")); s != "" {
		if ms, err := strconv.ParseFloat(s, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	s := strings.TrimSpace(h.Get("Retry-After"))
	if s == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs > 0 && secs < 1e6 {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(s); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// newHTTPClient returns the client go-openai will use: a shallow copy of the
// caller's client (or a fresh one) whose transport is wrapped.
func newHTTPClient(orig *http.Client, concurrency int) *http.Client {
	var hc http.Client
	if orig != nil {
		hc = *orig
	}
	base := hc.Transport
	if base == nil {
		if orig != nil {
			base = http.DefaultTransport
		} else {
			// http.DefaultTransport keeps only 2 idle connections per host:
			// with dozens of concurrent calls to one server that means
			// constant reconnects (and TLS handshakes). Keep one per slot.
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = max(concurrency, 2)
			tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
			base = tr
		}
	}
	hc.Transport = &captureTransport{base: base, now: time.Now}
	return &hc
}
