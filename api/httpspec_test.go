package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ethox/ethox/api"
)

const (
	jsonCT = "application/json"
	gqlCT  = "application/graphql-response+json"
)

// The GraphQL-over-HTTP draft's status codes, media types and methods
// (issue 13), on a real server with every limit on.
func TestGraphQLOverHTTPSpec(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxDepth = 2; o.MaxComplexity = 50; o.MaxTokens = 200 })
	deep := `{"query":"{ graph { nodes { agentId } } }"}`
	long := `{"query":"{ ` + strings.Repeat("__typename ", 300) + `}"}`
	wide := `{"query":"{ ` + strings.Repeat("defaultNetwork { id } ", 40) + `}"}`
	for _, tc := range []struct {
		name, method, contentType, accept, body string
		status                                  int
		wantCT, code, msg, allow                string
		data                                    bool // a data entry is present
	}{
		{name: "success, json", body: `{"query":"{ __typename }"}`, accept: jsonCT, status: 200, wantCT: jsonCT, data: true},
		{name: "success, graphql-response", body: `{"query":"{ __typename }"}`, accept: gqlCT, status: 200, wantCT: gqlCT, data: true},
		{name: "no Accept means json", body: `{"query":"{ __typename }"}`, status: 200, wantCT: jsonCT, data: true},
		{name: "*/* means json", body: `{"query":"{ __typename }"}`, accept: "*/*", status: 200, wantCT: jsonCT, data: true},
		{name: "q-values: graphql-response preferred", body: `{"query":"{ __typename }"}`, accept: "application/json;q=0.5, application/graphql-response+json", status: 200, wantCT: gqlCT, data: true},
		{name: "q-values: json preferred", body: `{"query":"{ __typename }"}`, accept: "application/graphql-response+json;q=0.4, application/json;q=0.9", status: 200, wantCT: jsonCT, data: true},
		{name: "q=0 refuses a type", body: `{"query":"{ __typename }"}`, accept: "application/json;q=0, text/html", status: 406, wantCT: jsonCT, code: "BAD_USER_INPUT"},
		{name: "unsupported Accept", body: `{"query":"{ __typename }"}`, accept: "text/html", status: 406, wantCT: jsonCT, code: "BAD_USER_INPUT", msg: "Accept"},
		{name: "unsupported Accept, GET", method: "GET", body: "query={__typename}", accept: "text/html", status: 406, code: "BAD_USER_INPUT"},
		{name: "parse failure, json", body: `{"query":"{ __typename"}`, accept: jsonCT, status: 200, wantCT: jsonCT, code: "BAD_USER_INPUT"},
		{name: "parse failure, graphql-response", body: `{"query":"{ __typename"}`, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT"},
		{name: "validation failure, json", body: `{"query":"{ nope }"}`, accept: jsonCT, status: 200, wantCT: jsonCT, code: "BAD_USER_INPUT"},
		{name: "validation failure, graphql-response", body: `{"query":"{ nope }"}`, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT"},
		{name: "variable coercion, graphql-response", body: `{"query":"query($n: ID!) { agent(agentId: $n) { node { agentId } } }","variables":{"n":null}}`, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT"},
		{name: "depth limit, graphql-response", body: deep, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT", msg: "MAX_QUERY_DEPTH"},
		{name: "depth limit, json", body: deep, accept: jsonCT, status: 200, wantCT: jsonCT, code: "BAD_USER_INPUT", msg: "MAX_QUERY_DEPTH"},
		{name: "token limit, graphql-response", body: long, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT", msg: "MAX_QUERY_TOKENS"},
		{name: "complexity limit, graphql-response", body: wide, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT"},
		{name: "missing query, json", body: `{"variables":{}}`, accept: jsonCT, status: 400, code: "BAD_USER_INPUT", msg: `no "query"`},
		{name: "missing query, graphql-response", body: `{}`, accept: gqlCT, status: 400, code: "BAD_USER_INPUT", msg: `no "query"`},
		{name: "missing query, GET", method: "GET", body: "", accept: gqlCT, status: 400, code: "BAD_USER_INPUT", msg: `no "query"`},
		{name: "GET mutation", method: "GET", body: "query=" + url.QueryEscape(`mutation { generateReport(simulationId: "x") { id } }`), status: 405, allow: "POST", code: "BAD_USER_INPUT", msg: "POST"},
		{name: "GET query", method: "GET", body: "query=" + url.QueryEscape(`{ __typename }`), accept: gqlCT, status: 200, wantCT: gqlCT, data: true},
		{name: "HEAD", method: "HEAD", status: 405, allow: "GET, POST"},
		{name: "PATCH", method: "PATCH", body: `{"query":"{ __typename }"}`, contentType: jsonCT, status: 405, allow: "GET, POST, PUT, DELETE", code: "BAD_USER_INPUT"}, // PUT and DELETE: graphql-sse (sse_test.go)
		{name: "text/plain POST", body: `{"query":"{ __typename }"}`, contentType: "text/plain", status: 415, wantCT: jsonCT, code: "BAD_USER_INPUT", msg: "application/json"},
		{name: "no Content-Type POST", body: `{"query":"{ __typename }"}`, contentType: "-", status: 415, wantCT: jsonCT, code: "BAD_USER_INPUT"},
		{name: "subscription over POST, json", body: `{"query":"subscription { simulationProgress(id: \"x\") { status } }"}`, accept: jsonCT, status: 200, wantCT: jsonCT, code: "BAD_USER_INPUT", msg: "graphql-transport-ws"},
		{name: "subscription over POST, graphql-response", body: `{"query":"subscription { simulationProgress(id: \"x\") { status } }"}`, accept: gqlCT, status: 400, wantCT: gqlCT, code: "BAD_USER_INPUT", msg: "text/event-stream"},
		{name: "subscription over GET", method: "GET", body: "query=" + url.QueryEscape(`subscription { simulationProgress(id: "x") { status } }`), status: 200, code: "BAD_USER_INPUT", msg: "graphql-ws"},
		{name: "batch, json", body: `[{"query":"{ __typename }"}]`, accept: jsonCT, status: 400, wantCT: jsonCT, code: "BAD_USER_INPUT", msg: "batched requests are not supported"},
		{name: "batch, graphql-response", body: `[{"query":"{ __typename }"}]`, accept: gqlCT, status: 400, code: "BAD_USER_INPUT", msg: "batched requests are not supported"},
		{name: "two operations without a name", body: `{"query":"query A { __typename } query B { __typename }"}`, accept: gqlCT, status: 400, code: "BAD_USER_INPUT", msg: "the document has 2 operations: give operationName"},
		{name: "two operations, named", body: `{"query":"query A { __typename } query B { __typename }","operationName":"B"}`, accept: gqlCT, status: 200, data: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			target, body := e.url+"/query", io.Reader(strings.NewReader(tc.body))
			if method == http.MethodGet {
				target, body = target+"?"+tc.body, nil
			}
			req, _ := http.NewRequest(method, target, body)
			switch {
			case tc.contentType == "-":
			case tc.contentType != "":
				req.Header.Set("Content-Type", tc.contentType)
			case method == http.MethodPost:
				req.Header.Set("Content-Type", jsonCT)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.wantCT != "" && resp.Header.Get("Content-Type") != tc.wantCT {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.wantCT)
			}
			if tc.allow != "" && !strings.Contains(resp.Header.Get("Allow"), tc.allow) {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), tc.allow)
			}
			if method == http.MethodHead {
				return
			}
			var out map[string]json.RawMessage
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("not JSON: %s", raw)
			}
			if _, ok := out["data"]; ok != tc.data {
				t.Errorf("data entry present %v, want %v: %s", ok, tc.data, raw)
			}
			var errs []struct {
				Message    string         `json:"message"`
				Extensions map[string]any `json:"extensions"`
			}
			_ = json.Unmarshal(out["errors"], &errs)
			if tc.code == "" {
				if len(errs) > 0 {
					t.Errorf("unexpected errors: %s", raw)
				}
				return
			}
			if len(errs) == 0 || errs[0].Extensions["code"] != tc.code || !strings.Contains(errs[0].Message, tc.msg) {
				t.Errorf("want %s error containing %q: %s", tc.code, tc.msg, raw)
			}
		})
	}
}

// Apollo Client's name and version headers pass a production preflight.
func TestCORSPreflightApolloClientAwareness(t *testing.T) {
	const origin = "https://app.example.com"
	e := newEnv(t, "sqlite", func(o *api.Options) { o.CORSOrigins = []string{origin} })
	req, _ := http.NewRequest(http.MethodOptions, e.url+"/query", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "apollographql-client-name,apollographql-client-version,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
	h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"apollographql-client-name", "apollographql-client-version", "content-type"} {
		if !strings.Contains(h, want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", h, want)
		}
	}
}
