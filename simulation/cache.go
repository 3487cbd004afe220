package simulation

import (
	"context"
	"database/sql"
	"time"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/llmcacheentry"
	"github.com/ethox/ethox/simulation/llm"
)

// The answer cache (runSimulation's cache, off by default): a run with it
// answers a call from llm_cache_entries when an identical request (same
// server, model, sampling parameters, messages, response format; see
// llm.Client.CacheKey) was answered before, and stores its own first-attempt
// answers there, in the batch of its step. Only requests at temperature 0
// with a seed are looked up or stored: any other answer is a draw from a
// distribution, and reusing it would pass one draw off as several
// independent ones (the spread replicates measure would collapse). A stored
// answer is parsed and checked again on every reuse (llm.Client.ReactCached),
// and an invalid one is a miss. The table is bounded: entries older than
// LLM_CACHE_TTL are not used and are deleted, and beyond
// LLM_CACHE_MAX_ENTRIES the oldest go (pruneCache, at most once a minute per
// process after a write).

// cacheEntry is an answer on its way to the cache, with its step's batch.
type cacheEntry struct {
	key, model string
	answer     llm.CachedAnswer
}

// cachedAnswer returns the live stored answer under key.
func (s *Service) cachedAnswer(ctx context.Context, key string) (llm.CachedAnswer, bool, error) {
	e, err := s.db.Client.LLMCacheEntry.Query().
		Where(llmcacheentry.Key(key), llmcacheentry.CreatedAtGT(time.Now().UTC().Add(-s.cfg.CacheTTL))).
		Only(ctx)
	if ent.IsNotFound(err) {
		return llm.CachedAnswer{}, false, nil
	}
	if err != nil {
		return llm.CachedAnswer{}, false, err
	}
	return llm.CachedAnswer{Content: e.Answer, PromptTokens: e.PromptTokens, CompletionTokens: e.CompletionTokens}, true, nil
}

// storeCached writes entries in the step batch's transaction. A key stored
// already was a miss for this step (expired, or its answer refused): the
// fresh answer replaces it.
func (s *Service) storeCached(ctx context.Context, tx *sql.Tx, entries []cacheEntry) error {
	if len(entries) == 0 {
		return nil
	}
	ph := s.db.Placeholder
	q := `INSERT INTO llm_cache_entries ("key", model, answer, prompt_tokens, completion_tokens, created_at) VALUES (` +
		ph(1) + `, ` + ph(2) + `, ` + ph(3) + `, ` + ph(4) + `, ` + ph(5) + `, ` + ph(6) + `) ON CONFLICT ("key") DO UPDATE SET answer = excluded.answer, prompt_tokens = excluded.prompt_tokens, ` +
		`completion_tokens = excluded.completion_tokens, created_at = excluded.created_at`
	now := time.Now().UTC()
	for _, e := range entries {
		if _, err := tx.ExecContext(ctx, q, e.key, e.model, e.answer.Content, max(e.answer.PromptTokens, 0),
			max(e.answer.CompletionTokens, 0), now); err != nil {
			return err
		}
	}
	if last := s.cachePruned.Load(); time.Since(time.Unix(0, last)) > time.Minute && s.cachePruned.CompareAndSwap(last, now.UnixNano()) {
		s.onCommit(tx, func() {
			go func() {
				pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := s.pruneCache(pctx); err != nil {
					s.log.Warn("prune the LLM answer cache", "error", err)
				}
			}()
		})
	}
	return nil
}

// pruneCache deletes expired entries, then the oldest beyond the row cap
// (ids grow with insertion on both databases).
func (s *Service) pruneCache(ctx context.Context) error {
	ph := s.db.Placeholder
	if _, err := s.db.SQL.ExecContext(ctx, `DELETE FROM llm_cache_entries WHERE created_at < `+ph(1),
		time.Now().UTC().Add(-s.cfg.CacheTTL)); err != nil {
		return err
	}
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM llm_cache_entries WHERE id <= (SELECT id FROM llm_cache_entries ORDER BY id DESC LIMIT 1 OFFSET `+ph(1)+`)`,
		s.cfg.CacheMaxEntries)
	return err
}
