package frontend

import (
	"bytes"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoding is a Content-Encoding the handler serves: its token, the suffix
// of a prebuilt sibling file, and how to make it.
type encoding struct {
	name     string
	suffix   string
	compress func([]byte) ([]byte, error)
}

// encodings in the server's order of preference (the smallest first for
// text: brotli at its best quality, as WhiteNoise does, then zstd, then gzip,
// which every client takes).
var encodings = []encoding{
	{"br", ".br", compressBrotli},
	{"zstd", ".zst", compressZstd},
	{"gzip", ".gz", compressGzip},
}

func compressBrotli(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, brotli.BestCompression)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	// EncodeAll is safe for concurrent use; one encoder serves every file.
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
})

func compressZstd(data []byte) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(data, make([]byte, 0, len(data)/3)), nil
}

func compressGzip(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
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
