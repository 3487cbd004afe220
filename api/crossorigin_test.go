package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/ethox/ethox/api"
	"github.com/ethox/ethox/internal/origins"
)

// Issue 11: a page on any web site could make the browser post a form or a
// no-cors fetch (no preflight) or open a WebSocket, and so upload, generate,
// run and delete on a development server. Only allowed origins, same-origin
// pages and non-browser clients may change anything now.

const (
	appOrigin  = "https://app.example.com"
	evilOrigin = "https://evil.example"
	tinyGraph  = `{"nodes":[{"agent_id":"a"},{"agent_id":"b"},{"agent_id":"c"}],"edges":[{"source":"a","target":"b","weight":1},{"source":"b","target":"c","weight":1}]}`
	generateM  = `mutation { generateNetwork(input: {numAgents: 5, seed: 1, name: "cross"}) { id } }`
)

// withOrigins configures the allowed origins as CORS_ALLOWED_ORIGINS would.
func withOrigins(list ...string) func(*api.Options) {
	return func(o *api.Options) { o.CORSOrigins = list }
}

func (e *env) networkCount() int {
	e.t.Helper()
	var d struct {
		Networks struct{ TotalCount int } `json:"networks"`
	}
	e.query(`{ networks { totalCount } }`, nil).decode(e.t, &d)
	return d.Networks.TotalCount
}

// browserRequest is a request as a browser sends it from a page: the page's
// Origin and the browser's Sec-Fetch-Site ("" leaves either out).
type browserRequest struct {
	name, method, contentType, body string
	origin, site                    string
	header                          map[string]string
}

func (e *env) sendRaw(r browserRequest) (int, gqlResponse, http.Header) {
	e.t.Helper()
	u := e.url + "/query"
	var body io.Reader
	if r.method == http.MethodGet {
		u += "?" + r.body
	} else {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	if r.site != "" {
		req.Header.Set("Sec-Fetch-Site", r.site)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out gqlResponse
	_ = json.Unmarshal(raw, &out)
	out.Status = resp.StatusCode
	return resp.StatusCode, out, resp.Header
}

// uploadForm is a GraphQL multipart upload of tinyGraph, as an HTML form with
// enctype="multipart/form-data" or a no-cors fetch of a FormData sends it.
func uploadForm(t *testing.T) (string, string) {
	ct, body := multipartBody(t, uploadMutation, map[string]any{"name": "cross"}, []byte(tinyGraph), "n.json")
	return ct, body.String()
}

// operationsForm is a multipart form without a file: the shape of an HTML form
// with an "operations" and a "map" field.
func operationsForm(t *testing.T, doc string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{"query": doc})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", "{}")
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.String()
}

func TestCrossSiteRequestsRefused(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withOrigins(appOrigin, "http://localhost:*"))
		var id struct {
			GenerateNetwork struct{ ID string } `json:"generateNetwork"`
		}
		e.query(generateM, nil).decode(t, &id) // a network to try to delete
		upCT, upBody := uploadForm(t)
		genCT, genBody := operationsForm(t, generateM)
		delCT, delBody := operationsForm(t, `mutation { deleteNetwork(id: "`+id.GenerateNetwork.ID+`") { deletedId } }`)
		runCT, runBody := operationsForm(t, `mutation { runSimulation(input: {trigger: "x", rounds: 1, networkId: "`+id.GenerateNetwork.ID+`"}) { id } }`)
		jsonRun, _ := json.Marshal(map[string]any{"query": `mutation { runSimulation(input: {trigger: "x", rounds: 1}) { id } }`})
		urlencoded := url.Values{"query": {generateM}}.Encode()
		refused := []browserRequest{
			{name: "form upload", method: "POST", contentType: upCT, body: upBody, origin: evilOrigin, site: "cross-site"},
			{name: "form generateNetwork", method: "POST", contentType: genCT, body: genBody, origin: evilOrigin, site: "cross-site"},
			{name: "form deleteNetwork", method: "POST", contentType: delCT, body: delBody, origin: evilOrigin, site: "cross-site"},
			{name: "form runSimulation", method: "POST", contentType: runCT, body: runBody, origin: evilOrigin, site: "cross-site"},
			{name: "no-cors text/plain", method: "POST", contentType: "text/plain;charset=UTF-8", body: string(jsonRun), origin: evilOrigin, site: "cross-site"},
			{name: "no-cors urlencoded", method: "POST", contentType: "application/x-www-form-urlencoded", body: urlencoded, origin: evilOrigin, site: "cross-site"},
			{name: "JSON without preflight", method: "POST", contentType: "application/json", body: string(jsonRun), origin: evilOrigin, site: "cross-site"},
			// A browser without Sec-Fetch-Site: Origin alone decides.
			{name: "old browser form upload", method: "POST", contentType: upCT, body: upBody, origin: evilOrigin},
			// Same site is not same origin: a sibling subdomain is refused too.
			{name: "same-site sibling", method: "POST", contentType: genCT, body: genBody, origin: "https://blog.example.com", site: "same-site"},
			// The allowed origin's host over another scheme is another origin.
			{name: "allowed host over http", method: "POST", contentType: genCT, body: genBody, origin: "http://app.example.com", site: "cross-site"},
			{name: "opaque origin", method: "POST", contentType: genCT, body: genBody, origin: "null", site: "cross-site"},
			{name: "Apollo headers do not open it", method: "POST", contentType: upCT, body: upBody, origin: evilOrigin, site: "cross-site",
				header: map[string]string{"Apollo-Require-Preflight": "true", "X-Apollo-Operation-Name": "Upload"}},
		}
		before := e.networkCount()
		for _, r := range refused {
			status, resp, _ := e.sendRaw(r)
			if status != http.StatusForbidden || resp.code() != "FORBIDDEN" || !strings.Contains(resp.Errors[0].Message, "CORS_ALLOWED_ORIGINS") {
				t.Errorf("%s: %d %+v, want 403 FORBIDDEN", r.name, status, resp.Errors)
			}
		}
		if after := e.networkCount(); after != before {
			t.Fatalf("networks %d -> %d: a refused request changed data", before, after)
		}
		var runs struct {
			Simulations struct{ TotalCount int } `json:"simulations"`
		}
		e.query(`{ simulations { totalCount } }`, nil).decode(t, &runs)
		if runs.Simulations.TotalCount != 0 {
			t.Fatalf("%d runs started", runs.Simulations.TotalCount)
		}

		// Mutations over GET stay refused (gqlgen's GET runs queries only), from
		// anywhere; a cross-site GET query is read-only and answered.
		get := browserRequest{method: "GET", body: url.Values{"query": {generateM}}.Encode(), origin: evilOrigin, site: "cross-site"}
		if status, _, _ := e.sendRaw(get); status == http.StatusOK {
			t.Errorf("GET mutation: %d", status)
		}
		get.body = url.Values{"query": {`{ networks { totalCount } }`}}.Encode()
		if status, resp, _ := e.sendRaw(get); status != http.StatusOK || len(resp.Errors) > 0 {
			t.Errorf("GET query: %d %+v", status, resp.Errors)
		}
		if after := e.networkCount(); after != before {
			t.Fatalf("networks %d -> %d after GET", before, after)
		}
	})
}

func TestCrossOriginAllowedRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withOrigins(appOrigin, "http://localhost:*"))
		upCT, upBody := uploadForm(t)
		genCT, genBody := operationsForm(t, generateM)
		jsonGen, _ := json.Marshal(map[string]any{"query": generateM})
		apollo := map[string]string{"Apollo-Require-Preflight": "true", "X-Apollo-Operation-Name": "Upload"}
		allowed := []browserRequest{
			{name: "allowed origin upload", method: "POST", contentType: upCT, body: upBody, origin: appOrigin, site: "cross-site"},
			{name: "allowed origin upload with Apollo preflight headers", method: "POST", contentType: upCT, body: upBody, origin: appOrigin, site: "cross-site", header: apollo},
			{name: "allowed origin JSON", method: "POST", contentType: "application/json", body: string(jsonGen), origin: appOrigin, site: "cross-site"},
			{name: "localhost on any port", method: "POST", contentType: genCT, body: genBody, origin: "http://localhost:5173", site: "same-site"},
			{name: "same-origin page", method: "POST", contentType: upCT, body: upBody, origin: e.url, site: "same-origin", header: apollo},
			{name: "same-origin page, old browser", method: "POST", contentType: genCT, body: genBody, origin: e.url},
			{name: "curl upload (no Origin)", method: "POST", contentType: upCT, body: upBody},
			{name: "script JSON (no Origin)", method: "POST", contentType: "application/json", body: string(jsonGen)},
			{name: "typed URL or bookmark", method: "POST", contentType: genCT, body: genBody, site: "none"},
		}
		before := e.networkCount()
		for _, r := range allowed {
			status, resp, _ := e.sendRaw(r)
			if status != http.StatusOK || len(resp.Errors) > 0 {
				t.Errorf("%s: %d %+v", r.name, status, resp.Errors)
			}
		}
		if after := e.networkCount(); after != before+len(allowed) {
			t.Fatalf("networks %d -> %d, want +%d", before, after, len(allowed))
		}
	})
}

// Apollo's preflight: an allowed origin may send its headers, another origin
// gets no CORS grant (and so its browser never sends the request).
func TestCORSPreflightApolloHeaders(t *testing.T) {
	e := newEnv(t, "sqlite", withOrigins(appOrigin))
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{appOrigin, true}, {evilOrigin, false}, {"http://app.example.com", false}, {"https://app.example.com.evil.example", false}} {
		req, _ := http.NewRequest(http.MethodOptions, e.url+"/query", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "apollo-require-preflight,authorization,content-type,x-apollo-operation-name") // sorted, as browsers send it
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if (got == tc.origin) != tc.allow {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
		if tc.allow {
			h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
			for _, want := range []string{"apollo-require-preflight", "x-apollo-operation-name", "content-type", "authorization"} {
				if !strings.Contains(h, want) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", h, want)
				}
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("credentials not allowed for a listed origin")
			}
		}
	}
}

