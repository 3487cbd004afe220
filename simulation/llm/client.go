package llm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"
)

// Errors returned by React and Complete; test them with errors.Is.
// Context errors of the caller's ctx are returned unwrapped.
var (
	// ErrQuota: the account is out of quota or has a billing problem
	// (429 insufficient_quota, billing_*, or 402). Never retried.
	ErrQuota = errors.New("llm: quota exhausted or billing problem")
	// ErrInvalidAnswer: the model did not produce a valid answer after
	// MaxInvalidRetries re-asks. The error is an *InvalidAnswerError.
	ErrInvalidAnswer = errors.New("llm: invalid answer")
	// ErrUnavailable: transport retries exhausted (429, 5xx, timeouts,
	// connection refused, ...). The last underlying error is wrapped too.
	ErrUnavailable = errors.New("llm: service unavailable")
	// ErrRejected: the server refused the request with a non-retryable 4xx
	// (bad request, authentication, unknown model, ...), or go-openai refused
	// it before sending. Retrying the same request will not help.
	ErrRejected = errors.New("llm: request rejected")
	// ErrNotConfigured: New was given neither an API key nor a base URL.
	ErrNotConfigured = errors.New("llm: not configured (set OPENAI_API_KEY or OPENAI_BASE_URL)")
)

// InvalidAnswerError describes the last invalid answer. It matches
// ErrInvalidAnswer with errors.Is.
type InvalidAnswerError struct {
	Reason   string // why the last answer was rejected
	Content  string // the last answer, possibly truncated
	Attempts int    // answers received
}

