package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// LLMCacheEntry is one stored LLM answer of the opt-in answer cache
// (runSimulation's cache: simulation/cache.go): written only for a request
// at temperature 0 with a seed, reused only for the identical request.
// Bounded by LLM_CACHE_MAX_ENTRIES and LLM_CACHE_TTL; an answer longer than
// llm.MaxCachedAnswerBytes is not stored.
type LLMCacheEntry struct {
	ent.Schema
}

func (LLMCacheEntry) Fields() []ent.Field {
	return []ent.Field{
		// Hex SHA-256 of the canonical request (llm.Client.CacheKey).
		field.String("key").Unique().Immutable().NotEmpty().MaxLen(64),
		field.String("model").Immutable(),
		// The raw answer text as the server sent it: parsed and validated again
		// on every reuse, like a fresh answer.
		field.Text("answer").Immutable(),
		field.Int("prompt_tokens").NonNegative().Immutable(),
		field.Int("completion_tokens").NonNegative().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (LLMCacheEntry) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")} // expiry and the row cap drop the oldest first
}

func (LLMCacheEntry) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
