package api

import (
	"net/http"
	"time"
)

// WriteTimeoutForTest exposes the per-request write deadline to package api_test.
func WriteTimeoutForTest(d time.Duration, h http.Handler) http.Handler { return deadlines(0, d, h) }

// RequestContextForTest exposes the request middleware to package api_test.
var RequestContextForTest = requestContext
