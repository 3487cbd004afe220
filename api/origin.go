package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/origins"
)

// Cross-site requests. A page on another site can make the browser send a
// form post or a no-cors fetch (multipart/form-data, urlencoded, text/plain)
// without any preflight, and open a WebSocket: CORS only hides the answer,
// the work is done. Such requests are refused here, before anything reads
// them, unless their origin is one of CORS_ALLOWED_ORIGINS. The browser says
// where a request comes from (Sec-Fetch-Site, Origin); a request saying
// nothing (curl, scripts, server-side clients) is not a browser's and passes.

// allowedOrigins parses CORS_ALLOWED_ORIGINS; config refuses bad entries at
// start, so a bad one here (a direct caller of NewHandler) is only logged.
func allowedOrigins(allowed []string, log *slog.Logger) origins.Policy {
	p, err := origins.Parse(allowed)
	if err != nil && log != nil {
		log.Warn("CORS_ALLOWED_ORIGINS entries ignored", "error", err)
	}
	return p
}

var errCrossSite = errors.New("cross-origin request")

// refuseCrossSite answers 403 FORBIDDEN to a browser's cross-origin request
// that changes state (every method but GET, HEAD and OPTIONS, decided by Go's
// CrossOriginProtection from Sec-Fetch-Site and Origin) and to a cross-origin
// WebSocket upgrade, unless the origin is allowed. GET stays open: gqlgen's
// GET transport runs queries only.
func refuseCrossSite(policy origins.Policy, log *slog.Logger, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if policy.Allows(origin) {
			next.ServeHTTP(w, r)
			return
		}
		err := cop.Check(r)
		if err == nil && isUpgrade(r) {
			err = checkUpgradeOrigin(r)
		}
		if err != nil {
			log.InfoContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
				"origin", origin, "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
			shown := origin
			if shown == "" {
				shown = "another site"
			}
			writeError(w, http.StatusForbidden, apperr.Forbidden, fmt.Sprintf(
				"cross-origin request from %s refused: its origin is not in CORS_ALLOWED_ORIGINS", shown))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkUpgradeOrigin allows a WebSocket upgrade without Origin (not a
// browser) and a same-origin one: Sec-Fetch-Site says so, or, from a browser
// too old to send it, Origin names the Host asked for (the fallback
// CrossOriginProtection uses too). An allowed origin was let through before.
func checkUpgradeOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return nil
	case "":
		if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
			return nil
		}
	}
	return errCrossSite
}

// wsOriginPatterns turns the allowed origins into coder/websocket's
// OriginPatterns (path.Match against "scheme://host[:port]", the scheme
// included), a second check behind refuseCrossSite for NewGraphQL used alone.
func wsOriginPatterns(p origins.Policy) []string {
	esc := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	var out []string
	for _, pat := range p.Patterns {
		host := esc.Replace(pat.Host)
		if pat.Subdomains {
			host = "*." + host
		}
		base := esc.Replace(pat.Scheme) + "://" + host
		switch {
		case pat.AnyPort:
			out = append(out, base, base+":[0-9]*")
		case pat.Port != "":
			out = append(out, base+":"+pat.Port)
		default:
			out = append(out, base)
		}
	}
	return out
}
