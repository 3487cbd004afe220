package apperr

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Internal, "INTERNAL"},
		{BadInput, "BAD_USER_INPUT"},
		{NotFound, "NOT_FOUND"},
		{Unauthenticated, "UNAUTHENTICATED"},
		{Forbidden, "FORBIDDEN"},
		{LLMUnavailable, "LLM_UNAVAILABLE"},
		{Kind(99), "INTERNAL"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}

func TestErrorMessageAndUnwrap(t *testing.T) {
	tests := []struct {
		name     string
		err      *Error
		wantMsg  string
		wantKind Kind
		wantIs   error
	}{
		{"new", New(NotFound, "simulation %q not found", "s1"), `simulation "s1" not found`, NotFound, nil},
		{"wrap", Wrap(LLMUnavailable, io.ErrUnexpectedEOF, "calling model %s", "m"), "calling model m: unexpected EOF", LLMUnavailable, io.ErrUnexpectedEOF},
		{"wrap nil cause", Wrap(Forbidden, nil, "no"), "no", Forbidden, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
			if tt.wantIs != nil && !errors.Is(tt.err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantIs)
			}
			if tt.wantIs == nil && tt.err.Unwrap() != nil {
				t.Errorf("Unwrap() = %v, want nil", tt.err.Unwrap())
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Internal},
		{"plain", errors.New("x"), Internal},
		{"direct", New(Unauthenticated, "x"), Unauthenticated},
		{"wrapped by fmt", fmt.Errorf("outer: %w", New(BadInput, "x")), BadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
		})
	}
}
