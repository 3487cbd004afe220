package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/auth"
)

// GraphQL over Server-Sent Events, as graphql-sse's PROTOCOL.md (v2.6.1)
// describes it: distinct connections (one operation per stream, GET or POST
// with Accept: text/event-stream) and single connection mode (PUT reserves a
// stream, GET opens it with the token, POSTs carry operations onto it, DELETE
// ends one). Hand-written: gqlgen's transport.SSE serves distinct POSTs only,
// ends with an event that has no data line and resets its keep-alive on every
// event. Reservations live in this process (see sseHub).

const (
	sseTokenHeader = "X-GraphQL-Event-Stream-Token"
	sseTokenParam  = "token"
	// Defaults of Options.SSEReservationTimeout and MaxSSEReservationsPerClient.
	defaultSSEReservationTimeout = 30 * time.Second
	defaultSSEReservationsPerIP  = 16
)

type sseTransport struct {
	hub            *sseHub
	keepAlive      time.Duration // <= 0: none
	checker        checker
	readsNeedToken bool
	log            *slog.Logger
}

func (t sseTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodPut, http.MethodDelete:
		return true
	case http.MethodGet, http.MethodPost:
		return acceptsEventStream(r) || streamToken(r) != ""
	}
	return false
}

func (t sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	switch token := streamToken(r); {
	case r.Method == http.MethodPut:
		t.reserve(w, r)
	case r.Method == http.MethodDelete:
		t.stop(w, r, token)
	case acceptsEventStream(r) && token != "":
		t.serveReserved(w, r, token)
	case acceptsEventStream(r):
		t.serveDistinct(w, r, exec)
	default:
		t.execute(w, r, exec, token)
	}
}

// acceptsEventStream tells a request whose Accept names text/event-stream
// (with a q-value above 0).
func acceptsEventStream(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/event-stream" {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q <= 0 {
				continue
			}
			return true
		}
	}
	return false
}

// streamToken is the single-connection reservation a request names, by
// header or (for EventSource, which cannot set headers) URL parameter.
func streamToken(r *http.Request) string {
	if t := r.Header.Get(sseTokenHeader); t != "" {
		return t
	}
	return r.URL.Query().Get(sseTokenParam)
}

// sseParams reads a GraphQL request from a GET's URL or a POST's JSON body,
// answering what cannot be read.
func sseParams(w http.ResponseWriter, r *http.Request) (*graphql.RawParams, bool) {
	var params *graphql.RawParams
	if r.Method == http.MethodGet {
		p, err := urlParams(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, apperr.BadInput, err.Error())
			return nil, false
		}
		params = p
	} else {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != mediaJSON {
			writeError(w, http.StatusUnsupportedMediaType, apperr.BadInput, "an operation sent by POST needs Content-Type application/json")
			return nil, false
		}
		params = &graphql.RawParams{}
		if _, ok := readParams(w, r, params); !ok {
			return nil, false
		}
	}
	if params.Query == "" && params.Extensions["persistedQuery"] == nil {
		writeError(w, http.StatusBadRequest, apperr.BadInput, `the request has no "query": send the GraphQL document in it`)
		return nil, false
	}
	params.Headers = r.Header
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	return params, true
}

// serveDistinct streams one operation on its own connection. Parse and
// validation errors are a next event, as the protocol wants (a 400 would make
// EventSource fail without telling why); an unreadable request is a 4xx.
func (t sseTransport) serveDistinct(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	params, ok := sseParams(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs == nil && rc.Operation.Operation == ast.Mutation && r.Method == http.MethodGet {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, apperr.BadInput, "mutations need POST; GET serves queries and subscriptions only")
		return
	}
	events := make(chan []byte)
	go func() {
		defer close(events)
		send := func(b []byte) bool {
			if ctx.Err() != nil { // stopped: drop what the cancellation itself produced
				return false
			}
			select {
			case events <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if runOperation(ctx, exec, rc, errs, "", send) {
			send(sseEvent("complete", nil))
		}
	}()
	t.pump(ctx, w, r, events)
}

// runOperation sends each result of an operation as a next event (with id in
// single connection mode); false when send gave up.
func runOperation(ctx context.Context, exec graphql.GraphExecutor, rc *graphql.OperationContext, errs gqlerror.List, id string, send func([]byte) bool) bool {
	if errs != nil {
		return send(nextEvent(id, exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)))
	}
	responses, dctx := exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(dctx)
		if resp == nil {
			return true
		}
		if !send(nextEvent(id, resp)) {
			return false
		}
	}
}

