package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ethox/ethox/api"
)

// FuzzDocument drives whole GraphQL documents through a real server: parsing
// with the token limit, the depth, complexity and merge-cost limits and
// validation with its error cap. Whatever the document, the answer is a
// bounded GraphQL response whose every error has a code, never a 5xx.
func FuzzDocument(f *testing.F) {
	for _, seed := range []string{
		`{ __typename }`,
		`{ networks(first: 2) { edges { node { id name } } } }`,
		`query Q($id: ID!) { node(id: $id) { id } }`,
		`{ __type(name: "Network") { name fields { name } } }`,
		aliasBomb(40),
		sameArgsBomb(30),
		unknownFields(200),
		spreadConflicts(60),
		fragmentBomb(20),
		`{ ...A } fragment A on Query { ...A }`,
		`{ networks(first: 2147483647) { edges { node { ties(first: 2147483647) { totalCount } } } } }`,
		`mutation { deleteNetwork(id: "1") }`,
		`subscription { simulationProgress(id: "1") { status } }`,
		"{ a(\"\x00\") }",
	} {
		f.Add(seed)
	}
	e := newEnv(f, "sqlite", func(o *api.Options) {
		o.MaxTokens = testTokenLimit
		o.MaxDepth = 15
		o.MaxComplexity = 200_000
	})
	f.Fuzz(func(t *testing.T, doc string) {
		body, _ := json.Marshal(map[string]any{"query": doc, "variables": map[string]any{"id": "1"}})
		// Every document is answered promptly: none may hold a request open.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%v for %q", err, doc)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d: %.300s", resp.StatusCode, raw)
		}
		var out gqlResponse
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("not JSON (status %d): %.300s", resp.StatusCode, raw)
		}
		if len(out.Errors) > 101 {
			t.Fatalf("%d errors", len(out.Errors))
		}
		if len(raw) > 256<<10 {
			t.Fatalf("answer of %d bytes", len(raw))
		}
		for _, e := range out.Errors {
			code, _ := e.Extensions["code"].(string)
			if code == "" || code == "INTERNAL" {
				t.Fatalf("error without a client code: %+v", e)
			}
		}
	})
}
