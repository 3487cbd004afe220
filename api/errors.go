package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
)

// errorPresenter gives every error an extensions.code. Errors of the app's
// own kinds keep their message; unknown errors become INTERNAL with a generic
// message, and their detail goes to the log, never to the client.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var ae *apperr.Error
		switch {
		case errors.As(err, &ae):
			gqlErr.Message = ae.Error()
			setCode(gqlErr, ae.Kind.String())
		case introspectionDisabled(err):
			// gqlgen's own plain error when ENABLE_INTROSPECTION is off: a client
			// asking is not an internal failure worth an ERROR line.
			gqlErr.Message = "introspection is disabled on this server (ENABLE_INTROSPECTION)"
			setCode(gqlErr, apperr.Forbidden.String())
		case ent.IsNotFound(err):
			// ent's wrapping names tables ("cannot resolve noder from table
			// \"api_tokens\""); its own error names only the entity.
			var nf *ent.NotFoundError
			errors.As(err, &nf)
			gqlErr.Message = strings.TrimPrefix(nf.Error(), "ent: ")
			setCode(gqlErr, apperr.NotFound.String())
		case ent.IsValidationError(err):
			// ent's field validators run on values a client sent. A constraint
			// failure is not reported as the client's fault: where one can be
			// (a token name taken), the code converts it to an apperr itself;
			// the rest are races or bugs, INTERNAL below with the detail logged.
			gqlErr.Message = err.Error()
			setCode(gqlErr, apperr.BadInput.String())
		case gqlErr.Err == nil:
			// Raised by gqlgen itself: parsing, validation, argument coercion.
			code, _ := gqlErr.Extensions["code"].(string)
			switch code {
			case "", errcode.ParseFailed, errcode.ValidationFailed, "COMPLEXITY_LIMIT_EXCEEDED", "DEPTH_LIMIT_EXCEEDED":
				if code != "" {
					gqlErr.Extensions["reason"] = code
				}
				if limit, ok := strings.CutPrefix(gqlErr.Message, "exceeded token limit of "); ok && code == errcode.ParseFailed {
					// gqlparser's wording names neither the setting nor the unit.
					gqlErr.Message = "document has more than " + limit + " tokens (MAX_QUERY_TOKENS)"
					gqlErr.Extensions["reason"] = "TOKEN_LIMIT_EXCEEDED"
				}
				setCode(gqlErr, apperr.BadInput.String())
			}
		default:
			log.ErrorContext(ctx, "internal error", "error", err, "path", gqlErr.Path.String())
			gqlErr.Message = "internal error"
			gqlErr.Err = nil
			setCode(gqlErr, apperr.Internal.String())
		}
		return gqlErr
	}
}

// introspectionDisabled recognises gqlgen's plain "introspection disabled"
// error, bare (__schema) or wrapped in a gqlerror (__type).
func introspectionDisabled(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "introspection disabled" && errors.Unwrap(err) == nil {
			return true
		}
	}
	return false
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// recoverFunc turns a resolver panic into an INTERNAL error; the stack goes to
// the log only.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return apperr.New(apperr.Internal, "internal error")
	}
}