func (e *InvalidAnswerError) Error() string {
	return fmt.Sprintf("llm: invalid answer after %d attempts: %s", e.Attempts, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidAnswer) true.
func (e *InvalidAnswerError) Unwrap() error { return ErrInvalidAnswer }

// Message is one chat message. Role is "system", "user" or "assistant".
type Message struct{ Role, Content string }

// Request is one call. Model, Temperature, MaxTokens and Seed override the Config.
type Request struct {
	Messages    []Message
	Model       string
	Temperature *float32
	// MaxTokens limits the completion tokens of this call: nil means
	// Config.MaxTokens, 0 no limit sent.
	MaxTokens *int
	Seed      *int
	// Check, for Complete, refuses an answer the caller cannot use (a report
	// narrative must be prose, not JSON); truncated says the server cut it off
	// at the token limit (finish_reason "length"). A refused answer is asked
	// again, like any invalid one, then the call fails with InvalidAnswerError.
	Check func(text string, truncated bool) error
	// KeepAnswer asks React to return, in Usage.Answer, the raw answer when it
	// was accepted at the first attempt: what the answer cache stores.
	KeepAnswer bool
}

// Reaction is a validated, clamped agent reaction.
type Reaction struct {
	Opinion string
	Care    float64 // 0..10
	Support float64 // -5..5 (change_in_support)
}

// Usage is the accounting of one call, summed over all its attempts. Token
// counts are the server's, each clamped to [0, MaxTokensPerAnswer] per answer.
type Usage struct {
	Calls            int // HTTP requests sent
	PromptTokens     int
	CompletionTokens int
	Retries          int // attempts beyond the first, whatever the reason
	Latency          time.Duration
	CostUSD          float64
	Anomalies        []Anomaly // what the client repaired in the answers
	// CacheHits counts answers taken from the answer cache instead of a
	// call (Calls 0), CostSavedUSD what they would have cost.
	CacheHits    int
	CostSavedUSD float64
	// Answer is the raw first-attempt answer, with Request.KeepAnswer.
	Answer *CachedAnswer
}

// CachedAnswer is an answer as the answer cache stores it: the server's raw
// text and token counts.
type CachedAnswer struct {
	Content          string
	PromptTokens     int
	CompletionTokens int
}

// Add accumulates o into u (to total a run).
func (u *Usage) Add(o Usage) {
	u.Calls += o.Calls
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.Retries += o.Retries
	u.Latency += o.Latency
	u.CostUSD += o.CostUSD
	u.CacheHits += o.CacheHits
	u.CostSavedUSD += o.CostSavedUSD
	u.Anomalies = append(u.Anomalies, o.Anomalies...)
}

// Client is safe for concurrent use. Its semaphore, rate limiters and
// response_format memory are per Client: use one per process.
type Client struct {
	cfg      Config
	api      *openai.Client
	sem      chan struct{}
	rpm, tpm *rate.Limiter // nil = unlimited
	noSchema atomic.Bool   // the server rejected response_format once
	observer atomic.Pointer[func(Anomaly)]
}

// New validates cfg, applies defaults and builds a Client.
func New(cfg Config) (*Client, error) {
	if !cfg.Configured() {
		return nil, ErrNotConfigured
	}
	if cfg.RequestsPerMinute < 0 || cfg.TokensPerMinute < 0 || cfg.MaxTokens < 0 {
		return nil, errors.New("llm: RequestsPerMinute, TokensPerMinute and MaxTokens must not be negative")
	}
	cfg = cfg.withDefaults()
	base, err := normalizeBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	cfg.BaseURL = base
	oc := openai.DefaultConfig(strings.TrimSpace(cfg.APIKey))
	oc.BaseURL = base
	oc.HTTPClient = newHTTPClient(cfg.HTTPClient, cfg.Concurrency)
	c := &Client{
		cfg: cfg,
		api: openai.NewClientWithConfig(oc),
		sem: make(chan struct{}, cfg.Concurrency),
	}
	if n := cfg.RequestsPerMinute; n > 0 {
		c.rpm = rate.NewLimiter(rate.Limit(float64(n)/60), max(1, min(n, cfg.Concurrency)))
	}
	if n := cfg.TokensPerMinute; n > 0 {
		c.tpm = rate.NewLimiter(rate.Limit(float64(n)/60), n)
	}
	return c, nil
}

// Config returns the effective configuration (defaults applied, BaseURL normalised).
func (c *Client) Config() Config { return c.cfg }

// React asks for one agent's reaction. It returns the validated, clamped
// reaction (its opinion storable and at most MaxOpinionChars long) and the
// usage of every attempt (also on error).
func (c *Client) React(ctx context.Context, req Request) (Reaction, Usage, error) {
	var (
		r  Reaction
		an []Anomaly
	)
	u, err := c.call(ctx, req, true, func(content string, _ bool) error {
		var perr error
		r, an, perr = acceptReaction(content)
		return perr
	})
	if err != nil {
		return Reaction{}, u, err
	}
	c.flag(&u, an...)
	return r, u, nil
}

// acceptReaction parses and checks an agent's answer (already cleaned as
// raw text): the one path for fresh and cached answers.
func acceptReaction(content string) (Reaction, []Anomaly, error) {
	r, err := parseReaction(content)
	if err != nil {
		return Reaction{}, nil, err
	}
	// JSON escapes (\u0000) bring back what cleaning the raw answer removed.
	var an []Anomaly
	r.Opinion, an = cleanText(r.Opinion, MaxOpinionChars, "opinion")
	if r.Opinion = strings.TrimSpace(r.Opinion); r.Opinion == "" {
		return Reaction{}, nil, errors.New(`"opinion" is empty`)
	}
	return r, an, nil
}

// MaxCachedAnswerBytes bounds an answer the cache stores: an agent's answer
// is a few hundred bytes; a longer one is used but not kept.
const MaxCachedAnswerBytes = 16 << 10

// CacheKey is the answer cache's key of an agent's request (React), and
// whether it may be cached at all: only a request sent at temperature 0
// with a seed (its answer is then meant to be reproducible), never to a
// reasoning model (it takes no temperature). The key is the hex SHA-256 of
// the server's base URL and the request exactly as the first attempt would
// send it (model, every sampling parameter, the messages, the response
// format), in go-openai's JSON encoding.
func (c *Client) CacheKey(req Request) (string, bool) {
	r, model := c.firstRequest(req, true)
	temp := c.cfg.Temperature
	if req.Temperature != nil {
		temp = req.Temperature
	}
	if IsReasoningModel(model) || temp == nil || *temp != 0 || r.Seed == nil {
		return "", false
	}
	b, err := json.Marshal(struct {
		BaseURL string                       `json:"base_url"`
		Request openai.ChatCompletionRequest `json:"request"`
	}{c.cfg.BaseURL, r})
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), true
}

