package api

import (
	"net/http"
	"time"

	"github.com/ethox/ethox/auth"
	"github.com/ethox/ethox/legacyapi"
)

// mountLegacy serves the prototype's REST API (legacyapi) on mux, under the
// GraphQL API's tokens, roles, rate limits and body limits. CORS, cross-site
// protection, deadlines, metrics and the request log come from NewHandler's
// outer wrappers, as for every route.
func mountLegacy(mux *http.ServeMux, o Options) {
	legacyapi.Mount(mux, legacyapi.Options{
		Client:         o.Client,
		Graphs:         o.Graphs,
		Sims:           o.Sims,
		Reports:        o.Reports,
		Guard:          legacyGuard{checker: o.checker, readsNeedToken: o.RequireAuthForReads, limits: o.limits},
		MaxUploadBytes: o.MaxUploadBytes,
		MaxBodyBytes:   o.MaxBodyBytes,
		Logger:         o.Logger,
		Shutdown:       o.Shutdown,
	})
}

// legacyGuard gives each REST endpoint what its GraphQL equivalent needs: a
// read needs nothing (a reader token with REQUIRE_AUTH_FOR_READS), a
// mutation's endpoint the mutation's role, and it is charged to the same
// rate-limit buckets as the mutation (runSimulation and generateReport to
// RATE_LIMIT_RUNS too).
type legacyGuard struct {
	checker        checker
	readsNeedToken bool
	limits         *rateLimits
}

func (g legacyGuard) Allow(r *http.Request, mutation string) error {
	ctx := withToken(r.Context(), r.Header.Get("Authorization"))
	need, what := auth.None, r.Method+" "+r.URL.Path
	if mutation != "" {
		need, what = auth.Writer, what+" ("+mutation+")"
		if role, ok := mutationRoles[mutation]; ok {
			need = role
		}
	} else if g.readsNeedToken {
		need = auth.Reader
	}
	p, err := g.checker.Check(ctx, BearerToken(ctx), need, what)
	if err != nil || mutation == "" || g.limits == nil {
		return err
	}
	key := "ip:" + ClientIP(ctx)
	if p != nil && p.Source != "open" {
		key = "token:" + p.Name
	}
	return g.limits.allow(key, []string{mutation})
}

// RetryAfter is how long a client refused by a rate limit should wait
// (legacyapi sends it as Retry-After).
func (e *rateLimitError) RetryAfter() time.Duration { return e.retryAfter }

// rateLimits are the limits NewHandler shares between GraphQL and the REST
// API, or new ones for NewGraphQL used on its own.
func (o Options) rateLimits() *rateLimits {
	if o.limits != nil {
		return o.limits
	}
	return newRateLimits(o.MutationRate, o.RunRate)
}
