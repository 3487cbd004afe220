package networkfile

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// A minimal reader for one array element that encoding/json has already
// scanned. Decoding elements through reflection (map[string]any, structs)
// cost ~3x more than the rest of Decode together; since json.Decoder has
// validated the element's syntax before handing the bytes to UnmarshalJSON,
// this code can assume well-formed JSON and stay small.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace drops the whitespace encoding/json may leave around a value.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// stringEnd returns the index just past the string starting at b[i] == '"'
// and whether it contains escapes.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return len(b), escaped
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
			j++
		}
		return j
	}
}

// unquote returns the contents of the JSON string literal s (quotes
// included), taking the copy-free path when there are no escapes. Invalid
// UTF-8 takes the slow path too, so it becomes U+FFFD exactly as
// encoding/json (and therefore any later json.Marshal) would have it.
func unquote(s []byte) []byte {
	if end, escaped := stringEnd(s, 0); !escaped && end == len(s) && utf8.Valid(s[1:end-1]) {
		return s[1 : len(s)-1]
	}
	var out string
	_ = json.Unmarshal(s, &out) // s is a valid JSON string, so this cannot fail
	return []byte(out)
}

// members iterates over an object's members; b must start with '{'.
type members struct {
	b []byte
	i int
}

func newMembers(b []byte) members { return members{b: b, i: 1} }

// next returns the next key (unquoted) and raw value, or ok == false at the
// closing brace.
func (m *members) next() (key, val []byte, ok bool) {
	b := m.b
	i := skipSpace(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	kend, _ := stringEnd(b, i)
	key = unquote(b[i:kend])
	i = skipSpace(b, kend)
	i = skipSpace(b, i+1) // past ':'
	vend := valueEnd(b, i)
	m.i = vend
	return key, b[i:vend], true
}

// elements iterates over an array's elements; b must start with '['.
type elements struct {
	b []byte
	i int
}

func newElements(b []byte) elements { return elements{b: b, i: 1} }

func (a *elements) next() (val []byte, ok bool) {
	b := a.b
	i := skipSpace(b, a.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		return nil, false
	}
	end := valueEnd(b, i)
	a.i = end
	return b[i:end], true
}

// isNumber reports whether the raw value is a JSON number literal.
func isNumber(v []byte) bool {
	return len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// parseFinite parses a raw JSON value that must be a number fitting a finite
// float64 (1e999 overflows and is rejected).
func parseFinite(v []byte) (float64, bool) {
	if !isNumber(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

// decodeAny converts a raw value to the types encoding/json uses for `any`
// (numbers as float64). On a number that overflows float64 it returns the
// path (".key" / "[j]" segments) of that number and ok == false.
func decodeAny(v []byte) (any, string, bool) {
	switch v[0] {
	case 'n':
		return nil, "", true
	case 't':
		return true, "", true
	case 'f':
		return false, "", true
	case '"':
		return string(unquote(v)), "", true
	case '{':
		m := map[string]any{}
		it := newMembers(v)
		for k, raw, ok := it.next(); ok; k, raw, ok = it.next() {
			x, path, ok := decodeAny(raw)
			if !ok {
				return nil, "." + string(k) + path, false
			}
			m[string(k)] = x
		}
		return m, "", true
	case '[':
		s := []any{}
		it := newElements(v)
		for raw, ok := it.next(); ok; raw, ok = it.next() {
			x, path, ok := decodeAny(raw)
			if !ok {
				return nil, "[" + strconv.Itoa(len(s)) + "]" + path, false
			}
			s = append(s, x)
		}
		return s, "", true
	default:
		f, ok := parseFinite(v)
		return f, "", ok
	}
}
