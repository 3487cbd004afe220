package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// legacyImplementation accepts graphql-ws (subscriptions-transport-ws)
// connections for gqlgen's transport, checking each client frame first:
// gqlgen ends the connection on a frame it cannot decode, and the close
// reason it then sends is whatever the connection's context carries ("server
// shutting down", see server.go). The reference server
// (subscriptions-transport-ws) answers and keeps the connection instead.
type legacyImplementation struct {
	transport.CoderWebsocketImplementation
}

func (l legacyImplementation) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := l.CoderWebsocketImplementation.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	return &legacyConn{WebsocketConn: c}, nil
}

// legacyConn hands gqlgen only the frames of the client's four message types.
type legacyConn struct {
	transport.WebsocketConn
}

var (
	_ transport.WebsocketReadLimiter   = (*legacyConn)(nil)
	_ transport.WebsocketReadDeadliner = (*legacyConn)(nil)
)

func (c *legacyConn) NextReader() (int, io.Reader, error) {
	for {
		typ, r, err := c.WebsocketConn.NextReader()
		if err != nil {
			return typ, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return typ, nil, err
		}
		var msg struct {
			ID   any `json:"id"`
			Type any `json:"type"`
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			// As subscriptions-transport-ws: a connection_error, and the socket stays.
			if err := c.WriteJSON(map[string]any{"type": "connection_error",
				"payload": map[string]any{"message": "Message must be a JSON object."}}); err != nil {
				return typ, nil, err
			}
			continue
		}
		switch msg.Type {
		case "connection_init", "connection_terminate", "start", "stop":
			return typ, bytes.NewReader(data), nil
		}
		// As subscriptions-transport-ws: an error for the operation the frame names.
		reply := map[string]any{"type": "error", "payload": map[string]any{"message": "Invalid message type!"}}
		if msg.ID != nil {
			reply["id"] = msg.ID
		}
		if err := c.WriteJSON(reply); err != nil {
			return typ, nil, err
		}
	}
}

func (c *legacyConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *legacyConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
