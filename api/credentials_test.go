package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

func TestCredentials(t *testing.T) {
	cases := []struct {
		name, header string
		payload      transport.InitPayload
		want         string
	}{
		{"bearer header", "Bearer abc", nil, "abc"},
		{"raw header", "abc", nil, "abc"},
		{"no header", "", nil, ""},
		{"init Authorization", "", transport.InitPayload{"Authorization": "Bearer xyz"}, "xyz"},
		{"init authToken", "", transport.InitPayload{"authToken": "tok"}, "tok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if tc.payload != nil {
				ctx, err := wsAuthenticate(nil, false, nil)(context.Background(), tc.payload)
				if err != nil {
					t.Fatal(err)
				}
				got = BearerToken(ctx)
			} else {
				h := credentials(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = BearerToken(r.Context()) }))
				req := httptest.NewRequest(http.MethodPost, "/query", nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			if got != tc.want {
				t.Fatalf("token %q, want %q", got, tc.want)
			}
		})
	}
}
