package api

import (
	"fmt"
	"net/url"
)

// parseOrigin turns "https://app.example.com" into the host pattern
// coder/websocket compares against the Origin header.
func parseOrigin(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("origin %q: want scheme://host[:port]", origin)
	}
	return u.Host, nil
}
