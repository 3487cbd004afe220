package httpenc

import (
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// NewWriter compresses a streamed response (a download of unknown length)
// with Encodings[enc] at the Fast level: such bodies are made once per
// request, so speed matters more than the last few percent. Close flushes the
// coding's end; it does not close w.
func NewWriter(enc int, w io.Writer) (io.WriteCloser, error) {
	switch Encodings[enc].Name {
	case "br":
		return brotli.NewWriterLevel(w, 4), nil
	case "zstd":
		// One goroutine: a download must not take more than its share of cores.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	default:
		return gzip.NewWriterLevel(w, 5)
	}
}
