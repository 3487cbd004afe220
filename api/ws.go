package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
)

// The two WebSocket subprotocols. graphql-transport-ws is the graphql-ws
// PROTOCOL.md, served by wsTransport itself; graphql-ws is the legacy
// subscriptions-transport-ws protocol, served by gqlgen's transport.
const (
	protoTransportWS = "graphql-transport-ws"
	protoLegacyWS    = "graphql-ws"
)

// Close codes of PROTOCOL.md.
const (
	closeBadRequest      websocket.StatusCode = 4400
	closeUnauthorized    websocket.StatusCode = 4401
	closeForbidden       websocket.StatusCode = 4403
	closeInitTimeout     websocket.StatusCode = 4408
	closeSubscriberExist websocket.StatusCode = 4409
	closeTooManyInits    websocket.StatusCode = 4429
)

// wsTransport serves WebSocket upgrades. gqlgen's transport implements none
// of PROTOCOL.md's 44xx close codes and folds validation errors into `next`
// + `complete`, and wrapping it would mean rewriting its frames both ways, so
// graphql-transport-ws is implemented here (hand-written: no Go library
// serves it on top of a gqlgen executor). Clients offering only graphql-ws
// (or no subprotocol) get gqlgen's transport, its frames checked first by
// legacyConn.
type wsTransport struct {
	legacy       transport.Websocket
	accept       websocket.AcceptOptions
	initTimeout  time.Duration // connection_init must arrive within it (4408)
	pingInterval time.Duration // a WebSocket ping frame every interval; no pong within two drops the peer
	readLimit    int64
	authenticate func(ctx context.Context, payload transport.InitPayload) (context.Context, error)
	log          *slog.Logger
}

var _ graphql.Transport = wsTransport{}

func (wsTransport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !offersTransportWS(r) {
		t.legacy.Do(w, r, exec)
		return
	}
	opts := t.accept
	// Only the current protocol: coder/websocket would otherwise pick the
	// client's first offer, which may be the legacy one.
	opts.Subprotocols = []string{protoTransportWS}
	c, err := websocket.Accept(w, r, &opts)
	if err != nil {
		// Accept has answered the request (403 for a refused origin, 400 for a bad handshake).
		t.log.DebugContext(r.Context(), "websocket upgrade refused", "error", err)
		return
	}
	if t.readLimit > 0 {
		c.SetReadLimit(t.readLimit)
	}
	s := &wsSession{wsTransport: t, c: c, exec: exec, headers: r.Header, ops: map[string]*wsOp{}, done: make(chan struct{})}
	s.serve(r.Context())
}

// offersTransportWS tells whether the client offers graphql-transport-ws
// among its subprotocols (which it then gets, whatever else it offers).
func offersTransportWS(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == protoTransportWS {
				return true
			}
		}
	}
	return false
}

// wsSession is one graphql-transport-ws socket.
type wsSession struct {
	wsTransport
	c       *websocket.Conn
	exec    graphql.GraphExecutor
	headers http.Header
	ctx     context.Context // the connection's, with the credentials of connection_init
	closing atomic.Bool
	done    chan struct{} // closed when serve returns

	mu  sync.Mutex // guards ops and orders the frames of operations
	ops map[string]*wsOp
}

// wsOp is a running operation; its id is taken from the subscribe message
// until the server completes it or the client sends complete.
type wsOp struct{ cancel context.CancelFunc }

