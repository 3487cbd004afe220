package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
)

// codedTransport wraps a gqlgen HTTP transport so that its own transport-level
// errors (an undecodable body, a broken multipart form, a body over the limit)
// carry extensions.code like every other error. gqlgen writes them without one.
type codedTransport struct {
	graphql.Transport
	limit int64 // request body limit in bytes; 0 for none
	name  string
	// spool copies a body of unknown length to a temporary file first:
	// gqlgen keeps every file of a request in memory when its
	// Content-Length is below MaxMemory, and -1 (chunked) is.
	spool bool
}

func (t codedTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if t.limit > 0 {
		if r.ContentLength > t.limit {
			writeError(w, http.StatusRequestEntityTooLarge, apperr.BadInput,
				fmt.Sprintf("request body of %d bytes exceeds %s (%d bytes)", r.ContentLength, t.name, t.limit))
			return
		}
	}
	lb := &limitedBody{ReadCloser: r.Body, left: t.limit}
	if t.limit > 0 {
		r.Body = lb
	}
	if t.spool && r.ContentLength < 0 {
		f, n, err := spoolBody(r.Body)
		if err != nil {
			if lb.exceeded {
				writeError(w, http.StatusRequestEntityTooLarge, apperr.BadInput, fmt.Sprintf("request body exceeds %s (%d bytes)", t.name, t.limit))
			} else {
				writeError(w, http.StatusBadRequest, apperr.BadInput, "the request body could not be read")
			}
			return
		}
		defer f.Close()
		r.Body, r.ContentLength = f, n
	}
	rw := &errorRewriter{ResponseWriter: w, exceeded: func() bool { return lb.exceeded }}
	t.Transport.Do(rw, r, exec)
	if !rw.rewriting {
		return
	}
	msg := ""
	if lb.exceeded {
		msg = fmt.Sprintf("request body exceeds %s (%d bytes)", t.name, t.limit)
	}
	rw.flush(msg)
}

var errBodyTooLarge = errors.New("request body too large")

// spoolBody copies body to an unlinked temporary file and rewinds it.
func spoolBody(body io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "ethox-upload-*")
	if err != nil {
		return nil, 0, err
	}
	_ = os.Remove(f.Name()) // gone from the directory at once; the space is freed on Close
	n, err := io.Copy(f, body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// limitedBody fails a read past the limit while the body is being read, so an
// oversized upload is refused without being buffered first.
type limitedBody struct {
	io.ReadCloser
	left     int64
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		b.exceeded = true
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

// errorRewriter passes successful responses through and holds back error
// responses (status >= 400) so codes can be added before they are written.
type errorRewriter struct {
	http.ResponseWriter
	exceeded    func() bool // the body limit tripped: rewrite whatever status gqlgen chose
	rewriting   bool
	status      int
	wroteHeader bool
	buf         bytes.Buffer
}

func (w *errorRewriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if w.exceeded() {
		w.rewriting, w.status = true, http.StatusRequestEntityTooLarge
		return
	}
	if code >= 400 {
		w.rewriting, w.status = true, code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorRewriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.rewriting {
		return w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *errorRewriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.rewriting {
		f.Flush()
	}
}

func (w *errorRewriter) flush(override string) {
	var resp graphql.Response
	if err := json.Unmarshal(w.buf.Bytes(), &resp); err != nil || len(resp.Errors) == 0 {
		w.ResponseWriter.WriteHeader(w.status)
		_, _ = w.ResponseWriter.Write(w.buf.Bytes())
		return
	}
	for _, e := range resp.Errors {
		if override != "" {
			e.Message = override
		}
		if e.Extensions == nil {
			e.Extensions = map[string]any{}
		}
		if _, ok := e.Extensions["code"]; !ok || override != "" {
			e.Extensions["code"] = apperr.BadInput.String()
		}
	}
	// A request error: no data entry (GraphQL-over-HTTP).
	b, _ := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(b)
}

func writeError(w http.ResponseWriter, status int, kind apperr.Kind, msg string) {
	b, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": kind.String()}}},
	}) // a request error: no data entry (GraphQL-over-HTTP)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
