// Package httpenc holds the server's HTTP content codings (brotli, zstd,
// gzip through andybalholm/brotli and klauspost/compress), Accept-Encoding
// negotiation, and Body: an encoded response kept in memory with its
// compressed forms, each made once. The front end (static files) and the
// API (JSON responses) both use it.
package httpenc

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoding is a Content-Encoding the server writes: its token and the suffix
// of a prebuilt sibling file (app.js.br).
type Encoding struct {
	Name, Suffix string
}

// Encodings in the server's order of preference, the smallest first for
// text: brotli, then zstd, then gzip, which every client takes.
var Encodings = []Encoding{{"br", ".br"}, {"zstd", ".zst"}, {"gzip", ".gz"}}

// Level is how hard to compress.
type Level int

const (
	// Fast is for a response compressed on every request (a few KB).
	Fast Level = iota
	// Kept is for a response compressed once and kept (megabytes):
	// close to Best at a small fraction of its time.
	Kept
	// Best is for static files compressed once at start.
	Best
)

// Compress encodes data with Encodings[enc] at level.
func Compress(enc int, data []byte, level Level) ([]byte, error) {
	switch Encodings[enc].Name {
	case "br":
		return compressBrotli(data, [...]int{4, 7, brotli.BestCompression}[level])
	case "zstd":
		return compressZstd(data, level)
	default:
		return compressGzip(data, [...]int{5, gzip.BestCompression, gzip.BestCompression}[level])
	}
}

func compressBrotli(data []byte, quality int) ([]byte, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, quality)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// zstdEncoders, one per level: EncodeAll is safe for concurrent use.
var zstdEncoders = [...]func() (*zstd.Encoder, error){
	sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	}),
	sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	}),
	sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	}),
}

func compressZstd(data []byte, level Level) ([]byte, error) {
	enc, err := zstdEncoders[level]()
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(data, make([]byte, 0, len(data)/3)), nil
}

func compressGzip(data []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Accepted parses Accept-Encoding into coding → q (default 1).
func Accepted(header string) map[string]float64 {
	out := map[string]float64{}
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0
				}
			}
		}
		out[coding] = q
	}
	return out
}

// Pick is the index in Encodings of the coding to answer with: the highest q
// the client gives, the server's order among equals; -1 for none (identity).
func Pick(header string) int {
	if header == "" {
		return -1
	}
	q := Accepted(header)
	best, bestQ := -1, 0.0
	for i, enc := range Encodings {
		qi, ok := q[enc.Name]
		if !ok {
			qi, ok = q["*"]
		}
		if ok && qi > bestQ {
			best, bestQ = i, qi
		}
	}
	return best
}
