// Package apperr classifies errors into a small set of kinds that outer layers
// (GraphQL, HTTP, CLI) map to their own codes. It deliberately knows nothing
// about those layers so that domain packages can depend on it freely.
package apperr

import (
	"errors"
	"fmt"
)

// Kind says who is at fault and how a client should react.
type Kind int

const (
	// Internal is the zero value so that an unclassified error is never
	// mistaken for a client error.
	Internal Kind = iota
	BadInput
	NotFound
	Unauthenticated
	Forbidden
	LLMUnavailable
	RateLimited
)

// String returns the code exposed to clients (GraphQL extensions.code style).
func (k Kind) String() string {
	switch k {
	case BadInput:
		return "BAD_USER_INPUT"
	case NotFound:
		return "NOT_FOUND"
	case Unauthenticated:
		return "UNAUTHENTICATED"
	case Forbidden:
		return "FORBIDDEN"
	case LLMUnavailable:
		return "LLM_UNAVAILABLE"
	case RateLimited:
		return "RATE_LIMITED"
	default:
		// Unknown kinds are reported as internal rather than leaking a number.
		return "INTERNAL"
	}
}

// Error is a classified error. Msg is meant to be shown to the client; Err,
// if set, is the underlying cause.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

// Error returns Msg, followed by ": " and the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause so errors.Is/As see through the classification.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err with a formatted message. err may be nil.
func Wrap(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, or Internal
// when there is none (including when err is nil).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
