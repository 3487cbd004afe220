package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
)

// The two response media types of the GraphQL-over-HTTP draft.
const (
	mediaJSON         = "application/json"
	mediaGraphQLResp  = "application/graphql-response+json"
	allowedMethods    = "GET, POST, PUT, DELETE, OPTIONS" // PUT and DELETE: graphql-sse single connection mode
	subscriptionsHelp = "subscriptions are not served over plain HTTP requests: use a WebSocket " +
		"(graphql-transport-ws or graphql-ws) or Server-Sent Events (GET or POST with Accept: text/event-stream)"
)

// negotiate picks the response media type from Accept, honouring q-values:
// the highest q wins, then an explicit type over a wildcard, then the
// client's order. A missing Accept means application/json; ok is false
// when Accept names neither type (406).
func negotiate(r *http.Request) (mediaType string, ok bool) {
	accept := strings.TrimSpace(strings.Join(r.Header.Values("Accept"), ","))
	if accept == "" {
		return mediaJSON, true
	}
	bestQ, bestExplicit := -1.0, false
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, found := params["q"]; found {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				continue
			}
			q = v
		}
		var candidate string
		explicit := true
		switch mt {
		case mediaJSON, mediaGraphQLResp:
			candidate = mt
		case "*/*", "application/*":
			candidate, explicit = mediaJSON, false
		default:
			continue
		}
		if q <= 0 {
			continue
		}
		if q > bestQ || (q == bestQ && explicit && !bestExplicit) {
			mediaType, bestQ, bestExplicit = candidate, q, explicit
		}
	}
	return mediaType, mediaType != ""
}

// specHTTP answers what no transport serves as the GraphQL-over-HTTP draft
// wants, with a coded JSON error: HEAD and other methods get 405 with Allow,
// a POST no transport reads gets 415. gqlgen answers 400 "transport not
// supported" labelled text/plain.
type specHTTP struct {
	next       http.Handler
	transports []graphql.Transport
}

func (s specHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, t := range s.transports {
		if r.Method != http.MethodHead && t.Supports(r) {
			s.next.ServeHTTP(w, r)
			return
		}
	}
	switch r.Method {
	case http.MethodGet:
		// Only an Upgrade header that is not a WebSocket gets here.
		writeError(w, http.StatusBadRequest, apperr.BadInput, "transport not supported: the only upgrade served is a WebSocket")
	case http.MethodPost:
		writeError(w, http.StatusUnsupportedMediaType, apperr.BadInput,
			"transport not supported: POST needs Content-Type application/json (multipart/form-data for uploads)")
	default:
		w.Header().Set("Allow", allowedMethods)
		writeError(w, http.StatusMethodNotAllowed, apperr.BadInput,
			"method "+r.Method+" is not allowed on /query: use GET or POST (PUT and DELETE for event streams)")
	}
}

// jsonGET serves GET requests (queries only) like jsonPOST.
type jsonGET struct{}

func (jsonGET) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && r.Method == http.MethodGet
}

func (jsonGET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	mediaType, ok := negotiate(r)
	if !ok {
		notAcceptable(w)
		return
	}
	params, err := urlParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, apperr.BadInput, err.Error())
		return
	}
	serveOperation(w, r, exec, params, mediaType)
}

// urlParams reads a GraphQL request from a GET's URL parameters (SSE uses
// it too). Its errors are short and name the parameter.
func urlParams(r *http.Request) (*graphql.RawParams, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errors.New("the URL query string could not be parsed")
	}
	params := &graphql.RawParams{Query: query.Get("query"), OperationName: query.Get("operationName")}
	for name, dst := range map[string]*map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		if v := query.Get(name); v != "" {
			dec := json.NewDecoder(strings.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(dst); err != nil {
				return nil, errors.New("URL parameter " + strconv.Quote(name) + " is not a JSON object")
			}
		}
	}
	return params, nil
}

func notAcceptable(w http.ResponseWriter) {
	writeError(w, http.StatusNotAcceptable, apperr.BadInput,
		"the Accept header allows neither application/graphql-response+json nor application/json")
}

// serveOperation runs one decoded request and answers it by the draft's
// rules: a request error (the document does not parse or validate, its
// variables do not coerce, a limit refuses it) answers 200 with
// application/json and 400 with application/graphql-response+json, and
// never has a data entry.
func serveOperation(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, mediaType string) {
	if params.Query == "" && params.Extensions["persistedQuery"] == nil {
		writeError(w, http.StatusBadRequest, apperr.BadInput, `the request has no "query": send the GraphQL document in it`)
		return
	}
	params.Headers = r.Header
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	ctx := r.Context()
	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		if params.OperationName == "" && rc != nil && rc.Doc != nil && len(rc.Doc.Operations) > 1 {
			for _, e := range opErr {
				if e.Message == "operation  not found" {
					e.Message = "the document has " + strconv.Itoa(len(rc.Doc.Operations)) + " operations: give operationName"
				}
			}
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr)
		writeRequestError(w, mediaType, resp.Errors)
		return
	}
	switch op := rc.Operation.Operation; {
	case op == ast.Subscription:
		writeRequestError(w, mediaType, gqlerror.List{codedError(subscriptionsHelp)})
		return
	case op == ast.Mutation && r.Method == http.MethodGet:
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, apperr.BadInput, "mutations need POST; GET serves queries only")
		return
	}
	ctx, slot := withKeptSlot(ctx)
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeOperation(w, r, rc.Operation.Operation, responses(ctx), slot, mediaType)
}

func codedError(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": apperr.BadInput.String()}}
}

// writeRequestError writes errors with no data entry.
func writeRequestError(w http.ResponseWriter, mediaType string, errs gqlerror.List) {
	status := http.StatusOK
	if mediaType == mediaGraphQLResp {
		status = http.StatusBadRequest
	}
	b, err := json.Marshal(struct {
		Errors gqlerror.List `json:"errors"`
	}{errs})
	if err != nil {
		b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSpace(b))
}
