package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/ethox/ethox/ent"
)

// recordingTransport remembers what the wrapped transport was handed.
type recordingTransport struct {
	length int64
	onDisk bool
	body   []byte
}

func (*recordingTransport) Supports(*http.Request) bool { return true }
func (t *recordingTransport) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	_, t.onDisk = r.Body.(*os.File)
	t.length = r.ContentLength
	t.body, _ = io.ReadAll(r.Body)
	w.WriteHeader(http.StatusOK)
}

// A multipart body of unknown length (chunked) is spooled to disk and handed
// on with its length, so gqlgen does not keep its files in memory.
func TestChunkedUploadsAreSpooled(t *testing.T) {
	payload := strings.Repeat("x", 1<<20)
	cases := []struct {
		name    string
		chunked bool
		limit   int64
		status  int
		onDisk  bool
	}{
		{"chunked", true, 4 << 20, http.StatusOK, true},
		{"with a length", false, 4 << 20, http.StatusOK, false},
		{"chunked over the limit", true, 1 << 19, http.StatusRequestEntityTooLarge, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTransport{length: -2}
			tr := codedTransport{Transport: rec, limit: tc.limit, name: "MAX_UPLOAD_BYTES", spool: true}
			var body io.Reader = bytes.NewBufferString(payload)
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req := httptest.NewRequest(http.MethodPost, "/query", body)
			if tc.chunked {
				req.ContentLength = -1
			}
			w := httptest.NewRecorder()
			tr.Do(w, req, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != http.StatusOK {
				if !strings.Contains(w.Body.String(), "MAX_UPLOAD_BYTES") || rec.length != -2 {
					t.Fatalf("refusal %s, transport called: %v", w.Body, rec.length != -2)
				}
				return
			}
			if rec.onDisk != tc.onDisk || rec.length != int64(len(payload)) || string(rec.body) != payload {
				t.Fatalf("on disk %v, length %d, %d bytes read", rec.onDisk, rec.length, len(rec.body))
			}
		})
	}
}

// Only errors the app classifies reach the client with their text: a
// constraint failure is INTERNAL, its driver message only in the log.
func TestConstraintErrorsAreInternal(t *testing.T) {
	var logged bytes.Buffer
	present := errorPresenter(slog.New(slog.NewTextHandler(&logged, nil)))
	e := present(context.Background(), fmt.Errorf("insert: %w", &ent.ConstraintError{}))
	if e.Extensions["code"] != "INTERNAL" || e.Message != "internal error" || !strings.Contains(logged.String(), "constraint failed") {
		t.Fatalf("%+v, log %q", e, logged.String())
	}
}
