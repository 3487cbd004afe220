package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/ethox/ethox/internal/origins"
)

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "development defaults are open", check: func(t *testing.T, c Config) {
			if !c.EnableIDE || !c.EnableIntrospection || c.RateMutations != 0 || c.RateRuns != 0 || c.CORSExplicit {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "production defaults are closed", env: map[string]string{"ENV": "production"}, check: func(t *testing.T, c Config) {
			if c.EnableIDE || c.EnableIntrospection || c.RateMutations != 60 || c.RateRuns != 6 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "production may enable the IDE", env: map[string]string{"ENV": "production", "ENABLE_IDE": "true", "ENABLE_INTROSPECTION": "1"}, check: func(t *testing.T, c Config) {
			if !c.EnableIDE || !c.EnableIntrospection {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "tokens", env: map[string]string{"API_TOKENS": "ci:writer:abcdefghijklmnop, ops:admin:0123456789abcdefXYZ"}, check: func(t *testing.T, c Config) {
			if len(c.APITokens) != 2 || c.APITokens[1].Name != "ops" {
				t.Fatalf("%+v", c.APITokens)
			}
		}},
		{name: "short token named, not shown", env: map[string]string{"API_TOKENS": "ci:writer:tiny1"}, wantErr: `"ci": token shorter than 16`},
		{name: "bad role", env: map[string]string{"API_TOKENS": "ci:root:abcdefghijklmnop"}, wantErr: `"ci": role must be reader, writer or admin`},
		{name: "same secret twice", env: map[string]string{"API_TOKENS": "a:reader:abcdefghijklmnop,b:admin:abcdefghijklmnop"}, wantErr: `"a" and "b" have the same token`},
		{name: "malformed entry", env: map[string]string{"API_TOKENS": "abcdefghijklmnop"}, wantErr: "entry 1: want name:role:token"},
		{name: "trusted proxies", env: map[string]string{"TRUST_PROXY": "10.0.0.0/8, 127.0.0.1, ::1"}, check: func(t *testing.T, c Config) {
			if len(c.TrustProxy) != 3 || c.TrustProxy[1].Bits() != 32 || c.TrustProxy[2].Bits() != 128 {
				t.Fatalf("%v", c.TrustProxy)
			}
		}},
		{name: "bad proxy", env: map[string]string{"TRUST_PROXY": "proxy.local"}, wantErr: `TRUST_PROXY entry "proxy.local"`},
		{name: "negative limit", env: map[string]string{"MAX_QUERY_DEPTH": "-1"}, wantErr: "MAX_QUERY_DEPTH must be 0"},
		{name: "zero burst", env: map[string]string{"RATE_LIMIT_RUNS_BURST": "0"}, wantErr: "RATE_LIMIT_RUNS_BURST must be 1"},
		{name: "bad env", env: map[string]string{"ENV": "staging"}, wantErr: `ENV="staging"`},
		{name: "explicit CORS", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example"}, check: func(t *testing.T, c Config) {
			if !c.CORSExplicit || len(c.CORSOrigins) != 2 {
				t.Fatalf("%+v", c)
			}
		}},
		// Issue 11: development listened on every interface and allowed every origin.
		{name: "listens on this machine only by default", check: func(t *testing.T, c Config) {
			if c.Host != "127.0.0.1" || c.Addr() != "127.0.0.1:8080" {
				t.Fatalf("host %q addr %q", c.Host, c.Addr())
			}
		}},
		{name: "CORS default is this machine's pages", check: func(t *testing.T, c Config) {
			if c.CORSExplicit || !slices.Equal(c.CORSOrigins, origins.Loopback) || slices.Contains(c.CORSOrigins, "*") {
				t.Fatalf("%q", c.CORSOrigins)
			}
			p, err := origins.Parse(c.CORSOrigins)
			if err != nil || !p.Allows("http://localhost:5173") || !p.Allows("http://127.0.0.1:3000") || !p.Allows("http://[::1]:8080") ||
				p.Allows("https://evil.example") || p.Allows("http://localhost.evil.example") {
				t.Fatalf("%+v %v", p, err)
			}
		}},
		{name: "production has the same default (and refuses to start without its own)", env: map[string]string{"ENV": "production"}, check: func(t *testing.T, c Config) {
			if c.Host != "127.0.0.1" || c.CORSExplicit || slices.Contains(c.CORSOrigins, "*") {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "explicit star", env: map[string]string{"CORS_ALLOWED_ORIGINS": "*"}, check: func(t *testing.T, c Config) {
			if !c.CORSExplicit || !slices.Equal(c.CORSOrigins, []string{"*"}) {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "origin patterns", env: map[string]string{"CORS_ALLOWED_ORIGINS": "http://localhost:*,https://*.example.com"}, check: func(t *testing.T, c Config) {
			if len(c.CORSOrigins) != 2 {
				t.Fatalf("%q", c.CORSOrigins)
			}
		}},
		{name: "origin with a path", env: map[string]string{"CORS_ALLOWED_ORIGINS": "https://a.example, https://app.example.com/"}, wantErr: `CORS_ALLOWED_ORIGINS: origin "https://app.example.com/"`},
		{name: "origin without scheme", env: map[string]string{"CORS_ALLOWED_ORIGINS": "app.example.com"}, wantErr: `origin "app.example.com": no scheme`},
		{name: "all interfaces when asked", env: map[string]string{"HOST": "0.0.0.0", "PORT": "0"}, check: func(t *testing.T, c Config) {
			if c.Addr() != "0.0.0.0:0" {
				t.Fatalf("%q", c.Addr())
			}
		}},
		{name: "IPv6 host", env: map[string]string{"HOST": "::1"}, check: func(t *testing.T, c Config) {
			if c.Addr() != "[::1]:8080" {
				t.Fatalf("%q", c.Addr())
			}
		}},
		{name: "bracketed IPv6 host", env: map[string]string{"HOST": "[::]"}, check: func(t *testing.T, c Config) {
			if c.Addr() != "[::]:8080" {
				t.Fatalf("%q", c.Addr())
			}
		}},
		{name: "host with a port", env: map[string]string{"HOST": "127.0.0.1:9000"}, wantErr: `HOST="127.0.0.1:9000"`},
		{name: "host as a URL", env: map[string]string{"HOST": "http://localhost"}, wantErr: `HOST="http://localhost"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if v := tc.env["API_TOKENS"]; v != "" && strings.Contains(err.Error(), strings.Split(v, ":")[len(strings.Split(v, ":"))-1]) {
					t.Fatalf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