// ReactCached is React answered by a stored answer: it is cleaned, parsed
// and checked as a fresh answer is (a stored answer is no more trusted than
// the server that wrote it), and counted as a cache hit with the cost it
// saves at today's LLM_PRICES. An invalid stored answer is an error: the
// caller asks the LLM instead.
func (c *Client) ReactCached(model string, a CachedAnswer) (Reaction, Usage, error) {
	if model == "" {
		model = c.cfg.Model
	}
	content, an := cleanText(a.Content, 0, "answer")
	r, an2, err := acceptReaction(content)
	if err != nil {
		return Reaction{}, Usage{}, err
	}
	u := Usage{CacheHits: 1, CostSavedUSD: c.Cost(model, max(a.PromptTokens, 0), max(a.CompletionTokens, 0))}
	c.flag(&u, append(an, an2...)...)
	return r, u, nil
}

// Complete is a plain text completion (for a report narrative), with the same
// retries, limits and accounting. An empty answer counts as invalid; the text
// is storable and at most MaxTextChars long.
func (c *Client) Complete(ctx context.Context, req Request) (string, Usage, error) {
	var (
		text string
		an   []Anomaly
	)
	u, err := c.call(ctx, req, false, func(content string, truncated bool) error {
		text, an = cleanText(strings.TrimSpace(stripThink(content)), MaxTextChars, "text")
		if text == "" {
			return errors.New("empty answer")
		}
		if req.Check != nil {
			return req.Check(text, truncated)
		}
		return nil
	})
	if err != nil {
		return "", u, err
	}
	c.flag(&u, an...)
	return text, u, nil
}

