package fakellm

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// Faults makes a share of the calls fail the ways a real provider does, for
// soak and chaos tests: a 429 with Retry-After, a 500, or a 200 whose answer
// is malformed JSON (cut off mid-object). Shares are 0..1 and add up to at most 1.
type Faults struct {
	RateLimited float64 // 429 rate_limit_exceeded, Retry-After: 1
	ServerError float64 // 500 server_error
	Malformed   float64 // 200 with an answer that is not valid JSON
}

// ParseFaults reads "429=0.05,500=0.05,malformed=0.05" (any subset; empty:
// none), the form of `ethox fakellm -faults` and of the soak's settings.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: want KIND=SHARE (429, 500 or malformed)", kv)
		}
		share, err := strconv.ParseFloat(v, 64)
		if err != nil || share < 0 || share > 1 {
			return f, fmt.Errorf("fault %q: the share must be a number from 0 to 1", kv)
		}
		switch k {
		case "429":
			f.RateLimited = share
		case "500":
			f.ServerError = share
		case "malformed":
			f.Malformed = share
		default:
			return f, fmt.Errorf("fault %q: unknown kind %q (429, 500 or malformed)", kv, k)
		}
	}
	if f.RateLimited+f.ServerError+f.Malformed > 1 {
		return f, fmt.Errorf("faults %q: the shares add up to more than 1", s)
	}
	return f, nil
}

// FaultCounts says how many calls each fault answered.
type FaultCounts struct{ RateLimited, ServerError, Malformed int64 }

type faultState struct {
	on                         atomic.Pointer[Faults]
	rateLimited, server, malfd atomic.Int64
}

// SetFaults injects f from the next call on (the zero Faults: none). It
// replaces any hook set with SetHook.
func (s *Handler) SetFaults(f Faults) {
	s.faults.on.Store(&f)
	s.SetHook(func(r *Request, n int) (int, map[string]string, string) {
		f := s.faults.on.Load()
		if f == nil {
			return 0, nil, ""
		}
		x := rand.Float64()
		switch {
		case x < f.RateLimited:
			s.faults.rateLimited.Add(1)
			return http.StatusTooManyRequests, map[string]string{"Retry-After": "1"},
				`{"error":{"message":"Rate limit reached (ethox fakellm fault)","type":"requests","code":"rate_limit_exceeded"}}`
		case x < f.RateLimited+f.ServerError:
			s.faults.server.Add(1)
			return http.StatusInternalServerError, nil,
				`{"error":{"message":"The server had an error (ethox fakellm fault)","type":"server_error"}}`
		case x < f.RateLimited+f.ServerError+f.Malformed && r.JSON:
			s.faults.malfd.Add(1)
			return 0, nil, `{"opinion": "cut off mid-answer by ethox fakellm, "care": 7`
		}
		return 0, nil, ""
	})
}

// FaultCounts returns how many calls each fault has answered.
func (s *Handler) FaultCounts() FaultCounts {
	return FaultCounts{s.faults.rateLimited.Load(), s.faults.server.Load(), s.faults.malfd.Load()}
}
