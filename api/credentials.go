package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Credentials arrive the same way on every transport: the Authorization
// header on HTTP (and on the WebSocket upgrade), or the connection_init
// payload of a WebSocket (`{"Authorization": "Bearer …"}` or `{"authToken": …}`).
// They are put on the request context; enforcing them (tokens, roles) is the
// job of the hardening work and reads them through BearerToken.

type credentialsKey struct{}

// BearerToken returns the token a request presented, or "".
func BearerToken(ctx context.Context) string {
	t, _ := ctx.Value(credentialsKey{}).(string)
	return t
}

func withToken(ctx context.Context, authorization string) context.Context {
	token := strings.TrimSpace(authorization)
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return ctx
	}
	return context.WithValue(ctx, credentialsKey{}, token)
}

// credentials reads the Authorization header into the request context.
func credentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			r = r.WithContext(withToken(r.Context(), h))
		}
		next.ServeHTTP(w, r)
	})
}

// wsInit takes credentials from the connection_init payload, which browser
// WebSocket clients must use (they cannot set headers).
func wsInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	auth := payload.Authorization()
	if auth == "" {
		auth = payload.GetString("authToken")
	}
	if auth != "" {
		ctx = withToken(ctx, auth)
	}
	return ctx, nil, nil
}
