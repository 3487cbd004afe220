package export

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/httpenc"
)

// StatusTrailer is the HTTP trailer a download that was written completely
// ends with ("complete"). A failed download never carries it.
const StatusTrailer = "Ethox-Export-Status"

// Serve sends a download that write produces, streamed.
//
// The status line goes out with the first bytes, so a failure after them
// (a database error, a value json cannot encode, the client's deadline)
// cannot become an error status any more. Such a download must not look
// complete: Serve then aborts the response with http.ErrAbortHandler, so net/http
// closes the connection without the chunked encoding's final zero-length
// chunk (HTTP/1.1) or resets the stream (HTTP/2), and the client sees a
// truncated body (Go: io.ErrUnexpectedEOF; curl: exit 18, "transfer closed
// with outstanding read data remaining"). A complete download ends with the
// trailer Ethox-Export-Status: complete. A failure before any byte was
// written is an ordinary error status.
func Serve(w http.ResponseWriter, r *http.Request, contentType, filename string, write func(io.Writer) error) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	h.Set("Trailer", StatusTrailer)
	h.Add("Vary", "Accept-Encoding")
	cw := &countingWriter{w: w}
	err := writeEncoded(r, h, cw, write)
	if err == nil {
		h.Set(StatusTrailer, "complete")
		return
	}
	log := slog.Default()
	level := slog.LevelError
	if r.Context().Err() != nil {
		level = slog.LevelWarn // the client left or timed out: not our fault
	}
	log.LogAttrs(r.Context(), level, "export failed", slog.String("path", r.URL.Path),
		slog.Int64("bytes_sent", cw.n), slog.String("error", err.Error()))
	if cw.n == 0 {
		h.Del("Content-Disposition")
		h.Del("Content-Encoding")
		h.Del("Trailer")
		status, msg := http.StatusInternalServerError, "internal error"
		switch apperr.KindOf(err) {
		case apperr.NotFound:
			status, msg = http.StatusNotFound, err.Error()
		case apperr.BadInput:
			status, msg = http.StatusBadRequest, err.Error()
		}
		http.Error(w, msg, status)
		return
	}
	// Send what is buffered first, so the client gets the status and a
	// visibly truncated body rather than a bare closed connection.
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// writeEncoded runs write into w, compressed in the best coding the request
// accepts (exports are text: CSV, JSON Lines, GraphML shrink five- to
// tenfold). Bytes reach w only as the coder emits them, so a failure early
// in a large export can still become an error status.
func writeEncoded(r *http.Request, h http.Header, w io.Writer, write func(io.Writer) error) error {
	enc := httpenc.Pick(r.Header.Get("Accept-Encoding"))
	if enc < 0 {
		return write(w)
	}
	zw, err := httpenc.NewWriter(enc, w)
	if err != nil {
		return write(w)
	}
	h.Set("Content-Encoding", httpenc.Encodings[enc].Name)
	if err := write(zw); err != nil {
		return err
	}
	return zw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
