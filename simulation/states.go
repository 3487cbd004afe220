package simulation

import (
	"context"
	"strings"
	"time"

	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/simulation/dynamics"
	"github.com/ethox/ethox/simulation/llm"
)

// StateView is an agent's view after a step: what it thinks of the trigger,
// how much it cares (0..10) and its change in support (-5..5).
type StateView struct {
	Opinion       string
	Care, Support float64
}

// agentStates owns the agent_states table: every read and write of it goes
// through here (the GraphQL states connection pages it through ent).
// Statements are plain SQL: inserts are batched and skip stored steps (ON
// CONFLICT DO NOTHING), and reads scan only the columns they need.
type agentStates struct{ db *database.DB }

var stateColumns = []string{"simulation_id", "agent_id", "round", "opinion", "care", "support", "failed", "error",
	"latency_ms", "prompt_tokens", "completion_tokens", "retries", "created_at"}

const skipStored = "ON CONFLICT (simulation_id, agent_id, round) DO NOTHING"

// insertStep stores one LLM step in tx, unless the agent already has a state
// in that round; errMsg is kept only for a failed step.
func (t agentStates) insertStep(ctx context.Context, tx execer, simID, agentPK, round int, st StateView, failed bool, errMsg string, u llm.Usage) (inserted bool, err error) {
	var errCol any
	if failed {
		errCol = llm.CleanText(errMsg, maxErrorChars)
	}
	res, err := tx.ExecContext(ctx, database.InsertSQL(t.db.Dialect, "agent_states", stateColumns, 1, skipStored),
		simID, agentPK, round, st.Opinion, st.Care, st.Support, failed, errCol,
		u.Latency.Milliseconds(), u.PromptTokens, u.CompletionTokens, u.Retries, time.Now().UTC())
	if err != nil {
		return false, err
	}
	k, _ := res.RowsAffected()
	return k == 1, nil
}

// stepRow is one finished LLM step as insertSteps stores it.
type stepRow struct {
	agentPK, round int
	st             StateView
	failed         bool
	errMsg         string // kept only for a failed step
	u              llm.Usage
}

