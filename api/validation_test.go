package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ethox/ethox/api"
)

// aliasBomb is n fields with one response name and different arguments:
// every pair conflicts, so an uncapped validator reports n²/2 errors.
func aliasBomb(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " x:node(id:%d){id}", i)
	}
	b.WriteString(" }")
	return b.String()
}

// sameArgsBomb is n identical fields with selections: no conflict, but every
// pair's selections are compared.
func sameArgsBomb(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for range n {
		b.WriteString(" x:networks(first:1){edges{node{id name}}}")
	}
	b.WriteString(" }")
	return b.String()
}

// unknownFields is n fields the schema lacks: one error (with suggestions)
// per field.
func unknownFields(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " netwrk%d", i)
	}
	b.WriteString(" }")
	return b.String()
}

// spreadConflicts spreads n fragments that each select x with other arguments.
func spreadConflicts(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " ...F%d", i)
	}
	b.WriteString(" }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Query { x:node(id:%d){id} }", i, i)
	}
	return b.String()
}

const testTokenLimit = 15_000

func TestDocumentSizeAndValidationErrorsAreBounded(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *api.Options) { o.MaxTokens = testTokenLimit })
	const closing, tooCostly = "too many validation errors", "repeats response names too often"
	cases := []struct {
		name   string
		doc    string
		reason string // the first error's extensions.reason
		errors int    // how many errors, at most
		last   string // in the last error's message
	}{
		// 11 tokens a field: 1,300 fields stay under 15,000 tokens.
		{"conflicting aliases under the token limit", aliasBomb(1300), "GRAPHQL_VALIDATION_FAILED", 1, tooCostly},
		{"conflicting aliases within the merge budget", aliasBomb(150), "GRAPHQL_VALIDATION_FAILED", 101, closing},
		{"conflicting aliases over the token limit", aliasBomb(3000), "TOKEN_LIMIT_EXCEEDED", 1, "MAX_QUERY_TOKENS"},
		{"identical fields with selections", sameArgsBomb(700), "GRAPHQL_VALIDATION_FAILED", 1, tooCostly},
		{"unknown fields", unknownFields(5000), "GRAPHQL_VALIDATION_FAILED", 101, closing},
		{"conflicts through many fragments", spreadConflicts(600), "GRAPHQL_VALIDATION_FAILED", 1, tooCostly},
		{"conflicts through fragments within the budget", spreadConflicts(120), "GRAPHQL_VALIDATION_FAILED", 101, closing},
		{"a handful of conflicts are all reported", aliasBomb(3), "GRAPHQL_VALIDATION_FAILED", 3, "differing arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": tc.doc})
			resp, err := http.Post(e.url+"/query", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out gqlResponse
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("status %d: %.300s", resp.StatusCode, raw)
			}
			if len(out.Errors) == 0 || len(out.Errors) > tc.errors {
				t.Fatalf("%d errors, want 1..%d (%d bytes)", len(out.Errors), tc.errors, len(raw))
			}
			if out.code() != "BAD_USER_INPUT" || out.Errors[0].Extensions["reason"] != tc.reason {
				t.Fatalf("first error %+v, want BAD_USER_INPUT/%s", out.Errors[0], tc.reason)
			}
			if last := out.Errors[len(out.Errors)-1].Message; !strings.Contains(last, tc.last) {
				t.Fatalf("last error %q, want %q in it", last, tc.last)
			}
			if len(raw) > 64<<10 {
				t.Fatalf("answer of %d bytes for a refused document", len(raw))
			}
		})
	}
}

func TestNoSuggestionsWithoutIntrospection(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprint("introspection disabled=", disabled), func(t *testing.T) {
			e := newEnv(t, "sqlite", func(o *api.Options) { o.DisableIntrospection = disabled })
			for _, doc := range []string{`{ networkz { totalCount } }`, `{ networks }`} {
				r := e.query(doc, nil)
				if r.code() != "BAD_USER_INPUT" {
					t.Fatalf("%s: %+v", doc, r.Errors)
				}
				suggests := strings.Contains(r.Errors[0].Message, "Did you mean")
				if doc == `{ networkz { totalCount } }` && suggests == disabled {
					t.Fatalf("%s: suggestion shown=%v with introspection disabled=%v: %q", doc, suggests, disabled, r.Errors[0].Message)
				}
				if disabled && strings.Contains(r.Errors[0].Message, "Did you mean") {
					t.Fatalf("%s: %q suggests", doc, r.Errors[0].Message)
				}
			}
			r := e.query(`{ __type(name: "Network") { name } }`, nil)
			if disabled && (r.code() != "FORBIDDEN" || strings.Contains(string(r.Data), "Network")) {
				t.Fatalf("__type with introspection off: %+v %s", r.Errors, r.Data)
			}
			if !disabled && len(r.Errors) > 0 {
				t.Fatalf("__type with introspection on: %+v", r.Errors)
			}
		})
	}
}

