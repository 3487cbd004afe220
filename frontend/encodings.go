package frontend

import "github.com/ethox/ethox/internal/httpenc"

// encoding is a Content-Encoding the handler serves: its token, the suffix
// of a prebuilt sibling file, and how to make it (internal/httpenc, shared
// with the API's JSON responses; a field so tests can count calls).
type encoding struct {
	name     string
	suffix   string
	compress func([]byte) ([]byte, error)
}

// encodings in httpenc's order of preference, each at its best level: a
// file is compressed once.
var encodings = func() []encoding {
	out := make([]encoding, len(httpenc.Encodings))
	for i, e := range httpenc.Encodings {
		out[i] = encoding{e.Name, e.Suffix, func(b []byte) ([]byte, error) { return httpenc.Compress(i, b, httpenc.Best) }}
	}
	return out
}()

// acceptedEncodings parses Accept-Encoding into coding → q (default 1).
func acceptedEncodings(header string) map[string]float64 { return httpenc.Accepted(header) }
