// Package origins reads CORS_ALLOWED_ORIGINS and matches a browser's Origin
// header against it. One matcher serves CORS, the cross-site request check
// and WebSocket upgrades, so the three never disagree.
//
// An entry is "*" (any origin) or scheme://host[:port], where the port may be
// "*" (any port, or none) and the host may start with "*." (any subdomain of
// the rest, not the rest itself):
//
//	https://app.example.com          exactly that origin (port 443)
//	http://localhost:*               http://localhost, http://localhost:5173, …
//	https://*.example.com            https://a.example.com, https://a.b.example.com
//
// Schemes and hosts compare case-insensitively, and a scheme's default port
// is the same as none (https://a.example:443 is https://a.example).
package origins

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Loopback is the development default: pages served from this machine (localhost,
// 127.0.0.1, [::1]) over http or https on any port, and no other site.
var Loopback = []string{
	"http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
	"https://localhost:*", "https://127.0.0.1:*", "https://[::1]:*",
}

// Pattern is one parsed entry other than "*".
type Pattern struct {
	Scheme     string // lower case
	Host       string // lower case; IPv6 in brackets; without the "*." of Subdomains
	Port       string // "" for the scheme's default port
	AnyPort    bool   // ":*"
	Subdomains bool   // "*.": any subdomain of Host
}

// Policy is a parsed CORS_ALLOWED_ORIGINS.
type Policy struct {
	Any      bool // "*": every origin
	Patterns []Pattern
}

// Parse reads the entries; a bad entry is left out and named in the error.
func Parse(entries []string) (Policy, error) {
	var p Policy
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" {
			p.Any = true
			continue
		}
		pat, err := parsePattern(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Patterns = append(p.Patterns, pat)
	}
	return p, errors.Join(errs...)
}

// Allows reports whether a request with this Origin header comes from an
// allowed origin. An empty or opaque ("null") origin is never allowed here;
// callers decide what a request without Origin means.
func (p Policy) Allows(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	if p.Any {
		return true
	}
	o, err := split(origin)
	if err != nil || strings.Contains(o.Host, "*") || o.AnyPort {
		return false
	}
	for _, pat := range p.Patterns {
		if pat.matches(o) {
			return true
		}
	}
	return false
}

func (pat Pattern) matches(o Pattern) bool {
	if o.Scheme != pat.Scheme {
		return false
	}
	if !pat.AnyPort && o.Port != pat.Port {
		return false
	}
	if pat.Subdomains {
		return strings.HasSuffix(o.Host, "."+pat.Host) && len(o.Host) > len(pat.Host)+1
	}
	return o.Host == pat.Host
}

// String gives the entry back in its canonical form.
func (pat Pattern) String() string {
	s := pat.Scheme + "://"
	if pat.Subdomains {
		s += "*."
	}
	s += pat.Host
	switch {
	case pat.AnyPort:
		s += ":*"
	case pat.Port != "":
		s += ":" + pat.Port
	}
	return s
}

func parsePattern(entry string) (Pattern, error) {
	bad := func(why string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("origin %q: %s; want scheme://host[:port], e.g. https://app.example.com, http://localhost:* or https://*.example.com", entry, why)
	}
	pat, err := split(entry)
	if err != nil {
		return bad(err.Error())
	}
	if h, ok := strings.CutPrefix(pat.Host, "*."); ok {
		pat.Host, pat.Subdomains = h, true
	}
	if strings.Contains(pat.Host, "*") {
		return bad(`"*" only as a whole port or as the first label of the host ("*.")`)
	}
	if pat.Host == "" || strings.HasPrefix(pat.Host, ".") || strings.HasSuffix(pat.Host, ".") {
		return bad("no host")
	}
	return pat, nil
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// split cuts scheme://host[:port] into its parts, refusing anything else
// (paths, queries, user info): browsers send exactly that form.
func split(s string) (Pattern, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return Pattern{}, errors.New("no scheme")
	}
	for i, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return Pattern{}, errors.New("bad scheme")
		}
	}
	if strings.ContainsAny(rest, "/?#@\\ \t") {
		return Pattern{}, errors.New("a path, query, user or space after the host")
	}
	var p Pattern
	p.Scheme = strings.ToLower(scheme)
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") { // IPv6 literal
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Pattern{}, errors.New("unclosed [")
		}
		host, rest = rest[:end+1], rest[end+1:]
		if rest != "" {
			var ok bool
			if port, ok = strings.CutPrefix(rest, ":"); !ok {
				return Pattern{}, errors.New("junk after ]")
			}
		}
		if strings.ContainsAny(host[1:len(host)-1], "[]*") || len(host) == 2 {
			return Pattern{}, errors.New("bad IPv6 address")
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	if strings.ContainsAny(host, "[]:") && !strings.HasPrefix(host, "[") {
		return Pattern{}, errors.New("bad host")
	}
	p.Host = strings.ToLower(host)
	switch {
	case port == "*":
		p.AnyPort = true
	case port == "" && strings.HasSuffix(rest, ":"):
		return Pattern{}, errors.New("empty port")
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return Pattern{}, fmt.Errorf("bad port %q", port)
		}
		p.Port = strconv.Itoa(n)
		if defaultPorts[p.Scheme] == p.Port {
			p.Port = ""
		}
	}
	return p, nil
}
