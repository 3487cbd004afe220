package llm

import "testing"

// CacheKey: only a request at temperature 0 with a seed has a key, and any
// change to what is sent changes it.
func TestCacheKey(t *testing.T) {
	c, err := New(Config{APIKey: "k", BaseURL: "http://127.0.0.1:1/v1", Model: "gpt-4.1-mini"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{APIKey: "k", BaseURL: "http://127.0.0.2:1/v1", Model: "gpt-4.1-mini"})
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float32) *float32 { return &v }
	i := func(v int) *int { return &v }
	msgs := []Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}
	base := Request{Messages: msgs, Temperature: f(0), Seed: i(7), MaxTokens: i(200)}
	key, ok := c.CacheKey(base)
	if !ok || len(key) != 64 {
		t.Fatalf("base request: key %q, %v", key, ok)
	}
	if again, _ := c.CacheKey(base); again != key {
		t.Fatal("the same request has another key")
	}
	with := func(mod func(*Request)) Request {
		r := base
		mod(&r)
		return r
	}
	for _, tc := range []struct {
		name      string
		client    *Client
		req       Request
		cacheable bool
	}{
		{"temperature above 0", c, with(func(r *Request) { r.Temperature = f(0.4) }), false},
		{"no temperature (the server's default)", c, with(func(r *Request) { r.Temperature = nil }), false},
		{"no seed", c, with(func(r *Request) { r.Seed = nil }), false},
		{"a reasoning model", c, with(func(r *Request) { r.Model = "o3-mini" }), false},
		{"another seed", c, with(func(r *Request) { r.Seed = i(8) }), true},
		{"another model", c, with(func(r *Request) { r.Model = "gpt-4.1-nano" }), true},
		{"another answer limit", c, with(func(r *Request) { r.MaxTokens = i(100) }), true},
		{"another message", c, with(func(r *Request) { r.Messages = []Message{msgs[0], {Role: "user", Content: "v"}} }), true},
		{"another server", other, base, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := tc.client.CacheKey(tc.req)
			if ok != tc.cacheable || (ok && k == key) {
				t.Fatalf("key %q (cacheable %v), base key %q", k, ok, key)
			}
		})
	}
}

// A cached answer goes through the checks a fresh one does.
func TestReactCachedChecksTheAnswer(t *testing.T) {
	c, err := New(Config{APIKey: "k", BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		content string
		ok      bool
	}{
		{`{"opinion": "Fine by me.", "care": 4, "change_in_support": 1}`, true},
		{`{"opinion": "Loud\u0000 and clear", "care": 40, "change_in_support": -9}`, true}, // cleaned and clamped
		{`{"opinion": "", "care": 4, "change_in_support": 1}`, false},
		{`not json`, false},
		{``, false},
	} {
		r, u, err := c.ReactCached("gpt-4.1-mini", CachedAnswer{Content: tc.content, PromptTokens: 100, CompletionTokens: 30})
		if (err == nil) != tc.ok {
			t.Fatalf("%q: error %v", tc.content, err)
		}
		if tc.ok && (u.CacheHits != 1 || u.Calls != 0 || !(u.CostSavedUSD > 0) || r.Care > 10 || r.Support < -5 || containsNUL(r.Opinion)) {
			t.Fatalf("%q: %+v %+v", tc.content, r, u)
		}
	}
}

func containsNUL(s string) bool {
	for _, c := range s {
		if c == 0 {
			return true
		}
	}
	return false
}
