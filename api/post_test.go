package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
	"github.com/ethox/ethox/resolvers"
)

// jsonPOST answers a successful or executed operation exactly as gqlgen's
// transport.POST does. Request errors follow the GraphQL-over-HTTP draft
// instead (TestGraphQLOverHTTPSpec), and bodies that are not JSON are not
// echoed (TestUndecodableBodiesAreNotEchoed).
func TestJSONPOSTMatchesGqlgen(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	schema := resolvers.NewSchema(&resolvers.Resolver{Client: db.Client, Graphs: graphstore.New(db)})
	mine := handler.New(schema)
	mine.AddTransport(jsonPOST{})
	mine.SetErrorPresenter(errorPresenter(nil))
	theirs := handler.New(schema)
	theirs.AddTransport(transport.POST{})
	theirs.SetErrorPresenter(errorPresenter(nil))
	a, b := httptest.NewServer(mine), httptest.NewServer(theirs)
	defer a.Close()
	defer b.Close()
	cases := []struct{ body, accept string }{
		{`{"query":"{ graph { metadata { nodeCount traitKeys } } defaultNetwork { id } }"}`, ""},
		{`{"query":"{ agent(agentId: \"nobody\") { node { agentId } } }"}`, "application/json"},
		{`{"query":"{ graph { metadata { nodeCount } } }"}`, "application/graphql-response+json"},
	}
	for _, tc := range cases {
		ra, ca, sa := post(t, a.URL, tc.body, tc.accept)
		rb, cb, sb := post(t, b.URL, tc.body, tc.accept)
		if !bytes.Equal(ra, rb) || ca != cb || sa != sb {
			t.Errorf("%s:\n mine   %d %s %s\n gqlgen %d %s %s", tc.body, sa, ca, ra, sb, cb, rb)
		}
		if !json.Valid(ra) {
			t.Errorf("invalid JSON: %s", ra)
		}
	}
}

func post(t *testing.T, url, body, accept string) ([]byte, string, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.Header.Get("Content-Type"), resp.StatusCode
}