var dateSuffix = regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`)

// Cost is the USD price of the tokens for model. A dated snapshot name
// ("gpt-4.1-mini-2025-04-14") falls back to its base name; an unknown model
// costs 0 (see Priced).
func (c *Client) Cost(model string, promptTokens, completionTokens int) float64 {
	p, ok := c.price(model)
	if !ok {
		return 0
	}
	return (float64(promptTokens)*p.PromptPerMTok + float64(completionTokens)*p.CompletionPerMTok) / 1e6
}

// Priced reports whether model has a price (Config.Prices, LLM_PRICES), that
// is whether a cost budget can be enforced for it.
func (c *Client) Priced(model string) bool {
	_, ok := c.price(model)
	return ok
}

func (c *Client) price(model string) (Price, bool) {
	p, ok := c.cfg.Prices[model]
	if !ok {
		p, ok = c.cfg.Prices[dateSuffix.ReplaceAllString(model, "")]
	}
	return p, ok
}

// ModelAllowed reports whether a request may name model: any model when
// Config.AllowedModels is empty, else one listed there or Config.Model.
func (c *Client) ModelAllowed(model string) bool {
	return len(c.cfg.AllowedModels) == 0 || model == c.cfg.Model || slices.Contains(c.cfg.AllowedModels, model)
}

// IsReasoningModel mirrors go-openai's ReasoningValidator, which refuses
// max_tokens and temperature for these models before sending: a temperature
// is not sent to them, and a token limit goes as max_completion_tokens,
// which counts their reasoning too.
func IsReasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

const (
	defaultCompletionEstimate = 512  // tokens reserved when MaxTokens is 0
	maxEchoedAnswer           = 4000 // bytes of an invalid answer echoed in a re-ask
)

// call runs the attempt loop shared by React and Complete.
func (c *Client) call(ctx context.Context, req Request, structured bool, accept func(content string, truncated bool) error) (u Usage, err error) {
	start := time.Now()
	model := req.Model
	if model == "" {
		model = c.cfg.Model
	}
	defer func() {
		u.Latency = time.Since(start)
		u.CostUSD = c.Cost(model, u.PromptTokens, u.CompletionTokens)
	}()
	if err := ctx.Err(); err != nil {
		return u, err
	}
	msgs, err := toOpenAI(req.Messages)
	if err != nil {
		return u, err
	}
	base, maxTokens := c.baseRequest(req, model)
	completionEst := maxTokens
	if completionEst == 0 {
		completionEst = defaultCompletionEstimate
	}

	var (
		transportRetries, invalidRetries, answers int
		forceNoSchema                             bool
		kept                                      CachedAnswer // the first answer, for Request.KeepAnswer
	)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return u, err
		}
		if attempt > 0 {
			u.Retries++
		}
		useSchema := structured && !forceNoSchema && !c.noSchema.Load()
		r := base
		r.Messages = msgs
		if useSchema {
			r.ResponseFormat = reactionFormat()
		} else if structured {
			r.Messages = withInstruction(msgs, jsonInstruction)
		}

		if attempt == 0 && req.KeepAnswer {
			defer func() {
				// Kept only when the first attempt's answer was accepted: it
				// answers exactly the request CacheKey describes.
				if err == nil && answers == 1 && u.Calls == 1 && len(kept.Content) <= MaxCachedAnswerBytes {
					a := kept
					u.Answer = &a
				}
			}()
		}
		resp, meta, aerr := c.attempt(ctx, r, estimateTokens(r.Messages)+completionEst)
		if meta.sent {
			u.Calls++
		}
		c.flag(&u, meta.anomalies...)
		if aerr != nil && ctx.Err() != nil {
			return u, ctx.Err()
		}

		if aerr == nil {
			if forceNoSchema {
				c.noSchema.Store(true) // the server works without response_format
			}
			u.PromptTokens += resp.Usage.PromptTokens
			u.CompletionTokens += resp.Usage.CompletionTokens
			answers++
			content, reason := answerOf(resp)
			if answers == 1 {
				kept = CachedAnswer{Content: content, PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}
			}
			var an []Anomaly
			content, an = cleanText(content, 0, "answer")
			c.flag(&u, an...)
			if reason == "" {
				perr := accept(content, resp.Choices[0].FinishReason == openai.FinishReasonLength)
				if perr == nil {
					return u, nil
				}
				reason = perr.Error()
				if resp.Choices[0].FinishReason == openai.FinishReasonLength {
					reason += "; the answer was cut off at the token limit, answer more briefly"
				}
			}
			if invalidRetries >= c.cfg.MaxInvalidRetries {
				return u, &InvalidAnswerError{Reason: reason, Content: truncate(content, maxEchoedAnswer), Attempts: answers}
			}
			invalidRetries++
			msgs = reask(msgs, content, reason, structured)
			continue // no backoff: the server is fine, the answer was not
		}

		switch classify(aerr, meta) {
		case classQuota:
			return u, fmt.Errorf("%w: %w", ErrQuota, aerr)
		case classBadRequest:
			if useSchema {
				forceNoSchema = true // retry at once without response_format
				continue
			}
			return u, fmt.Errorf("%w: %w", ErrRejected, aerr)
		case classRejected:
			return u, fmt.Errorf("%w: %w", ErrRejected, aerr)
		}
		if transportRetries >= c.cfg.MaxRetries {
			return u, fmt.Errorf("%w after %d attempts: %w", ErrUnavailable, attempt+1, detach(aerr))
		}
		if err := sleepCtx(ctx, c.backoff(transportRetries, meta.retryAfter)); err != nil {
			return u, err
		}
		transportRetries++
	}
}

// baseRequest is a call's request without its messages, and its
// completion token limit (0: none sent).
func (c *Client) baseRequest(req Request, model string) (openai.ChatCompletionRequest, int) {
	base := openai.ChatCompletionRequest{Model: model}
	reasoning := IsReasoningModel(model)
	maxTokens := c.cfg.MaxTokens
	if req.MaxTokens != nil {
		maxTokens = max(*req.MaxTokens, 0)
	}
	if maxTokens > 0 {
		if reasoning {
			base.MaxCompletionTokens = maxTokens
		} else {
			base.MaxTokens = maxTokens
		}
	}
	temp := c.cfg.Temperature
	if req.Temperature != nil {
		temp = req.Temperature
	}
	if temp != nil && !reasoning {
		base.Temperature = *temp
		if base.Temperature == 0 {
			base.Temperature = math.SmallestNonzeroFloat32 // go-openai omits 0
		}
	}
	seed := c.cfg.Seed
	if req.Seed != nil {
		seed = req.Seed
	}
	if seed != nil {
		s := *seed
		base.Seed = &s
	}
	return base, maxTokens
}

// firstRequest is the request the first attempt of a call sends, with
// its model (for CacheKey: it must match what call builds).
func (c *Client) firstRequest(req Request, structured bool) (openai.ChatCompletionRequest, string) {
	model := req.Model
	if model == "" {
		model = c.cfg.Model
	}
	r, _ := c.baseRequest(req, model)
	msgs, err := toOpenAI(req.Messages)
	if err != nil {
		return r, model
	}
	r.Messages = msgs
	if structured && !c.noSchema.Load() {
		r.ResponseFormat = reactionFormat()
	} else if structured {
		r.Messages = withInstruction(msgs, jsonInstruction)
	}
	return r, model
}

// reactionFormat is the structured output an agent's answer is asked for.
func reactionFormat() *openai.ChatCompletionResponseFormat {
	return &openai.ChatCompletionResponseFormat{
		Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
		JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
			Name:   "agent_reaction",
			Schema: reactionSchema,
			Strict: true,
		},
	}
}

// attempt sends one HTTP request under the semaphore, the rate limiters and
// the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, r openai.ChatCompletionRequest, est int) (openai.ChatCompletionResponse, *attemptMeta, error) {
	meta := &attemptMeta{}
	var zero openai.ChatCompletionResponse
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, meta, ctx.Err()
	}
	defer func() { <-c.sem }()
	if err := waitN(ctx, c.rpm, 1); err != nil {
		return zero, meta, err
	}
	est = min(est, c.tpmBurst())
	if err := waitN(ctx, c.tpm, est); err != nil {
		return zero, meta, err
	}

	actx, cancel := context.WithTimeout(withMeta(ctx, meta), c.cfg.CallTimeout)
	defer cancel()
	resp, err := c.api.CreateChatCompletion(actx, r)
	if err != nil {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			err = &attemptTimeoutError{after: c.cfg.CallTimeout}
		}
		return zero, meta, err
	}
	meta.anomalies = cleanUsage(&resp.Usage)
	if c.tpm != nil {
		if actual := resp.Usage.PromptTokens + resp.Usage.CompletionTokens; actual > 0 {
			adjustTokens(c.tpm, actual-est)
		}
	}
	return resp, meta, nil
}

func (c *Client) tpmBurst() int {
	if c.tpm == nil {
		return math.MaxInt
	}
	return c.tpm.Burst()
}

// waitN reserves n tokens and waits for them, giving them back if ctx ends
// first. Unlike rate.Limiter.WaitN it returns ctx.Err() itself (not a
// "would exceed context deadline" error) and only when ctx is done.
func waitN(ctx context.Context, lim *rate.Limiter, n int) error {
	if lim == nil || n <= 0 {
		return nil
	}
	res := lim.ReserveN(time.Now(), min(n, lim.Burst()))
	if !res.OK() {
		return fmt.Errorf("llm: rate limiter cannot grant %d tokens", n)
	}
	if err := sleepCtx(ctx, res.Delay()); err != nil {
		res.Cancel()
		return err
	}
	return nil
}

// adjustTokens corrects the token bucket after a call whose real usage
// differs from its estimate by diff. A positive diff is charged as debt (later
// callers wait longer); a negative diff is given back. rate.Limiter has no
// refund method: ReserveN with a negative n adds tokens (capped at the burst on
// the next update). TestTokenLimiterRefund guards this behaviour.
func adjustTokens(lim *rate.Limiter, diff int) {
	if diff == 0 {
		return
	}
	b := lim.Burst()
	diff = max(-b, min(diff, b))
	lim.ReserveN(time.Now(), diff)
}

// backoff returns the wait before transport retry n (0-based): the server's
// retry hint plus up to BackoffBase of jitter, or full jitter over
// min(BackoffMax, BackoffBase·2^n); both capped at BackoffMax.
func (c *Client) backoff(n int, retryAfter time.Duration) time.Duration {
	bmax, bbase := c.cfg.BackoffMax, c.cfg.BackoffBase
	if retryAfter > 0 {
		return min(retryAfter+rand.N(bbase), bmax)
	}
	ceil := bmax
	if n < 62 && bbase <= bmax>>uint(n) {
		ceil = bbase << uint(n)
	}
	return rand.N(ceil + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type errClass int

const (
	classRetryable errClass = iota
	classQuota
	classBadRequest
	classRejected
)

// classify decides what to do with a failed attempt.
func classify(err error, meta *attemptMeta) errClass {
	var (
		apiErr *openai.APIError
		reqErr *openai.RequestError
		tmo    *attemptTimeoutError
		status int
	)
	switch {
	case errors.As(err, &tmo):
		return classRetryable
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
		if isQuotaCode(apiErr.Code) || isQuotaCode(apiErr.Type) {
			return classQuota
		}
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
		if status == 429 && (bytes.Contains(reqErr.Body, []byte("insufficient_quota")) ||
			bytes.Contains(reqErr.Body, []byte("billing_"))) {
			return classQuota
		}
	default:
		status = meta.status
	}
	switch {
	case status == 0 && !meta.sent:
		return classRejected // refused by go-openai before sending (validation)
	case status == 0:
		return classRetryable // connection refused/reset, DNS, EOF...
	case status == 402:
		return classQuota
	case status == 400:
		return classBadRequest
	case status == 408 || status == 409 || status == 429 || status >= 500:
		return classRetryable
	case status >= 200 && status < 300:
		return classRetryable // 2xx with an unreadable body
	default:
		return classRejected
	}
}

func isQuotaCode(v any) bool {
	s, _ := v.(string)
	return s == "insufficient_quota" || strings.HasPrefix(s, "billing_")
}

// attemptTimeoutError is a per-attempt timeout. It deliberately does not
// match context.DeadlineExceeded, which callers use for their own ctx.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("llm: no answer within the call timeout (%s)", e.after)
}
func (e *attemptTimeoutError) Timeout() bool { return true }

// detach keeps an error's text but cuts its chain when it would match a
// context error (e.g. http.Client.Timeout), for the same reason.
func detach(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errors.New(err.Error())
	}
	return err
}

// answerOf returns the content of the first choice, or a reason why there
// is no usable content.
func answerOf(resp openai.ChatCompletionResponse) (content, reason string) {
	if len(resp.Choices) == 0 {
		return "", "the response has no choices"
	}
	ch := resp.Choices[0]
	content = ch.Message.Content
	if strings.TrimSpace(content) == "" && ch.Message.Refusal != "" {
		return "", "the model refused: " + ch.Message.Refusal
	}
	return content, ""
}

// reask appends the rejected answer and a correction so the next attempt
// differs even with a fixed seed. An empty answer is not echoed (an empty
// assistant message is invalid for some servers): the request is resent.
func reask(msgs []openai.ChatCompletionMessage, content, reason string, structured bool) []openai.ChatCompletionMessage {
	if strings.TrimSpace(content) == "" {
		return msgs
	}
	fix := "Your previous answer was not usable (" + reason + ")."
	if structured {
		fix += " " + jsonInstruction
	} else {
		fix += " Please answer again."
	}
	out := make([]openai.ChatCompletionMessage, len(msgs), len(msgs)+2)
	copy(out, msgs)
	return append(out,
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleAssistant, Content: truncate(content, maxEchoedAnswer)},
		openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: fix},
	)
}

// withInstruction appends instr to the last user message (a trailing system
// message breaks the chat templates of some local models).
func withInstruction(msgs []openai.ChatCompletionMessage, instr string) []openai.ChatCompletionMessage {
	out := make([]openai.ChatCompletionMessage, len(msgs))
	copy(out, msgs)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Role == openai.ChatMessageRoleUser {
			if !strings.Contains(out[i].Content, instr) {
				out[i].Content += "\n\n" + instr
			}
			return out
		}
	}
	return append(out, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: instr})
}

func toOpenAI(in []Message) ([]openai.ChatCompletionMessage, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrRejected)
	}
	out := make([]openai.ChatCompletionMessage, len(in))
	for i, m := range in {
		switch m.Role {
		case openai.ChatMessageRoleSystem, openai.ChatMessageRoleUser, openai.ChatMessageRoleAssistant:
		default:
			return nil, fmt.Errorf("%w: message %d has role %q (want system, user or assistant)", ErrRejected, i, m.Role)
		}
		out[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	return out, nil
}

// estimateTokens is the pre-call prompt estimate: bytes/4 plus a few tokens
// of framing per message.
func estimateTokens(msgs []openai.ChatCompletionMessage) int {
	n := 0
	for _, m := range msgs {
		n += messageTokens(m.Content)
	}
	return n
}

// EstimatePromptTokens is the prompt tokens msgs are expected to take: the
// estimate the client reserves against LLM_TOKENS_PER_MINUTE before a call,
// about 4 bytes a token for English text (OpenAI's rule of thumb; no
// tokenizer is bundled, and the server's count is the one a run records).
func EstimatePromptTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += messageTokens(m.Content)
	}
	return n
}

func messageTokens(content string) int { return MessageTokens(len(content)) }

// MessageTokens is EstimatePromptTokens of one message of n bytes.
func MessageTokens(n int) int { return (n+3)/4 + 4 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