// wsMessage is a frame of PROTOCOL.md. Fields stay raw so that their JSON
// types can be checked (an id must be a string, a payload an object).
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (s *wsSession) serve(reqCtx context.Context) {
	s.ctx = reqCtx
	// Server shutdown (Options.Shutdown) cancels the request's context.
	stopShutdown := context.AfterFunc(reqCtx, func() { s.close(websocket.StatusNormalClosure, "server shutting down") })
	defer stopShutdown()
	var initReceived atomic.Bool
	if s.initTimeout > 0 {
		t := time.AfterFunc(s.initTimeout, func() {
			if !initReceived.Load() {
				s.close(closeInitTimeout, "Connection initialisation timeout")
			}
		})
		defer t.Stop()
	}
	acked := false
	defer func() {
		close(s.done)
		s.cancelAll()
	}()
	// Reads never take reqCtx: coder/websocket drops the connection without a
	// close frame when a read's context ends.
	readCtx := context.WithoutCancel(reqCtx)
	for {
		typ, data, err := s.c.Read(readCtx)
		if err != nil {
			return // the peer closed, or s.close did
		}
		if typ != websocket.MessageText {
			s.close(closeBadRequest, "Invalid message received: a binary frame")
			return
		}
		msg, payload, err := parseWSMessage(data)
		if err != nil {
			s.close(closeBadRequest, err.Error())
			return
		}
		switch msg.Type {
		case "connection_init":
			if initReceived.Swap(true) {
				s.close(closeTooManyInits, "Too many initialisation requests")
				return
			}
			ctx, err := s.authenticate(reqCtx, transport.InitPayload(payload))
			if err != nil {
				s.log.InfoContext(reqCtx, "websocket connection refused", "error", err)
				s.close(closeForbidden, apperr.KindOf(err).String())
				return
			}
			s.ctx = ctx // read by this goroutine, and by those it starts after
			acked = true
			s.send(wsMessage{Type: "connection_ack"})
			if s.pingInterval > 0 {
				go s.keepAlive()
			}
		case "ping":
			s.send(wsMessage{Type: "pong", Payload: msg.Payload})
		case "pong":
			// Nothing to do: liveness is checked with WebSocket ping frames.
		case "subscribe":
			if !acked {
				s.close(closeUnauthorized, "Unauthorized")
				return
			}
			if !s.subscribe(msg.ID, payload) {
				return
			}
		case "complete":
			s.mu.Lock()
			op := s.ops[msg.ID]
			delete(s.ops, msg.ID) // nothing more is sent for this id
			s.mu.Unlock()
			if op != nil {
				op.cancel()
			}
		}
	}
}

// parseWSMessage checks a frame the way PROTOCOL.md's reference implementation
// (graphql-ws validateMessage) does; any error closes the socket with 4400.
// It returns the payload decoded as an object (nil when absent or null).
func parseWSMessage(data []byte) (wsMessage, map[string]any, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return wsMessage{}, nil, errors.New("Invalid message received: not a JSON object")
	}
	var msg wsMessage
	if err := json.Unmarshal(raw["type"], &msg.Type); err != nil || msg.Type == "" {
		return msg, nil, errors.New("Invalid message received: 'type' must be a non-empty string")
	}
	payload, payloadErr := objectOrNull(raw["payload"])
	msg.Payload = raw["payload"]
	switch msg.Type {
	case "connection_init", "ping", "pong":
		if payloadErr != nil {
			return msg, nil, fmt.Errorf("Invalid message received: %q payload must be an object, null or absent", msg.Type)
		}
		return msg, payload, nil
	case "subscribe", "complete":
		if err := json.Unmarshal(raw["id"], &msg.ID); err != nil || msg.ID == "" {
			return msg, nil, fmt.Errorf("Invalid message received: %q needs a non-empty string 'id'", msg.Type)
		}
		if msg.Type == "complete" {
			return msg, nil, nil
		}
		if payloadErr != nil || payload == nil {
			return msg, nil, errors.New(`Invalid message received: "subscribe" payload must be an object`)
		}
		if _, ok := payload["query"].(string); !ok {
			return msg, nil, errors.New(`Invalid message received: "subscribe" payload needs a string 'query'`)
		}
		for _, f := range []string{"variables", "extensions"} {
			if v, ok := payload[f]; ok && v != nil {
				if _, ok := v.(map[string]any); !ok {
					return msg, nil, fmt.Errorf(`Invalid message received: "subscribe" payload '%s' must be an object or null`, f)
				}
			}
		}
		if v, ok := payload["operationName"]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return msg, nil, errors.New(`Invalid message received: "subscribe" payload 'operationName' must be a string or null`)
			}
		}
		return msg, payload, nil
	default:
		// The server's own types (next, error, connection_ack) are not for a
		// client to send, and legacy ones (start, stop, connection_terminate)
		// belong to the other subprotocol.
		return msg, nil, fmt.Errorf("Invalid message received: unexpected type %q", msg.Type)
	}
}