// pump writes events as they come and a keep-alive comment on a ticker that
// runs from the stream's start, until events is closed, ctx ends or a write
// fails. The comment line first makes browsers see the response at once.
func (t sseTransport) pump(ctx context.Context, w http.ResponseWriter, r *http.Request, events <-chan []byte) {
	rc := http.NewResponseController(w)
	// READ_TIMEOUT bounds reading the request; past it the server would cancel
	// the stream's context.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(":\n\n")) {
		return
	}
	var tick <-chan time.Time
	if t.keepAlive > 0 {
		ticker := time.NewTicker(t.keepAlive)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-events:
			if !ok || !write(b) {
				return
			}
		case <-tick:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}

// sseEvent formats one event; data always has a line (an empty one for
// complete in distinct mode), or EventSource listeners do not fire.
func sseEvent(event string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	if len(data) == 0 {
		b.WriteString("data:\n")
	}
	for line := range bytes.Lines(data) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func nextEvent(id string, resp *graphql.Response) []byte {
	var payload bytes.Buffer
	if len(resp.Data) == 0 && len(resp.Errors) > 0 {
		// A request error: no data entry.
		b, err := json.Marshal(struct {
			Errors     gqlerror.List  `json:"errors"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Errors, resp.Extensions})
		if err != nil {
			b = []byte(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
		}
		payload.Write(b)
	} else if err := writeResponse(&payload, resp); err != nil {
		payload.Reset()
		payload.WriteString(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}`)
	}
	if id == "" {
		return sseEvent("next", payload.Bytes())
	}
	return sseEvent("next", idPayload(id, payload.Bytes()))
}

func idPayload(id string, payload []byte) []byte {
	idJSON, _ := json.Marshal(id)
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.Write(idJSON)
	if payload != nil {
		b.WriteString(`,"payload":`)
		b.Write(payload)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// reserve answers PUT: a new reservation, its token in the body (201). It
// needs the token (and role) a subscription needs.
func (t sseTransport) reserve(w http.ResponseWriter, r *http.Request) {
	if !acceptsText(r) {
		writeError(w, http.StatusNotAcceptable, apperr.BadInput, "a reservation answers text/plain: the Accept header does not allow it")
		return
	}
	need := auth.None
	if t.readsNeedToken {
		need = auth.Reader
	}
	owner := BearerToken(r.Context())
	p, err := t.checker.Check(r.Context(), owner, need, "event streams")
	if err != nil {
		writeAuthError(w, r, err, false, t.log)
		return
	}
	client := "ip:" + ClientIP(r.Context())
	if p != nil && p.Source != "open" {
		client = "token:" + p.Name
	}
	token, status, msg := t.hub.reserve(client, owner)
	if status != 0 {
		kind := apperr.RateLimited
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		writeError(w, status, kind, msg)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(token))
}

func acceptsText(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q <= 0 {
			continue
		}
		if mt == "text/plain" || mt == "text/*" || mt == "*/*" {
			return true
		}
	}
	return false
}

// reservation finds the stream a request names and checks that it comes
// with the credentials that reserved it, answering the request otherwise.
func (t sseTransport) reservation(w http.ResponseWriter, r *http.Request, token string) *sseStream {
	if token == "" {
		writeError(w, http.StatusNotFound, apperr.NotFound, "no event stream token: send the one PUT /query returned in "+sseTokenHeader+" or the token URL parameter")
		return nil
	}
	s := t.hub.get(token)
	if s == nil {
		writeError(w, http.StatusNotFound, apperr.NotFound, "no event stream is reserved under this token: it expired unopened, or its stream has closed; reserve another with PUT")
		return nil
	}
	if s.owner != BearerToken(r.Context()) {
		writeError(w, http.StatusForbidden, apperr.Forbidden, "this event stream was reserved with other credentials")
		return nil
	}
	return s
}

// serveReserved opens a reserved stream; only one connection may hold it.
// The stream ends its operations when it closes, and its token with it.
func (t sseTransport) serveReserved(w http.ResponseWriter, r *http.Request, token string) {
	s, status := t.hub.open(token)
	switch status {
	case http.StatusNotFound:
		writeError(w, status, apperr.NotFound, "no event stream is reserved under this token: it expired unopened, or its stream has closed; reserve another with PUT")
		return
	case http.StatusConflict:
		writeError(w, status, apperr.BadInput, "this event stream is already open on another connection")
		return
	}
	defer t.hub.remove(s)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	t.pump(ctx, w, r, s.events)
}

// execute starts an operation on a reserved stream (202) whose results go
// out there, with its id. Request errors are answered here, as
// GraphQL-over-HTTP wants.
func (t sseTransport) execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, token string) {
	s := t.reservation(w, r, token)
	if s == nil {
		return
	}
	mediaType, ok := negotiate(r)
	if !ok {
		notAcceptable(w)
		return
	}
	params, ok := sseParams(w, r)
	if !ok {
		return
	}
	id, _ := params.Extensions["operationId"].(string)
	if id == "" {
		writeError(w, http.StatusBadRequest, apperr.BadInput, `the operation has no extensions.operationId: single connection mode needs one per operation`)
		return
	}
	// The operation outlives this request: it keeps the request's values
	// (credentials, client IP) and ends with the stream or a DELETE.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		cancel()
		writeRequestError(w, mediaType, exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs).Errors)
		return
	}
	if rc.Operation.Operation == ast.Mutation && r.Method == http.MethodGet {
		cancel()
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, apperr.BadInput, "mutations need POST; GET serves queries and subscriptions only")
		return
	}
	op := &sseOp{cancel: cancel}
	if status, msg := t.hub.addOp(s, id, op); status != 0 {
		cancel()
		kind := apperr.BadInput
		if status == http.StatusTooManyRequests {
			kind = apperr.RateLimited
		}
		writeError(w, status, kind, msg)
		return
	}
	stop := context.AfterFunc(s.ctx, cancel)
	go func() {
		defer cancel()
		defer stop()
		defer t.hub.removeOp(s, id, op)
		send := func(b []byte) bool {
			if ctx.Err() != nil { // stopped: drop what the cancellation itself produced
				return false
			}
			select {
			case s.events <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		runOperation(ctx, exec, rc, nil, id, send)
		// Completed, or stopped by DELETE: say so while the stream lives.
		select {
		case s.events <- sseEvent("complete", idPayload(id, nil)):
		case <-s.ctx.Done():
		}
	}()
	w.WriteHeader(http.StatusAccepted)
}

// stop answers DELETE ?operationId=: the operation ends (200 even if it
// already has, as the reference server does).
func (t sseTransport) stop(w http.ResponseWriter, r *http.Request, token string) {
	s := t.reservation(w, r, token)
	if s == nil {
		return
	}
	id := r.URL.Query().Get("operationId")
	if id == "" {
		writeError(w, http.StatusBadRequest, apperr.BadInput, "DELETE needs the operationId URL parameter")
		return
	}
	t.hub.cancelOp(s, id)
	w.WriteHeader(http.StatusOK)
}

// sseHub holds the single-connection reservations of this process. A
// reservation is bound to the credentials that made it, expires when its
// stream is not opened in time, and ends with its stream; several server
// processes behind a load balancer would need them in a shared store.
type sseHub struct {
	mu        sync.Mutex
	streams   map[string]*sseStream
	perClient map[string]int
	closed    bool

	timeout      time.Duration // an unopened reservation lasts this long
	maxPerClient int           // reservations (open or not) per client
	maxStreams   int           // reservations in all (MAX_SSE_STREAMS); 0: no cap
	maxOps       int           // operations per stream (MAX_SUBSCRIPTIONS_PER_CONNECTION); 0: no cap
}

type sseStream struct {
	token, client, owner string
	ctx                  context.Context // ends with the stream, its expiry or shutdown
	cancel               context.CancelFunc
	events               chan []byte // unbuffered: operations wait for a slow or unopened stream
	opened               bool
	expiry               *time.Timer
	ops                  map[string]*sseOp
}

type sseOp struct{ cancel context.CancelFunc }

func newSSEHub(timeout time.Duration, perClient, maxStreams, maxOps int, shutdown <-chan struct{}) *sseHub {
	h := &sseHub{
		streams: map[string]*sseStream{}, perClient: map[string]int{},
		timeout: timeout, maxPerClient: perClient, maxStreams: maxStreams, maxOps: maxOps,
	}
	if shutdown != nil {
		go func() {
			<-shutdown
			h.shutdown()
		}()
	}
	return h
}

// reserve returns a new token, or an HTTP status and message.
func (h *sseHub) reserve(client, owner string) (string, int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return "", http.StatusServiceUnavailable, "the server is shutting down"
	case h.maxStreams > 0 && len(h.streams) >= h.maxStreams:
		return "", http.StatusServiceUnavailable, fmt.Sprintf("too many open SSE subscriptions (MAX_SSE_STREAMS = %d)", h.maxStreams)
	case h.perClient[client] >= h.maxPerClient:
		return "", http.StatusTooManyRequests, fmt.Sprintf("too many event stream reservations for this client (%d): close a stream first", h.maxPerClient)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sseStream{token: rand.Text(), client: client, owner: owner, ctx: ctx, cancel: cancel,
		events: make(chan []byte), ops: map[string]*sseOp{}}
	s.expiry = time.AfterFunc(h.timeout, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !s.opened {
			h.removeLocked(s)
		}
	})
	h.streams[s.token] = s
	h.perClient[client]++
	return s.token, 0, ""
}

