package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// reactionSchema is the strict JSON schema sent as response_format. It has
// no descriptions: the caller's prompt says what the fields mean (the
// simulation's system prompt does), and OpenAI counts every byte of the
// schema as prompt tokens on every call.
var reactionSchema = json.RawMessage(`{"type":"object","properties":{"opinion":{"type":"string"},` +
	`"care":{"type":"number"},"change_in_support":{"type":"number"}},` +
	`"required":["opinion","care","change_in_support"],"additionalProperties":false}`)

// jsonInstruction is appended to the last user message when the server does
// not accept response_format, and used in re-asks.
const jsonInstruction = `Respond with only a JSON object of the form {"opinion": "<string>", "care": <number 0 to 10>, "change_in_support": <number -5 to 5>} and nothing else.`

const (
	careMin, careMax       = 0.0, 10.0
	supportMin, supportMax = -5.0, 5.0
	maxCandidates          = 16 // JSON objects tried per answer
)

// parseReaction extracts, validates and clamps a reaction from model output.
// It tries each balanced {...} object in order (so prose, fences and wrapper
// objects are skipped) and returns the first that validates; otherwise the
// reason the first candidate failed.
func parseReaction(content string) (Reaction, error) {
	content = stripThink(content)
	var firstErr error
	start := 0
	for range maxCandidates {
		obj, next, ok := nextObject(content, start)
		if !ok {
			break
		}
		r, err := reactionFromObject(obj)
		if err == nil {
			return r, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		start = next
	}
	if firstErr == nil {
		return Reaction{}, errors.New("no JSON object in the answer")
	}
	return Reaction{}, firstErr
}

// stripThink removes <think>...</think> blocks that reasoning models served by
// vLLM/Ollama put before the answer (they may contain braces).
func stripThink(s string) string {
	for {
		i := strings.Index(s, "<think>")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "</think>")
		if j < 0 {
			return s[:i] // unterminated: the answer never came
		}
		s = s[:i] + s[i+j+len("</think>"):]
	}
}

// nextObject finds the first '{' at or after start and its balanced closing
// brace, honouring JSON strings and escapes. next is where to continue looking
// for another candidate (just after this opening brace, so nested objects are
// candidates too).
func nextObject(s string, start int) (obj string, next int, ok bool) {
	for range 4 * maxCandidates { // bounds the work on pathological input
		i := strings.IndexByte(s[start:], '{')
		if i < 0 {
			return "", 0, false
		}
		i += start
		depth, inStr, esc := 0, false, false
		for j := i; j < len(s); j++ {
			c := s[j]
			switch {
			case inStr:
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
			case c == '"':
				inStr = true
			case c == '{':
				depth++
			case c == '}':
				depth--
				if depth == 0 {
					return s[i : j+1], i + 1, true
				}
			}
		}
		// Unbalanced from i: an inner '{' may still close.
		start = i + 1
	}
	return "", 0, false
}

// reactionFromObject validates one JSON object.
func reactionFromObject(obj string) (Reaction, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(obj))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return Reaction{}, fmt.Errorf("not valid JSON: %v", err)
	}
	fields := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		fields[normKey(k)] = v
	}
	if _, ok := fields["changeinsupport"]; !ok {
		if v, ok := fields["support"]; ok {
			fields["changeinsupport"] = v
		}
	}
	var r Reaction
	raw, ok := fields["opinion"]
	if !ok {
		return Reaction{}, errors.New(`missing "opinion"`)
	}
	if err := json.Unmarshal(raw, &r.Opinion); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return Reaction{}, errors.New(`"opinion" must be a string`)
	}
	r.Opinion = strings.TrimSpace(r.Opinion)
	if r.Opinion == "" {
		return Reaction{}, errors.New(`"opinion" is empty`)
	}
	var err error
	if r.Care, err = numberField(fields, "care", "care"); err != nil {
		return Reaction{}, err
	}
	if r.Support, err = numberField(fields, "changeinsupport", "change_in_support"); err != nil {
		return Reaction{}, err
	}
	r.Care = min(max(r.Care, careMin), careMax)
	r.Support = min(max(r.Support, supportMin), supportMax)
	return r, nil
}

// normKey lower-cases a key and drops everything but letters and digits, so
// change_in_support, changeInSupport and "Change in support" compare equal.
func normKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// numberField reads a JSON number or a string holding a number ("7", " +2.5 ").
func numberField(fields map[string]json.RawMessage, key, name string) (float64, error) {
	raw, ok := fields[key]
	if !ok {
		return 0, fmt.Errorf("missing %q", name)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return 0, fmt.Errorf("%q: %v", name, err)
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("%q must be a number", name)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q must be a finite number, got %s", name, strings.TrimSpace(string(raw)))
	}
	return f, nil
}