// objectOrNull decodes a JSON object, or nil for null or an absent field.
func objectOrNull(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errors.New("not an object")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // variables keep their precision, as gqlgen's own decoding does
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// subscribe registers the operation under id and runs it; false means the
// socket was closed (a duplicate id).
func (s *wsSession) subscribe(id string, payload map[string]any) bool {
	start := graphql.Now()
	s.mu.Lock()
	if _, dup := s.ops[id]; dup {
		s.mu.Unlock()
		s.close(closeSubscriberExist, "Subscriber for "+id+" already exists")
		return false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	op := &wsOp{cancel: cancel}
	s.ops[id] = op
	s.mu.Unlock()
	params := &graphql.RawParams{Headers: s.headers}
	params.Query, _ = payload["query"].(string)
	params.OperationName, _ = payload["operationName"].(string)
	params.Variables, _ = payload["variables"].(map[string]any)
	params.Extensions, _ = payload["extensions"].(map[string]any)
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	go s.execute(ctx, id, op, params)
	return true
}

// execute runs one operation: parse and validation errors (and the depth,
// complexity and token limits, which refuse before execution) end it with an
// `error` message and no `complete`, as PROTOCOL.md wants; results go out as
// `next`, then `complete`.
func (s *wsSession) execute(ctx context.Context, id string, op *wsOp, params *graphql.RawParams) {
	defer op.cancel() // also frees the connection's subscription slot (subscriptionLimit)
	var rc *graphql.OperationContext
	defer func() {
		if p := recover(); p != nil {
			var err error
			if rc != nil {
				err = rc.Recover(ctx, p)
			} else {
				s.log.ErrorContext(ctx, "panic in websocket operation", "panic", fmt.Sprint(p))
			}
			gerr := &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": apperr.Internal.String()}}
			var ae *apperr.Error
			if errors.As(err, &ae) {
				gerr.Message = ae.Error()
			}
			s.finish(id, op, errorMessage(id, gqlerror.List{gerr}))
		}
	}()
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := s.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := s.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		s.finish(id, op, errorMessage(id, resp.Errors))
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	responses, ctx := s.exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		b, err := json.Marshal(resp)
		if err != nil {
			s.log.ErrorContext(ctx, "encoding a websocket response", "error", err)
			s.finish(id, op, errorMessage(id, gqlerror.List{{Message: "internal error", Extensions: map[string]any{"code": apperr.Internal.String()}}}))
			return
		}
		if !s.sendFor(id, op, wsMessage{ID: id, Type: "next", Payload: b}) {
			return // completed by the client, or the socket is gone
		}
	}
	s.finish(id, op, wsMessage{ID: id, Type: "complete"})
}

func errorMessage(id string, errs gqlerror.List) wsMessage {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal error","extensions":{"code":"INTERNAL"}}]`)
	}
	return wsMessage{ID: id, Type: "error", Payload: b}
}

// sendFor sends a frame of a running operation; false once the operation is
// no longer registered (the client completed it), so nothing follows its end.
func (s *wsSession) sendFor(id string, op *wsOp, m wsMessage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[id] != op {
		return false
	}
	return s.send(m)
}

// finish sends an operation's last frame (complete or error) and frees its id.
func (s *wsSession) finish(id string, op *wsOp, m wsMessage) {
	s.mu.Lock()
	if s.ops[id] == op {
		delete(s.ops, id)
		s.send(m)
	}
	s.mu.Unlock()
	op.cancel()
}

// wsWriteTimeout bounds one frame's write; a peer that stops reading for
// longer is dropped (coder/websocket closes the connection).
const wsWriteTimeout = 30 * time.Second

func (s *wsSession) send(m wsMessage) bool {
	b, err := json.Marshal(m)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsWriteTimeout)
	defer cancel()
	return s.c.Write(ctx, websocket.MessageText, b) == nil
}

// keepAlive sends a WebSocket ping frame every pingInterval and drops a peer
// that does not answer within two: every WebSocket client answers those by
// itself (browsers included), so a live client that never sends
// graphql-transport-ws pongs is not mistaken for a dead one.
func (s *wsSession) keepAlive() {
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*s.pingInterval)
		err := s.c.Ping(ctx)
		cancel()
		if err == nil {
			continue
		}
		if !s.closing.Swap(true) {
			s.log.InfoContext(s.ctx, "websocket peer stopped answering pings", "error", err)
			s.cancelAll()
			_ = s.c.CloseNow()
		}
		return
	}
}

// close ends every operation, then the socket with code and reason (cut to
// the 123 bytes a close frame holds). Only the first call counts.
func (s *wsSession) close(code websocket.StatusCode, reason string) {
	if s.closing.Swap(true) {
		return
	}
	s.cancelAll()
	_ = s.c.Close(code, truncateReason(reason))
}

func (s *wsSession) cancelAll() {
	s.mu.Lock()
	ops := s.ops
	s.ops = map[string]*wsOp{}
	s.mu.Unlock()
	for _, op := range ops {
		op.cancel()
	}
}

func truncateReason(r string) string {
	const max = 123
	if len(r) <= max {
		return r
	}
	r = r[:max]
	for !utf8.ValidString(r) {
		r = r[:len(r)-1]
	}
	return r
}
