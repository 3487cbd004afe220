package api

// WriteTimeoutForTest exposes the per-request write deadline to package api_test.
var WriteTimeoutForTest = writeTimeout

// RequestContextForTest exposes the request middleware to package api_test.
var RequestContextForTest = requestContext
