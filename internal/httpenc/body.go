package httpenc

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// MinSize is the smallest body worth compressing: below about 1 KB the
// coding's framing eats most of the gain.
const MinSize = 1024

// Body is an encoded response: its bytes, a strong ETag derived from them,
// and its compressed forms, each made once on first demand. A Body kept in
// memory (NewKeptBody) serves every later request for the same bytes
// without encoding or compressing them again.
type Body struct {
	Raw   []byte
	ETag  string // quoted, strong: a hash of Raw
	level Level
	// grow, when set, is told the size of each compressed form made, so
	// that a cache holding the body can count it.
	grow     func(int)
	variants [3]variant // one per Encodings entry
}

type variant struct {
	once sync.Once
	data []byte // nil: compression failed or did not shrink it; serve Raw
}

// NewBody wraps a response made for one request: compressed fast, if at all.
func NewBody(raw []byte) *Body {
	return &Body{Raw: raw, ETag: etagOf(raw), level: Fast}
}

// NewKeptBody wraps a response kept for later requests: its compressed
// forms are made harder (once), and grow is told their sizes.
func NewKeptBody(raw []byte, grow func(int)) *Body {
	return &Body{Raw: raw, ETag: etagOf(raw), level: Kept, grow: grow}
}

// etagOf is a strong validator for data: 64 bits of xxhash, plenty to tell
// two versions of one resource apart.
func etagOf(data []byte) string {
	var b [20]byte
	out := append(b[:0], '"')
	out = strconv.AppendUint(out, xxhash.Sum64(data), 36)
	return string(append(out, '"'))
}

// variantETag is the ETag of the form compressed with Encodings[enc]: a
// strong validator names one representation, so each coding has its own.
func (b *Body) variantETag(enc int) string {
	return b.ETag[:len(b.ETag)-1] + "-" + Encodings[enc].Name + `"`
}

// encoded returns the body compressed with Encodings[enc], making it on the
// first call (concurrent callers wait for it); nil when it cannot be made
// smaller.
func (b *Body) encoded(enc int) []byte {
	v := &b.variants[enc]
	v.once.Do(func() {
		c, err := Compress(enc, b.Raw, b.level)
		if err != nil || len(c) >= len(b.Raw) {
			return
		}
		v.data = c
		if b.grow != nil {
			b.grow(len(c))
		}
	})
	return v.data
}

// Serve writes b with status 200 and contentType, compressed in the best
// coding the request accepts when b is at least MinSize. With validators it
// sends b's ETag and answers a matching If-None-Match with 304 Not Modified
// (also for POST: a GraphQL query is a read whatever its method, and its
// clients expect 304, not the 412 RFC 9110 gives to unsafe methods).
func (b *Body) Serve(w http.ResponseWriter, r *http.Request, contentType string, validators bool) {
	h := w.Header()
	data, etag := b.Raw, b.ETag
	if len(b.Raw) >= MinSize {
		h.Add("Vary", "Accept-Encoding")
		if enc := Pick(r.Header.Get("Accept-Encoding")); enc >= 0 {
			if c := b.encoded(enc); c != nil {
				data, etag = c, b.variantETag(enc)
				h.Set("Content-Encoding", Encodings[enc].Name)
			}
		}
	}
	if validators {
		h.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && b.matches(inm) {
			h.Del("Content-Encoding")
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// matches reports whether an If-None-Match list names b in any coding (the
// weak comparison RFC 9110 prescribes for If-None-Match).
func (b *Body) matches(header string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == b.ETag {
			return true
		}
		for enc := range Encodings {
			if tag == b.variantETag(enc) {
				return true
			}
		}
	}
	return false
}
