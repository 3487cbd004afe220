package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const nodeFields = `agentId degree traits degreeCentrality betweennessCentrality cluster age gender textOpinion levelOfCare effectOnUsage profile attributes`

// rawResponse is a response as it came over the wire.
type rawResponse struct {
	status  int
	header  http.Header
	body    []byte
	trailer http.Header
}

// sendRaw sends req with exactly the Accept-Encoding and If-None-Match given
// (Go's transport then leaves the body as sent).
func sendRaw(t *testing.T, req *http.Request, acceptEncoding, ifNoneMatch string) rawResponse {
	t.Helper()
	req.Header.Set("Accept-Encoding", acceptEncoding)
	if acceptEncoding == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{resp.StatusCode, resp.Header, b, resp.Trailer}
}

func decodeBody(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", coding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", coding, err)
	}
	return out
}

// Reads of a network (GraphQL POST and GET, whole graph and one agent, and
// the legacy REST reads) come compressed in the coding the client prefers
// when over 1 KB, decode to the same bytes in every coding, carry a strong
// ETag and answer If-None-Match with 304; once the network is deleted, the
// same request with the old ETag gets the error, not 304. Small bodies and
// errors go out plain, errors without an ETag; streams are never compressed.
func TestReadsCompressedAndValidated(t *testing.T) {
	forEachDB(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "compressed")
		id := up.UploadGraph.Network.ID
		post := func(q string, vars map[string]any) func() *http.Request {
			return func() *http.Request {
				body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
				req, _ := http.NewRequest(http.MethodPost, e.url+"/query", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				return req
			}
		}
		get := func(path string) func() *http.Request {
			return func() *http.Request { req, _ := http.NewRequest(http.MethodGet, e.url+path, nil); return req }
		}
		graphVars := map[string]any{"id": id}
		cases := []struct {
			name  string
			req   func() *http.Request
			large bool
		}{
			{"graph POST", post(graphQuery, graphVars), true},
			{"graph GET", get("/query?query=" + url.QueryEscape(graphQuery) + "&variables=" + url.QueryEscape(`{"id":"`+id+`"}`)), true},
			{"agent POST", post(`query($id: ID) { agent(agentId: "0", networkId: $id) { node { agentId traits profile } neighbors { agentId weight degree } } }`, graphVars), false},
			{"agent POST, every field", post(`query($id: ID) { agent(agentId: "0", networkId: $id) { a: node { `+nodeFields+` } b: node { `+nodeFields+` } neighbors { agentId weight degree } } }`, graphVars), true},
			{"small POST", post(`query($id: ID) { graph(networkId: $id) { metadata { nodeCount } } }`, graphVars), false},
			{"legacy graph", get("/api/graph/"), true},
			{"legacy node", get("/api/nodes/0/"), false},
		}
		for _, c := range cases {
			plain := sendRaw(t, c.req(), "", "")
			if plain.status != http.StatusOK || plain.header.Get("Content-Encoding") != "" || plain.header.Get("ETag") == "" {
				t.Fatalf("%s: status %d, Content-Encoding %q, ETag %q: %.300s", c.name, plain.status,
					plain.header.Get("Content-Encoding"), plain.header.Get("ETag"), plain.body)
			}
			if strings.Contains(string(plain.body), `"errors"`) {
				t.Fatalf("%s: %s", c.name, plain.body)
			}
			if c.large != (len(plain.body) >= 1024) {
				t.Fatalf("%s: %d bytes: the case is meant to be on the other side of 1 KB", c.name, len(plain.body))
			}
			for _, ae := range []struct{ header, want string }{
				{"gzip", "gzip"}, {"gzip, deflate, br, zstd", "br"}, {"zstd, gzip;q=0.5", "zstd"}, {"br;q=0, gzip", "gzip"}, {"deflate", ""},
			} {
				want := ae.want
				if !c.large {
					want = ""
				}
				got := sendRaw(t, c.req(), ae.header, "")
				coding := got.header.Get("Content-Encoding")
				if coding != want {
					t.Fatalf("%s with Accept-Encoding %q: Content-Encoding %q, want %q", c.name, ae.header, coding, want)
				}
				if !bytes.Equal(decodeBody(t, coding, got.body), plain.body) {
					t.Fatalf("%s %s: decoded body differs", c.name, coding)
				}
				if c.large && !strings.Contains(strings.Join(got.header.Values("Vary"), ","), "Accept-Encoding") {
					t.Fatalf("%s: Vary %q", c.name, got.header.Values("Vary"))
				}
				etag := got.header.Get("ETag")
				if want != "" && (etag == plain.header.Get("ETag") || !strings.HasPrefix(etag, `"`)) {
					t.Fatalf("%s %s: ETag %q, plain %q: each coding needs its own strong ETag", c.name, coding, etag, plain.header.Get("ETag"))
				}
				for _, inm := range []string{etag, plain.header.Get("ETag"), `"other", ` + etag} {
					nm := sendRaw(t, c.req(), ae.header, inm)
					if nm.status != http.StatusNotModified || len(nm.body) != 0 || nm.header.Get("ETag") != etag {
						t.Fatalf("%s If-None-Match %s: status %d, ETag %q, %d bytes", c.name, inm, nm.status, nm.header.Get("ETag"), len(nm.body))
					}
				}
				if other := sendRaw(t, c.req(), ae.header, `"stale"`); other.status != http.StatusOK {
					t.Fatalf("%s with a stale ETag: status %d", c.name, other.status)
				}
			}
		}

		// Errors: no ETag, no 304.
		missing := sendRaw(t, post(graphQuery, map[string]any{"id": "12884901999"})(), "gzip", "*")
		if missing.status != http.StatusOK || missing.header.Get("ETag") != "" || !strings.Contains(string(decodeBody(t, missing.header.Get("Content-Encoding"), missing.body)), "NOT_FOUND") {
			t.Fatalf("missing network: status %d, ETag %q", missing.status, missing.header.Get("ETag"))
		}

		// Deleted: the kept body is never served again, validators or not.
		graph := sendRaw(t, post(graphQuery, graphVars)(), "gzip", "")
		if r := e.query(`mutation($id: ID!) { deleteNetwork(id: $id) { deletedId } }`, graphVars); len(r.Errors) > 0 {
			t.Fatalf("delete: %+v", r.Errors)
		}
		for _, inm := range []string{graph.header.Get("ETag"), ""} {
			after := sendRaw(t, post(graphQuery, graphVars)(), "gzip", inm)
			body := decodeBody(t, after.header.Get("Content-Encoding"), after.body)
			if after.status != http.StatusOK || !strings.Contains(string(body), "NOT_FOUND") {
				t.Fatalf("after delete (If-None-Match %q): status %d: %.300s", inm, after.status, body)
			}
		}

		// A stream is never compressed (nor buffered).
		sse := post(`{ __typename }`, nil)()
		sse.Header.Set("Accept", "text/event-stream")
		if got := sendRaw(t, sse, "gzip, br, zstd", ""); got.header.Get("Content-Encoding") != "" || got.header.Get("ETag") != "" {
			t.Fatalf("SSE: Content-Encoding %q, ETag %q", got.header.Get("Content-Encoding"), got.header.Get("ETag"))
		}
	})
}
