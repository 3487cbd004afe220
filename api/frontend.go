package api

import (
	"net/http"
	"strings"

	"github.com/ethox/ethox/ide"
)

// GraphiQLPath is where the IDE is served when a front end (Options.Frontend)
// takes /; without one it stays at /.
const GraphiQLPath = "/graphiql"

// apiPaths are the server's own routes. The front end never answers under
// them, even where a route is not mounted (no metrics, no River UI, the IDE
// off): a mistyped API path gets 404, not the app's index.html.
var apiPaths = []string{"/query", "/api/", "/exports/", "/reports/", "/healthz", "/readyz", "/metrics",
	"/riverui/", GraphiQLPath, ide.AssetPrefix}

// outsideAPI serves the app at every GET path no route of the API takes.
func outsideAPI(app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range apiPaths {
			root := strings.TrimSuffix(p, "/")
			if r.URL.Path == root || strings.HasPrefix(r.URL.Path, root+"/") {
				http.NotFound(w, r)
				return
			}
		}
		app.ServeHTTP(w, r)
	})
}