// The development default (CORS_ALLOWED_ORIGINS unset): pages on this machine,
// on any port, and no web site.
func TestCORSLoopbackDefault(t *testing.T) {
	e := newEnv(t, "sqlite", withOrigins(origins.Loopback...))
	genCT, genBody := operationsForm(t, generateM)
	for _, tc := range []struct {
		origin string
		allow  bool
	}{
		{"http://localhost:5173", true}, {"http://127.0.0.1:3000", true}, {"http://[::1]:8081", true}, {"https://localhost", true},
		{"https://evil.example", false}, {"http://localhost.evil.example", false}, {"http://evil.localhost:3000", false},
		{"http://127.0.0.2:3000", false}, {"http://192.168.0.10:3000", false},
	} {
		req, _ := http.NewRequest(http.MethodOptions, e.url+"/query", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.allow {
			t.Errorf("preflight %s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
		status, _, _ := e.sendRaw(browserRequest{method: "POST", contentType: genCT, body: genBody, origin: tc.origin, site: "cross-site"})
		if (status == http.StatusOK) != tc.allow {
			t.Errorf("form post from %s: %d", tc.origin, status)
		}
	}
}

// "*" set explicitly still opens everything (with the start-up warning).
func TestCORSStarStaysOpen(t *testing.T) {
	e := newEnv(t, "sqlite", withOrigins("*"))
	genCT, genBody := operationsForm(t, generateM)
	status, resp, hdr := e.sendRaw(browserRequest{method: "POST", contentType: genCT, body: genBody, origin: evilOrigin, site: "cross-site"})
	if status != http.StatusOK || len(resp.Errors) > 0 || hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %+v %q", status, resp.Errors, hdr.Get("Access-Control-Allow-Origin"))
	}
	if _, msg, err := wsInit(t, e.url, http.Header{"Origin": {evilOrigin}, "Sec-Fetch-Site": {"cross-site"}}, nil); err != nil || msg["type"] != "connection_ack" {
		t.Fatalf("WebSocket: %v %v", msg, err)
	}
}

// wsMutation runs a mutation over graphql-transport-ws (after connection_ack).
func wsMutation(t *testing.T, c *websocket.Conn, doc string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": doc}}); err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := wsjson.Read(ctx, c, &msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestCrossSiteWebSocket(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, withOrigins(appOrigin, "http://localhost:*"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		before := e.networkCount()
		for _, tc := range []struct {
			name   string
			header http.Header
		}{
			{"foreign origin", http.Header{"Origin": {evilOrigin}, "Sec-Fetch-Site": {"cross-site"}}},
			{"foreign origin, old browser", http.Header{"Origin": {evilOrigin}}},
			// coder/websocket compared hosts only: http://app.example.com passed.
			{"allowed host, other scheme", http.Header{"Origin": {"http://app.example.com"}, "Sec-Fetch-Site": {"cross-site"}}},
			{"allowed host, other port", http.Header{"Origin": {"https://app.example.com:8443"}}},
			{"server's host, other scheme", http.Header{"Origin": {"https" + strings.TrimPrefix(e.url, "http")}, "Sec-Fetch-Site": {"cross-site"}}},
			{"opaque origin", http.Header{"Origin": {"null"}}},
		} {
			_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/query",
				&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: tc.header})
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: upgrade %v, %v; want 403", tc.name, resp, err)
			}
		}
		if after := e.networkCount(); after != before {
			t.Fatalf("networks %d -> %d", before, after)
		}
		for _, tc := range []struct {
			name   string
			header http.Header
		}{
			{"allowed origin", http.Header{"Origin": {appOrigin}, "Sec-Fetch-Site": {"cross-site"}}},
			{"localhost page", http.Header{"Origin": {"http://localhost:5173"}, "Sec-Fetch-Site": {"same-site"}}},
			{"same-origin page", http.Header{"Origin": {e.url}, "Sec-Fetch-Site": {"same-origin"}}},
			{"same-origin page, old browser", http.Header{"Origin": {e.url}}},
			{"no Origin (not a browser)", nil},
		} {
			c, msg, err := wsInit(t, e.url, tc.header, nil)
			if err != nil || msg["type"] != "connection_ack" {
				t.Fatalf("%s: %v %v", tc.name, msg, err)
			}
			if got := wsMutation(t, c, generateM); got["type"] != "next" {
				t.Fatalf("%s: %v", tc.name, got)
			}
			c.Close(websocket.StatusNormalClosure, "")
		}
		if after := e.networkCount(); after != before+5 {
			t.Fatalf("networks %d -> %d, want +5", before, after)
		}
	})
}