func (h *sseHub) get(token string) *sseStream {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams[token]
}

// open marks a reservation's stream open: 404 when there is none, 409 when
// another connection holds it.
func (h *sseHub) open(token string) (*sseStream, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[token]
	switch {
	case s == nil:
		return nil, http.StatusNotFound
	case s.opened:
		return nil, http.StatusConflict
	}
	s.opened = true
	s.expiry.Stop()
	return s, 0
}

func (h *sseHub) remove(s *sseStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

// removeLocked ends a stream and every operation on it, once.
func (h *sseHub) removeLocked(s *sseStream) {
	if h.streams[s.token] != s {
		return
	}
	delete(h.streams, s.token)
	if h.perClient[s.client]--; h.perClient[s.client] <= 0 {
		delete(h.perClient, s.client)
	}
	s.expiry.Stop()
	s.cancel() // operations' contexts follow (context.AfterFunc)
}

func (h *sseHub) addOp(s *sseStream, id string, op *sseOp) (int, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.streams[s.token] != s:
		return http.StatusNotFound, "the event stream has closed; reserve another with PUT"
	case s.ops[id] != nil:
		return http.StatusConflict, "operation " + strconv.Quote(id) + " is already running on this event stream"
	case h.maxOps > 0 && len(s.ops) >= h.maxOps:
		return http.StatusTooManyRequests, fmt.Sprintf("too many operations on this event stream (MAX_SUBSCRIPTIONS_PER_CONNECTION = %d): complete one first", h.maxOps)
	}
	s.ops[id] = op
	return 0, ""
}

func (h *sseHub) removeOp(s *sseStream, id string, op *sseOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ops[id] == op {
		delete(s.ops, id)
	}
}

func (h *sseHub) cancelOp(s *sseStream, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op := s.ops[id]; op != nil {
		op.cancel()
		delete(s.ops, id)
	}
}

func (h *sseHub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, s := range h.streams {
		h.removeLocked(s)
	}
}

func newSSETransport(o Options) sseTransport {
	keepAlive := o.SSEKeepAlive
	if keepAlive == 0 {
		keepAlive = 15 * time.Second
	}
	timeout := o.SSEReservationTimeout
	if timeout <= 0 {
		timeout = defaultSSEReservationTimeout
	}
	perClient := o.MaxSSEReservationsPerClient
	if perClient <= 0 {
		perClient = defaultSSEReservationsPerIP
	}
	return sseTransport{
		hub:            newSSEHub(timeout, perClient, o.MaxSSEStreams, o.MaxSubscriptionsPerConnection, o.Shutdown),
		keepAlive:      keepAlive,
		checker:        o.checker,
		readsNeedToken: o.RequireAuthForReads,
		log:            o.Logger,
	}
}
