package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
)

const countQuery = `{ graph { metadata { nodeCount edgeCount } } }`

func TestGETQuery(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	req, _ := http.NewRequest(http.MethodGet, e.url+"/query?query="+url.QueryEscape(countQuery), nil)
	var got struct {
		Graph struct {
			Metadata struct{ NodeCount, EdgeCount int }
		}
	}
	e.send(req).decode(t, &got)
	if got.Graph.Metadata.NodeCount != 20 || got.Graph.Metadata.EdgeCount != 52 {
		t.Fatalf("GET graph = %+v", got)
	}
}

func TestJSONBodyLimit(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxBodyBytes = 64 })
	for _, chunked := range []bool{false, true} {
		body, _ := json.Marshal(map[string]any{"query": countQuery + strings.Repeat(" ", 100)})
		resp := e.send(newPost(t, e.url, "application/json", bytesBuffer(body), chunked))
		if resp.code() != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "MAX_BODY_BYTES") {
			t.Fatalf("chunked=%v: status %d %+v", chunked, resp.Status, resp.Errors)
		}
	}
}

// Both WebSocket subprotocols carry queries (subscriptions come with live runs).
func TestWebSocketProtocols(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + "/query"
	cases := []struct {
		protocol, start, data, complete string
	}{
		{"graphql-transport-ws", "subscribe", "next", "complete"},
		{"graphql-ws", "start", "data", "complete"},
	}
	for _, tc := range cases {
		t.Run(tc.protocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{tc.protocol}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if resp.Header.Get("Sec-WebSocket-Protocol") != tc.protocol {
				t.Fatalf("negotiated %q", resp.Header.Get("Sec-WebSocket-Protocol"))
			}
			must(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{}}))
			var msg struct {
				Type    string          `json:"type"`
				ID      string          `json:"id"`
				Payload json.RawMessage `json:"payload"`
			}
			must(t, wsjson.Read(ctx, c, &msg))
			if msg.Type != "connection_ack" {
				t.Fatalf("got %+v, want connection_ack", msg)
			}
			must(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": tc.start, "payload": map[string]any{"query": countQuery}}))
			gotData := false
			for {
				must(t, wsjson.Read(ctx, c, &msg))
				if msg.Type == "ka" || msg.Type == "ping" || msg.Type == "pong" {
					continue
				}
				if msg.Type == tc.data {
					if !strings.Contains(string(msg.Payload), `"nodeCount":20`) {
						t.Fatalf("payload %s", msg.Payload)
					}
					gotData = true
					continue
				}
				if msg.Type == tc.complete {
					break
				}
				t.Fatalf("unexpected message %+v", msg)
			}
			if !gotData {
				t.Fatal("no data before complete")
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

func TestSSEQuery(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	body, _ := json.Marshal(map[string]any{"query": countQuery})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			events = append(events, line)
		}
	}
	joined := strings.Join(events, "\n")
	if !strings.Contains(joined, "event: next") || !strings.Contains(joined, `"nodeCount":20`) || !strings.Contains(joined, "event: complete") {
		t.Fatalf("SSE stream:\n%s", joined)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.CORSOrigins = []string{"https://app.example.com"} })
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{"https://app.example.com", true}, {"https://evil.example.com", false}} {
		req, _ := http.NewRequest(http.MethodOptions, e.url+"/query", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if (got == tc.origin) != tc.allow {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type formPart struct{ name, filename, content string }

// rawForm builds a multipart body part by part, in the order given.
func rawForm(parts ...formPart) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.SetBoundary("ethox-test-boundary") // fixed, so forms can be cut and mixed
	for _, p := range parts {
		var w io.Writer
		if p.filename != "" {
			w, _ = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, _ = mw.CreateFormField(p.name)
		}
		_, _ = io.WriteString(w, p.content)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// Every malformed GraphQL multipart request is a request error: 400 (413
// for a limit) whatever the Accept, BAD_USER_INPUT, the part at fault named,
// no data entry. Document errors follow the GraphQL-over-HTTP Accept rules.
func TestMultipartRequestErrors(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxUploadBytes = 4096; o.MaxBodyBytes = 1024 })
	ops := func(vars string) formPart {
		return formPart{name: "operations", content: `{"query":` + strconv.Quote(uploadMutation) + `,"variables":` + vars + `}`}
	}
	fileVars := `{"file":null,"name":"x"}`
	file := formPart{name: "0", filename: "n.json", content: tinyGraph}
	m := func(s string) formPart { return formPart{name: "map", content: s} }
	okMap := m(`{"0":["variables.file"]}`)
	formCT, _ := rawForm()
	_, whole := rawForm(ops(fileVars), okMap, file)
	for _, tc := range []struct {
		name        string
		contentType string
		body        []byte
		chunked     bool
		accept      string
		status      int
		msg         string
	}{
		{name: "no boundary", contentType: "multipart/form-data", body: []byte("x"), status: 400, msg: "boundary"},
		{name: "not multipart", contentType: formCT, body: []byte("hello"), status: 400, msg: `malformed or cut short before its "operations" part`},
		{name: "empty form", body: mustForm(), status: 400, msg: `no "operations" part`},
		{name: "map first", body: mustForm(okMap, ops(fileVars), file), status: 400, msg: `must be "operations"`},
		{name: "operations not JSON", body: mustForm(formPart{name: "operations", content: "{"}, okMap, file), status: 400, msg: `part "operations": it is empty or cut short`},
		{name: "operations is a batch", body: mustForm(formPart{name: "operations", content: `[{"query":"{ __typename }"}]`}, m(`{}`)), status: 400, msg: `part "operations": it is a JSON array`},
		{name: "no map", body: mustForm(ops(fileVars)), status: 400, msg: `no "map" part`},
		{name: "file before map", body: mustForm(ops(fileVars), file, okMap), status: 400, msg: `second part of a multipart request must be "map" (file keys to variable paths), not "0"`},
		{name: "map not an object", body: mustForm(ops(fileVars), m(`["variables.file"]`), file), status: 400, msg: `part "map" must be a JSON object`},
		{name: "map: no paths", body: mustForm(ops(fileVars), m(`{"0":[]}`), file), status: 400, msg: `part "map": file "0" has no paths`},
		{name: "map: path without variables.", body: mustForm(ops(fileVars), m(`{"0":["file"]}`), file), status: 400, msg: `part "map": path "file" of file "0": a path must start with "variables."`},
		{name: "map: batch path", body: mustForm(ops(fileVars), m(`{"0":["0.variables.file"]}`), file), status: 400, msg: `batched operations are not supported`},
		{name: "map: unknown variable", body: mustForm(ops(fileVars), m(`{"0":["variables.nope"]}`), file), status: 400, msg: `path "variables.nope" of file "0": operations has no variable at "variables.nope"`},
		{name: "map: path through a string", body: mustForm(ops(fileVars), m(`{"0":["variables.name.0"]}`), file), status: 400, msg: `"variables.name" is not an object or a list`},
		{name: "map: index out of range", body: mustForm(ops(`{"files":[null]}`), m(`{"0":["variables.files.3"]}`), file), status: 400, msg: `"3" is not an index of the list at "variables.files"`},
		{name: "map: not a null", body: mustForm(ops(fileVars), m(`{"0":["variables.name"]}`), file), status: 400, msg: "null where a file goes"},
		{name: "file not in map", body: mustForm(ops(fileVars), okMap, file, formPart{name: "1", filename: "b.json", content: "{}"}), status: 400, msg: `part "1" is not a file named in "map"`},
		{name: "file missing", body: mustForm(ops(`{"file":null,"name":null}`), m(`{"0":["variables.file"],"1":["variables.name"]}`), file), status: 400, msg: `file "1" named in "map" has no part`},
		{name: "cut short in a file", body: whole[:len(whole)-60], status: 400, msg: `cut short in file part "0"`},
		{name: "cut short, graphql-response", body: whole[:len(whole)-60], accept: gqlCT, status: 400, msg: `cut short in file part "0"`},
		{name: "over MAX_UPLOAD_BYTES", body: mustForm(ops(fileVars), okMap, formPart{name: "0", filename: "n.json", content: strings.Repeat(" ", 5000)}), status: 413, msg: "MAX_UPLOAD_BYTES"},
		{name: "over MAX_UPLOAD_BYTES, chunked", body: mustForm(ops(fileVars), okMap, formPart{name: "0", filename: "n.json", content: strings.Repeat(" ", 5000)}), chunked: true, status: 413, msg: "MAX_UPLOAD_BYTES"},
		{name: "operations over MAX_BODY_BYTES", body: mustForm(ops(`{"file":null,"name":"`+strings.Repeat("x", 1100)+`"}`), okMap, file), status: 413, msg: `part "operations" exceeds MAX_BODY_BYTES`},
		{name: "validation error, json", body: mustForm(formPart{name: "operations", content: `{"query":"mutation($file: Upload!) { nope(file: $file) }","variables":{"file":null}}`}, okMap, file), accept: jsonCT, status: 200, msg: "nope"},
		{name: "validation error, graphql-response", body: mustForm(formPart{name: "operations", content: `{"query":"mutation($file: Upload!) { nope(file: $file) }","variables":{"file":null}}`}, okMap, file), accept: gqlCT, status: 400, msg: "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = formCT
			}
			req := newPost(t, e.url, ct, bytesBuffer(tc.body), tc.chunked)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var out map[string]json.RawMessage
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%d, not JSON: %s", resp.StatusCode, raw)
			}
			var errs []gqlError
			_ = json.Unmarshal(out["errors"], &errs)
			if _, hasData := out["data"]; resp.StatusCode != tc.status || hasData || len(errs) != 1 ||
				errs[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(errs[0].Message, tc.msg) {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
		})
	}
	// The same form, whole, uploads.
	resp := e.send(newPost(t, e.url, formCT, bytesBuffer(whole), false))
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"nodeCount"`) {
		t.Fatalf("whole form: %d %+v", resp.Status, resp.Errors)
	}
}

// mustForm is rawForm's body alone.
func mustForm(parts ...formPart) []byte {
	_, b := rawForm(parts...)
	return b
}