// insertSteps stores steps in tx with multi-row INSERTs (as many rows per
// statement as the bind-variable cap allows), skipping agents that already
// have a state in that round, and reports which rows it inserted: RETURNING
// lists only inserted rows on both databases.
func (t agentStates) insertSteps(ctx context.Context, tx querier, simID int, rows []stepRow) ([]bool, error) {
	inserted := make([]bool, len(rows))
	at := make(map[[2]int]int, len(rows)) // (agent, round) -> first row with it
	for i, r := range rows {
		if _, ok := at[[2]int{r.agentPK, r.round}]; !ok {
			at[[2]int{r.agentPK, r.round}] = i
		}
	}
	per := 30000 / len(stateColumns) // under SQLite's 32,766 bound variables (database.InsertBatches's cap)
	now := time.Now().UTC()
	args := make([]any, 0, min(per, len(rows))*len(stateColumns))
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		args = args[:0]
		for _, r := range rows[start:end] {
			var errCol any
			if r.failed {
				errCol = llm.CleanText(r.errMsg, maxErrorChars)
			}
			args = append(args, simID, r.agentPK, r.round, r.st.Opinion, r.st.Care, r.st.Support, r.failed, errCol,
				r.u.Latency.Milliseconds(), r.u.PromptTokens, r.u.CompletionTokens, r.u.Retries, now)
		}
		res, err := tx.QueryContext(ctx, database.InsertSQL(t.db.Dialect, "agent_states", stateColumns, end-start,
			skipStored+" RETURNING agent_id, round"), args...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			var pk, round int
			if err := res.Scan(&pk, &round); err != nil {
				res.Close()
				return nil, err
			}
			if i, ok := at[[2]int{pk, round}]; ok {
				inserted[i] = true
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// insertRound stores one classical round of every agent (pks in node order)
// in tx, skipping stored states, and returns how many it inserted; opinions
// (nil: none) are the texts kept at stage 0.
func (t agentStates) insertRound(ctx context.Context, tx database.Execer, simID, round int, pks []int, st dynamics.State, opinions []string) (int64, error) {
	now := time.Now().UTC()
	return database.InsertBatches(ctx, tx, t.db.Dialect, "agent_states", stateColumns, skipStored, len(pks),
		func(i int, args []any) []any {
			op := ""
			if opinions != nil {
				op = opinions[i]
			}
			return append(args, simID, pks[i], round, op, st.Care[i], st.Support[i], false, nil, 0, 0, 0, 0, now)
		})
}

// stored returns which agents with primary keys in [lo, hi] have a state in round.
func (t agentStates) stored(ctx context.Context, simID, round, lo, hi int) (map[int]bool, error) {
	ph := t.db.Placeholder
	rows, err := t.db.SQL.QueryContext(ctx, `SELECT agent_id FROM agent_states WHERE simulation_id = `+ph(1)+
		` AND round = `+ph(2)+` AND agent_id >= `+ph(3)+` AND agent_id <= `+ph(4), simID, round, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[int]bool{}
	for rows.Next() {
		var pk int
		if err := rows.Scan(&pk); err != nil {
			return nil, err
		}
		done[pk] = true
	}
	return done, rows.Err()
}

// each calls f with every state of round, by agent primary key; with pks,
// only those agents' states.
func (t agentStates) each(ctx context.Context, simID, round int, pks []int, f func(pk int, v StateView)) error {
	ph := t.db.Placeholder
	q := `SELECT agent_id, opinion, care, support FROM agent_states WHERE simulation_id = ` + ph(1) + ` AND round = ` + ph(2)
	args := []any{simID, round}
	if pks != nil {
		in := make([]string, len(pks))
		for k, pk := range pks {
			in[k] = ph(k + 3)
			args = append(args, pk)
		}
		q += ` AND agent_id IN (` + strings.Join(in, ", ") + `)`
	}
	rows, err := t.db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pk int
		var v StateView
		if err := rows.Scan(&pk, &v.Opinion, &v.Care, &v.Support); err != nil {
			return err
		}
		f(pk, v)
	}
	return rows.Err()
}

// count returns how many agents have a state in round, read through q (a
// transaction that locked the run, or the database).
func (t agentStates) count(ctx context.Context, q querier, simID, round int) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_states WHERE simulation_id = `+t.db.Placeholder(1)+
		` AND round = `+t.db.Placeholder(2), simID, round).Scan(&n)
	return n, err
}

// completeRounds returns the highest round r such that rounds 0..r all have
// every one of the n agents' states, or -1.
func (t agentStates) completeRounds(ctx context.Context, simID, n int) (int, error) {
	return t.completeRoundsIn(ctx, t.db.SQL, simID, n)
}

// completeRoundsIn is completeRounds read through q (a transaction, or the database).
func (t agentStates) completeRoundsIn(ctx context.Context, q querier, simID, n int) (int, error) {
	rows, err := q.QueryContext(ctx, `SELECT round, COUNT(*) FROM agent_states WHERE simulation_id = `+t.db.Placeholder(1)+
		` GROUP BY round ORDER BY round`, simID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	last := -1
	for rows.Next() {
		var r, c int
		if err := rows.Scan(&r, &c); err != nil {
			return 0, err
		}
		if r != last+1 || c < n {
			break
		}
		last = r
	}
	return last, rows.Err()
}

// copyRounds copies run from's states of rounds 0..last into run to, in tx,
// with one INSERT … SELECT (a 100,000-agent stage is one statement, no rows
// through Go), and returns how many it copied. The copies keep what the
// agents thought (opinion, care, support, failed, error) and when it was
// computed, but not the calls' latency, tokens or retries: those were paid
// by the parent, and the branch's usage is its own. The branch is created
// in the same transaction, so nothing can conflict: no ON CONFLICT clause
// (PostgreSQL's speculative insertion costs on every row).
func (t agentStates) copyRounds(ctx context.Context, tx execer, from, to, last int) (int64, error) {
	ph := t.db.Placeholder
	res, err := tx.ExecContext(ctx, `INSERT INTO agent_states (`+strings.Join(stateColumns, ", ")+`)
		SELECT `+ph(1)+`, agent_id, round, opinion, care, support, failed, error, 0, 0, 0, 0, created_at
		FROM agent_states WHERE simulation_id = `+ph(2)+` AND round <= `+ph(3)+`
		ORDER BY round, agent_id`, to, from, last)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// StateRow is one stored step of a run, as exports and reports read it.
type StateRow struct {
	AgentKey string // the agent's id in its network
	Round    int
	StateView
	Failed           bool
	Error            *string // why a failed step failed
	LatencyMs        int
	PromptTokens     int
	CompletionTokens int
	Retries          int
	CreatedAt        time.Time
}

// EachState calls f with every stored state of run simID, by round then
// agent; the row is reused from call to call.
func EachState(ctx context.Context, db *database.DB, simID int, f func(*StateRow) error) error {
	return agentStates{db}.all(ctx, simID, f)
}

func (t agentStates) all(ctx context.Context, simID int, f func(*StateRow) error) error {
	rows, err := t.db.SQL.QueryContext(ctx, `SELECT a.agent_id, s.round, s.opinion, s.care, s.support, s.failed, s.error,
		s.latency_ms, s.prompt_tokens, s.completion_tokens, s.retries, s.created_at
		FROM agent_states s JOIN agents a ON a.id = s.agent_id
		WHERE s.simulation_id = `+t.db.Placeholder(1)+` ORDER BY s.round, s.agent_id`, simID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var r StateRow
	for rows.Next() {
		r.Error = nil
		if err := rows.Scan(&r.AgentKey, &r.Round, &r.Opinion, &r.Care, &r.Support, &r.Failed, &r.Error,
			&r.LatencyMs, &r.PromptTokens, &r.CompletionTokens, &r.Retries, &r.CreatedAt); err != nil {
			return err
		}
		if err := f(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}
