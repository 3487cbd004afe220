package api

import (
	"bytes"
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/httpenc"
)

// Responses of the JSON POST and GET transports go out through
// httpenc.Body.Serve: compressed when at least httpenc.MinSize and
// Accept-Encoding allows (brotli, zstd, gzip), and, for queries answered
// without errors, with a strong ETag (a hash of the body) that answers
// If-None-Match with 304. A whole-graph read answered by the fast path comes
// with a Body kept in memory with its network: encoded and compressed once,
// sent as it is. Streams (WebSocket, SSE) never come here.

// dataPrefix opens a response body that has data and nothing else, as
// writeResponse writes it.
const dataPrefix = `{"data":`

// keptSlot carries a kept Body from the fast path (inside gqlgen's
// executor) back to serveOperation.
type keptSlot struct{ body *httpenc.Body }

type keptSlotKey struct{}

func withKeptSlot(ctx context.Context) (context.Context, *keptSlot) {
	s := &keptSlot{}
	return context.WithValue(ctx, keptSlotKey{}, s), s
}

// keepBody hands body to serveOperation, when the request came through it.
func keepBody(ctx context.Context, body *httpenc.Body) {
	if s, ok := ctx.Value(keptSlotKey{}).(*keptSlot); ok {
		s.body = body
	}
}

// bodyData is the data of a kept body: the bytes between dataPrefix and
// its closing brace.
func bodyData(b *httpenc.Body) []byte {
	return b.Raw[len(dataPrefix) : len(b.Raw)-1 : len(b.Raw)-1]
}

// writeOperation writes an operation's response.
func writeOperation(w http.ResponseWriter, r *http.Request, op ast.Operation, resp *graphql.Response, slot *keptSlot, mediaType string) {
	ok := len(resp.Errors) == 0
	if b := slot.body; b != nil && ok && len(resp.Extensions) == 0 && resp.Label == "" && resp.HasNext == nil &&
		len(resp.Data) > 0 && &resp.Data[0] == &b.Raw[len(dataPrefix)] {
		b.Serve(w, r, mediaType, true)
		return
	}
	var buf bytes.Buffer
	if err := writeResponse(&buf, resp); err != nil {
		writeError(w, http.StatusInternalServerError, apperr.Internal, "the response could not be encoded")
		return
	}
	httpenc.NewBody(buf.Bytes()).Serve(w, r, mediaType, ok && op == ast.Query)
}
