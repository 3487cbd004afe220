// Package llm is Ethox's client for OpenAI-compatible chat-completion servers
// (OpenAI itself, vLLM, Ollama, LM Studio, llama.cpp, OpenRouter, ...). It
// asks one agent at a time for a reaction — the JSON object
// {"opinion": string, "care": 0..10, "change_in_support": -5..5} — or for a
// plain-text completion, and it is built for thousands of calls per run:
// bounded concurrency, client-side rate limits, retries with backoff, tolerant
// parsing and cost accounting. It knows nothing about GraphQL or the database.
//
// # Base URL
//
// go-openai wants the API root including "/v1". Config.BaseURL (OPENAI_BASE_URL)
// may be given with or without it: "/v1" is appended only when no path segment
// of the URL already looks like an API version ("v1", "v2", "v1beta", ...).
// So "http://localhost:11434" and "http://localhost:11434/v1/" both become
// "http://localhost:11434/v1", "http://proxy/llm" becomes "http://proxy/llm/v1",
// while "https://api.groq.com/openai/v1" and
// "https://generativelanguage.googleapis.com/v1beta/openai" are used verbatim.
// A URL without a scheme ("localhost:8000") is taken as http. An empty BaseURL
// means https://api.openai.com/v1.
//
// # Structured output and tolerant parsing
//
// React sends response_format json_schema (name "agent_reaction", strict) and
// then parses the answer defensively, because many local servers ignore the
// schema: the first balanced JSON object is taken from the content (markdown
// fences, surrounding prose and <think>…</think> blocks are skipped), numbers
// may be JSON strings ("7"), the support key may be spelled change_in_support,
// support or changeInSupport (keys are matched case- and punctuation-
// insensitively), care is clamped to [0,10] and support to [-5,5]. A missing
// field, a wrong type, NaN/Inf or an empty opinion is an invalid answer: the
// model is re-asked (the bad answer and a correction are appended to the
// conversation, so a deterministic seed does not repeat the same mistake) up
// to MaxInvalidRetries times, then ErrInvalidAnswer (an *InvalidAnswerError).
//
// If the server answers a request carrying response_format with HTTP 400, the
// same attempt is repeated once without response_format. If that succeeds, the
// client remembers it for its whole lifetime and never sends response_format
// again (a 400 that also happens without response_format is not about the
// schema, is not remembered, and is returned as ErrRejected). Without
// response_format a one-line JSON instruction is appended to the last user
// message.
//
// # Retries, timeouts, cancellation
//
// Each HTTP attempt has its own timeout (CallTimeout). Retried, up to
// MaxRetries times with exponential backoff and full jitter
// (rand[0, min(BackoffMax, BackoffBase·2^n))): 408, 409, 429 (except quota
// errors), 5xx, per-attempt timeouts, connection errors and unreadable 2xx
// bodies. A "retry-after-ms" or "Retry-After" header (seconds or HTTP date) on
// a retryable response replaces the computed backoff: the client waits that
// long plus up to BackoffBase of jitter, capped at BackoffMax. go-openai does
// not expose response headers on errors, so the client wraps the HTTP
// transport and records status and headers per attempt in the request context.
// When retries are exhausted the error wraps ErrUnavailable and the last error
// (an *openai.APIError or *openai.RequestError stays reachable with errors.As;
// a per-attempt timeout is reported as text and does NOT match
// context.DeadlineExceeded, which is reserved for the caller's own context).
// A 429 with code/type insufficient_quota (or billing_*), or a 402, wraps
// ErrQuota and is never retried. Other 4xx wrap ErrRejected and are not
// retried. When the caller's context ends, ctx.Err() is returned unwrapped,
// immediately, whether the call is waiting for the semaphore, a rate limiter,
// a backoff timer or the server.
//
// # Limits
//
// Concurrency bounds in-flight HTTP attempts per Client (the slot is held only
// during an attempt, not during backoff). RequestsPerMinute and TokensPerMinute
// are token buckets (golang.org/x/time/rate): RPM with a burst of
// min(RPM, Concurrency), TPM with a burst of one minute's tokens. Each attempt
// reserves one request and an estimate of its tokens (prompt bytes/4 + 4 per
// message + MaxTokens, or 512 when MaxTokens is 0); after a successful attempt
// the bucket is corrected by the difference with the usage the server
// reported (up or down). Failed attempts keep their estimate charged.
// Limiters and the semaphore are per Client: share one Client per process.
//
// # Accounting
//
// Usage sums every attempt of one React/Complete call: Calls counts HTTP
// requests actually sent, Retries every extra attempt (transport retries,
// invalid-answer re-asks and the response_format fallback), tokens as reported
// by the server (0 when it reports none), Latency is the wall time of the whole
// call including waits, and CostUSD comes from the price table for the
// requested model. Prices are USD per million tokens; the defaults
// (DefaultPrices) are OpenAI list prices for standard, uncached, non-batch
// usage at the time of writing and should be overridden (Config.Prices or
// LLM_PRICES) when they change. A model that is not in the table costs 0
// (a dated snapshot such as "gpt-4.1-mini-2025-04-14" falls back to
// "gpt-4.1-mini").
//
// # Parameters
//
// Temperature and Seed are sent only when set (per request or in Config). A
// temperature of exactly 0 is sent as math.SmallestNonzeroFloat32 because
// go-openai omits a zero temperature (the server would then use its default,
// 1). MaxTokens 0 sends no limit. For reasoning models (names starting with
// o1, o3, o4, gpt-5 or gpt-6) MaxTokens is sent as max_completion_tokens and
// temperature is not sent, as those models reject it.
package llm
