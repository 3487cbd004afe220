package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/ethox/ethox/apperr"
)

// jsonPOST is gqlgen's JSON POST transport (whose Supports it keeps) with
// the GraphQL-over-HTTP draft's status codes and Accept negotiation
// (serveOperation) and a cheaper success path: gqlgen writes a response
// with json.Marshal, which re-validates the whole already-encoded data (tens
// of milliseconds on a whole-graph read); this writes the data as is.
type jsonPOST struct {
	transport.POST
}

func (t jsonPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	var params graphql.RawParams
	if _, ok := readParams(w, r, &params); !ok {
		return
	}
	mediaType, ok := negotiate(r)
	if !ok {
		notAcceptable(w)
		return
	}
	serveOperation(w, r, exec, &params, mediaType)
}

// decodeParams reads a GraphQL-over-HTTP request body. Its errors are short
// and fixed: they never quote the body or name a Go type.
func decodeParams(body []byte, params *graphql.RawParams) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := dec.Decode(params)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field == "" && typ.Value == "array":
		return errors.New("the request body is a JSON array: batched requests are not supported, send one operation per request")
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("the request body is a JSON %s; want an object with a query", typ.Value)
	case errors.As(err, &typ):
		// Field is one of RawParams' JSON names: query, variables, operationName, extensions.
		return fmt.Errorf("request body field %q is a JSON %s, which is not allowed there", typ.Field, typ.Value)
	case errors.As(err, &syntax):
		return fmt.Errorf("the request body is not valid JSON (syntax error at byte %d)", syntax.Offset)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the request body is empty or cut short; want a JSON object with a query")
	default:
		return errors.New("the request body could not be read as a GraphQL request")
	}
}

// writeResponse writes a graphql.Response field by field in encoding/json's
// order, with the data copied as is.
func writeResponse(w io.Writer, resp *graphql.Response) error {
	var b bytes.Buffer
	b.Grow(len(resp.Data) + 256)
	b.WriteByte('{')
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			return err
		}
		b.WriteString(`"errors":`)
		b.Write(errs)
		b.WriteByte(',')
	}
	b.WriteString(`"data":`)
	if len(resp.Data) == 0 {
		b.WriteString("null")
	} else {
		b.Write(resp.Data)
	}
	if resp.Label != "" || len(resp.Path) > 0 || resp.HasNext != nil || len(resp.Extensions) > 0 {
		// Rare (incremental delivery, extensions): let encoding/json write the tail.
		tail, err := json.Marshal(struct {
			Label      string         `json:"label,omitempty"`
			Path       any            `json:"path,omitempty"`
			HasNext    *bool          `json:"hasNext,omitempty"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Label, pathOrNil(resp), resp.HasNext, resp.Extensions})
		if err != nil {
			return err
		}
		if len(tail) > 2 {
			b.WriteByte(',')
			b.Write(tail[1 : len(tail)-1])
		}
	}
	b.WriteByte('}')
	_, err := w.Write(b.Bytes())
	return err
}

func pathOrNil(resp *graphql.Response) any {
	if len(resp.Path) == 0 {
		return nil
	}
	return resp.Path
}

// readParams reads and decodes a JSON request body, answering a body that
// cannot be read or decoded itself: gqlgen's own answer repeats the whole
// body and names a Go type.
func readParams(w http.ResponseWriter, r *http.Request, params *graphql.RawParams) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// codedTransport names the limit when that is what failed.
		writeError(w, http.StatusBadRequest, apperr.BadInput, "the request body could not be read")
		return nil, false
	}
	if err := decodeParams(body, params); err != nil {
		writeError(w, http.StatusBadRequest, apperr.BadInput, err.Error())
		return nil, false
	}
	return body, true
}
