package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/auth"
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

// wsAuthenticate takes credentials from the connection_init payload, which
// browser WebSocket clients must use (they cannot set headers), or from the
// upgrade's Authorization header. A bad token, or none where reads need one,
// refuses the connection (close code 4403) before any subscription starts.
func wsAuthenticate(a checker, readsNeedToken bool, log *slog.Logger) func(context.Context, transport.InitPayload) (context.Context, error) {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, error) {
		ctx = context.WithValue(ctx, connSubsKey{}, new(atomic.Int64))
		authz := payload.Authorization()
		if authz == "" {
			authz = payload.GetString("authToken")
		}
		if authz != "" {
			ctx = withToken(ctx, authz)
		}
		need := auth.None
		if readsNeedToken {
			need = auth.Reader
		}
		if a != nil {
			if _, err := a.Check(ctx, BearerToken(ctx), need, "subscriptions"); err != nil {
				var ae *apperr.Error
				if !errors.As(err, &ae) {
					log.ErrorContext(ctx, "token check failed", "error", err)
					err = apperr.New(apperr.Internal, "internal error") // the client sees this message
				}
				return ctx, err
			}
		}
		return ctx, nil
	}
}

// wsInit is wsAuthenticate for gqlgen's transport (the legacy graphql-ws
// subprotocol): connection_error with the message, then close 4403.
func wsInit(authenticate func(context.Context, transport.InitPayload) (context.Context, error)) transport.WebsocketInitFunc {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		ctx, err := authenticate(ctx, payload)
		if err != nil {
			ctx = transport.WithWebsocketCloseCode(ctx, int(closeForbidden))
			ctx = transport.AppendCloseReason(ctx, apperr.KindOf(err).String())
			return ctx, nil, err
		}
		return ctx, nil, nil
	}
}

// uploadsNeedWriter checks the token of a multipart request (an upload, which
// only mutations take) before its files are read: reading them first would
// let anyone make the server spool up to MAX_UPLOAD_BYTES.
func uploadsNeedWriter(a checker, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			next.ServeHTTP(w, r)
			return
		}
		if _, err := a.Check(r.Context(), BearerToken(r.Context()), auth.Writer, "uploads"); err != nil {
			writeAuthError(w, r, err, false, log)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireRole guards plain HTTP endpoints (downloads, the job queue UI). With
// basic set, a browser may also log in with HTTP Basic, the token as password.
func requireRole(a checker, need auth.Role, what string, basic bool, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := BearerToken(withToken(r.Context(), r.Header.Get("Authorization")))
		if _, pass, ok := r.BasicAuth(); ok && basic {
			token = pass
		}
		_, err := a.Check(r.Context(), token, need, what)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		writeAuthError(w, r, err, basic, log)
	})
}

// writeAuthError answers an HTTP request refused by a token check.
func writeAuthError(w http.ResponseWriter, r *http.Request, err error, basic bool, log *slog.Logger) {
	switch kind := apperr.KindOf(err); kind {
	case apperr.Unauthenticated:
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="ethox", charset="UTF-8"`)
		}
		writeError(w, http.StatusUnauthorized, kind, err.Error())
	case apperr.Forbidden:
		writeError(w, http.StatusForbidden, kind, err.Error())
	case apperr.RateLimited:
		writeError(w, http.StatusTooManyRequests, kind, err.Error())
	default:
		log.ErrorContext(r.Context(), "token check failed", "error", err)
		writeError(w, http.StatusInternalServerError, apperr.Internal, "internal error")
	}
}

type connSubsKey struct{}

// subscriptionLimit refuses a WebSocket's subscription past max open ones on
// that connection: gqlgen starts a goroutine for each, without a cap. The
// counter lives in the connection's context (see wsInit).
func subscriptionLimit(max int) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		open, _ := ctx.Value(connSubsKey{}).(*atomic.Int64)
		if max <= 0 || open == nil || oc == nil || oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
			return next(ctx)
		}
		if open.Add(1) > int64(max) {
			open.Add(-1)
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
				Message:    fmt.Sprintf("too many subscriptions on this connection (MAX_SUBSCRIPTIONS_PER_CONNECTION = %d): complete one first", max),
				Extensions: map[string]any{"code": apperr.RateLimited.String()},
			}}})
		}
		// gqlgen cancels a subscription's context when it ends, however it ends.
		context.AfterFunc(ctx, func() { open.Add(-1) })
		return next(ctx)
	}
}