// BenchmarkWorstDocuments sends the most expensive documents found under the
// default token limit to a real server; B/op and ns/op bound what one
// anonymous request can cost before it is refused.
func BenchmarkWorstDocuments(b *testing.B) {
	e := newEnv(b, "sqlite", func(o *api.Options) { o.MaxTokens = testTokenLimit })
	docs := map[string]string{
		"over-token-limit":             aliasBomb(3000),
		"conflicting-aliases-1300":     aliasBomb(1300), // refused by the merge budget
		"conflicting-aliases-180":      aliasBomb(180),  // just within it
		"same-args-selections-700":     sameArgsBomb(700),
		"same-args-selections-110":     sameArgsBomb(110),
		"unknown-fields-5000":          unknownFields(5000),
		"fragment-conflicts-600":       spreadConflicts(600),
		"fragment-conflicts-130":       spreadConflicts(130),
		"fragment-bomb-40":             fragmentBomb(40),
		"conflicting-aliases-5-within": aliasBomb(5),
	}
	for name, doc := range docs {
		body, _ := json.Marshal(map[string]any{"query": doc})
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			var answer int
			for b.Loop() {
				resp, err := http.Post(e.url+"/query", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				answer = len(raw)
			}
			b.ReportMetric(float64(answer), "answer-bytes")
		})
	}
}

func TestUndecodableBodiesAreNotEchoed(t *testing.T) {
	e := newEnv(t, "sqlite")
	huge := strings.Repeat("x", 5<<20)
	cases := []struct {
		name, body, accept, want string
	}{
		{"invalid JSON", huge, "", "not valid JSON"},
		{"invalid JSON, graphql-response+json", huge, "application/graphql-response+json", "not valid JSON"},
		{"batch", `[{"query":"{ __typename }"},{"query":"` + huge + `"}]`, "", "batched requests are not supported"},
		{"string body", `"` + huge + `"`, "", "JSON string"},
		{"query not a string", `{"query": [1,2,3]}`, "", `field "query"`},
		{"cut short", `{"query": "{ __typename`, "", "cut short"},
		{"SSE, invalid JSON", huge, "text/event-stream", "not valid JSON"},
		{"SSE, batch", `[` + huge + `]`, "text/event-stream", "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/query", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || len(raw) > 1024 {
				t.Fatalf("status %d, %d bytes: %.200s", resp.StatusCode, len(raw), raw)
			}
			var out gqlResponse
			if err := json.Unmarshal(raw, &out); err != nil || out.code() != "BAD_USER_INPUT" {
				t.Fatalf("%s (%v)", raw, err)
			}
			msg := out.Errors[0].Message
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "xxx") || strings.Contains(msg, "Go ") || strings.Contains(msg, "RawParams") {
				t.Fatalf("message %q", msg)
			}
		})
	}
}

func TestNodesAreBoundedAndFailOnce(t *testing.T) {
	e := newEnv(t, "sqlite")
	up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint(4294967297 + i) // the agents' id range: the first 20 exist
	}
	cases := []struct {
		name   string
		ids    []string
		code   string // the code of every error
		errors int
		nodes  int // non-null nodes
	}{
		{"one network", []string{up.UploadGraph.Network.ID}, "", 0, 1},
		{"an id in the tokens' range names no table", []string{"1"}, "NOT_FOUND", 1, 0},
		{"found and missing", []string{up.UploadGraph.Network.ID, "12884909999"}, "NOT_FOUND", 1, 1},
		{"too many ids", many, "BAD_USER_INPUT", 1, 0},
		{"at the limit: missing ids are NOT_FOUND each", many[:1000], "NOT_FOUND", 980, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.query(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": tc.ids})
			for _, er := range r.Errors {
				if er.Extensions["code"] != tc.code || strings.Contains(er.Message, "api_tokens") || strings.Contains(er.Message, "table") {
					t.Fatalf("error %+v, want code %s and no table name", er, tc.code)
				}
			}
			var data struct{ Nodes []*struct{ ID string } }
			_ = json.Unmarshal(r.Data, &data)
			got := 0
			for _, n := range data.Nodes {
				if n != nil {
					got++
				}
			}
			if len(r.Errors) != tc.errors || got != tc.nodes {
				t.Fatalf("%d errors and %d nodes, want %d and %d", len(r.Errors), got, tc.errors, tc.nodes)
			}
		})
	}
}

// A database failure fails nodes(ids:) with one INTERNAL error, not one per id.
func TestNodesFailOnceWhenTheDatabaseFails(t *testing.T) {
	e := newEnv(t, "sqlite")
	up := e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	ids := []string{up.UploadGraph.Network.ID, "4294967297", "4294967298", "4294967299"}
	_ = e.db.SQL.Close()
	r := e.query(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids})
	if len(r.Errors) != 1 || r.code() != "INTERNAL" {
		t.Fatalf("%+v", r.Errors)
	}
}
