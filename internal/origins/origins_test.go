package origins

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, entries ...string) Policy {
	t.Helper()
	p, err := Parse(entries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The development default: this machine's pages on any port, no other site.
func TestLoopbackDefault(t *testing.T) {
	p := mustParse(t, Loopback...)
	for _, o := range []string{
		"http://localhost", "http://localhost:5173", "http://LOCALHOST:3000", "https://localhost:8443",
		"http://127.0.0.1", "http://127.0.0.1:8080", "https://127.0.0.1:1",
		"http://[::1]", "http://[::1]:8080", "https://[::1]:65535",
	} {
		if !p.Allows(o) {
			t.Errorf("%s refused", o)
		}
	}
	for _, o := range []string{
		"", "null", "*",
		"https://evil.example", "http://evil.localhost:3000", "http://localhost.evil.example",
		"http://localhost:3000.evil.example", "http://127.0.0.1.nip.io:8080", "http://127.0.0.2:8080",
		"http://[::2]:8080", "http://0.0.0.0:8080", "http://192.168.1.10:8080",
		"ws://localhost:8080", "file://localhost", "http://localhost:8080/", "http://localhost:8080/x",
		"http://user@localhost:8080", "http://localhost:", "http://localhost:0", "http://localhost:99999",
		"http://localhost:*", "http://[::1", "localhost:8080",
	} {
		if p.Allows(o) {
			t.Errorf("%q allowed", o)
		}
	}
}

func TestExactAndWildcards(t *testing.T) {
	p := mustParse(t, "https://app.example.com", "http://dash.example.com:8080", "https://*.example.org", "HTTPS://Upper.Example:443")
	for o, want := range map[string]bool{
		"https://app.example.com":      true,
		"https://app.example.com:443":  true, // the default port is no port
		"HTTPS://APP.EXAMPLE.COM":      true,
		"http://app.example.com":       false, // scheme counts
		"https://app.example.com:8443": false,
		"https://x.app.example.com":    false,
		"https://app.example.com.evil": false,
		"http://dash.example.com:8080": true,
		"http://dash.example.com":      false,
		"https://a.example.org":        true,
		"https://a.b.example.org":      true,
		"https://example.org":          false, // "*." means a subdomain
		"https://aexample.org":         false,
		"http://a.example.org":         false,
		"https://a.example.org:8443":   false,
		"https://upper.example":        true,
	} {
		if got := p.Allows(o); got != want {
			t.Errorf("%s: %v, want %v", o, got, want)
		}
	}
	if !mustParse(t, "*").Allows("https://anything.example") {
		t.Error("* refused an origin")
	}
}

func TestParseRefusesMalformedEntries(t *testing.T) {
	for _, e := range []string{
		"app.example.com", "https://", "https://app.example.com/", "https://app.example.com/path",
		"https://app.example.com?x", "https://u@app.example.com", "https://app.*.example.com", "https://*",
		"https://*.", "https://app.example.com:", "https://app.example.com:0", "https://app.example.com:70000",
		"https://app.example.com:http", "http://[::1", "http://[]:80", "http://::1:80", "1http://a.example",
		"https://a.example:+80",
	} {
		p, err := Parse([]string{e, "https://ok.example"})
		if err == nil || !strings.Contains(err.Error(), e) {
			t.Errorf("%q: error %v", e, err)
		}
		if len(p.Patterns) != 1 || p.Patterns[0].String() != "https://ok.example" {
			t.Errorf("%q: kept %v", e, p.Patterns)
		}
	}
}

func TestPatternString(t *testing.T) {
	p := mustParse(t, "HTTP://LocalHost:*", "https://*.Example.org", "https://a.example:443", "http://[::1]:8080")
	var got []string
	for _, pat := range p.Patterns {
		got = append(got, pat.String())
	}
	want := "http://localhost:* https://*.example.org https://a.example http://[::1]:8080"
	if strings.Join(got, " ") != want {
		t.Fatalf("%q", got)
	}
}
