package simulation

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// Estimate is what a run would use, computed before running it from the
// prompts the run would send (built, not sent).
type Estimate struct {
	Engine entsim.Engine
	Model  string // "" for the classical engines
	Agents int
	Rounds int
	// Calls assumes every call answers validly at the first attempt (no
	// re-asks, no retries) and every agent reached answers.
	Calls            int
	PromptTokens     int
	CompletionTokens int
	// CostUSD is at LLM_PRICES, the table a run's usage is priced with; 0
	// when the model has none (Priced false).
	CostUSD float64
	Priced  bool
	// AnswerTokens is the completion tokens assumed per call
	// (SIM_ESTIMATE_ANSWER_TOKENS, at most the run's maxOutputTokens).
	AnswerTokens int
	// Concurrency is the calls in flight the wall time assumes: the run's,
	// at most the process's LLM_CONCURRENCY.
	Concurrency int
	// CallLatency is the time of one call assumed (SIM_ESTIMATE_CALL_LATENCY).
	CallLatency time.Duration
	// WallTime is the LLM calls' time at Concurrency: per round, waves of
	// Concurrency calls (or, for a SEQUENTIAL round, its longest chain of
	// dependent calls if longer), at least what LLM_REQUESTS_PER_MINUTE and
	// LLM_TOKENS_PER_MINUTE allow. Classical engines: 0.
	WallTime time.Duration
	// PopulationSeed is the seed of the population generated for a
	// numAgents estimate: pass it to runSimulation to run on that population.
	PopulationSeed *uint64
	PerRound       []RoundEstimate
}

// RoundEstimate is one round's share of an Estimate.
type RoundEstimate struct {
	Round, Calls, PromptTokens, CompletionTokens int
	WallTime                                     time.Duration
}

// answerFrame is the bytes of an answer's JSON around its opinion
// ({"opinion":"","care":5,"change_in_support":-1}): the opinion a later
// round shows is assumed to be the rest of the assumed answer.
const answerFrame = 46

// Estimate computes what Run(in) would use, with the same validation and
// errors, and writes nothing: a numAgents estimate generates the population
// in memory (as Run would, from populationSeed) and keeps no row of it.
// Prompts are built one at a time with the run's own prompt code and
// counted, never held: memory stays the network's and a few arrays of its
// size. Calls of rounds after stage 0 depend on answers not known yet: the
// views they show are taken to be opinions of the assumed answer length, and
// every agent reached (by the audience, then through its ties) is taken to
// answer.
func (s *Service) Estimate(ctx context.Context, in RunInput) (*Estimate, error) {
	parent, from, err := s.branchOf(ctx, &in) // the same inheritance and checks as Run's
	if err != nil {
		return nil, err
	}
	engine, p, err := s.prepare(in)
	if err != nil {
		return nil, err
	}
	if parent != nil && !sameAudience(p.Audience, parent.Params.Audience) {
		return nil, apperr.New(apperr.BadInput, "audience differs from fromSimulation %d's: a branch keeps its parent's stage-0 audience; leave audience out", parent.ID)
	}
	var (
		net  *ent.Network
		g    *graphstore.Graph
		seed *uint64
	)
	if in.NumAgents != nil {
		if err := s.checkNumAgents(in, p); err != nil {
			return nil, err
		}
		var sd uint64
		net, g, sd, err = s.graphs.GenerateInMemory(ctx, generateOptions(in, p))
		seed = &sd
	} else {
		net, err = s.graphs.Network(ctx, in.NetworkID)
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.checkNetwork(net, in, &p); err != nil {
		return nil, err
	}
	llmRun := engine == entsim.EngineLLM || engine == entsim.EngineHYBRID
	if g == nil && (llmRun || p.Audience.Mode == simtypes.AudienceManual) {
		if g, err = s.graphs.LoadGraph(ctx, &net.ID); err != nil {
			return nil, err
		}
	}
	est := &Estimate{Engine: engine, Agents: net.NodeCount, Rounds: p.Rounds, PopulationSeed: seed}
	if !llmRun {
		if g != nil { // the same check of a MANUAL audience's ids as Run's
			if _, err := audience(g, p.Audience); err != nil {
				return nil, err
			}
		}
		est.PerRound = make([]RoundEstimate, p.Rounds+1)
		for r := range est.PerRound {
			est.PerRound[r].Round = r
		}
		return est, nil
	}
	pl, err := buildPlan(g, p)
	if err != nil {
		return nil, err
	}
	// Estimates take a core each while they build prompts: one at a time
	// per process, so a burst of them cannot starve the runs.
	select {
	case s.estimating <- struct{}{}:
		defer func() { <-s.estimating }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cfg := s.llm.Config()
	est.Model = p.Model
	est.Priced = s.llm.Priced(p.Model)
	est.AnswerTokens = s.cfg.EstimateAnswerTokens
	if p.MaxOutputTokens != nil && *p.MaxOutputTokens > 0 {
		est.AnswerTokens = min(est.AnswerTokens, *p.MaxOutputTokens)
	}
	est.Concurrency = min(p.Concurrency, cfg.Concurrency)
	est.CallLatency = s.cfg.EstimateLatency
	opinion := strings.Repeat("x", max(1, 4*est.AnswerTokens-answerFrame))
	lastRound := p.Rounds
	if engine == entsim.EngineHYBRID {
		lastRound = 0 // its rounds are classical
	}
	n := len(g.Nodes)
	prev := make([]bool, n) // has a view after the previous round
	cur := make([]bool, n)  // has a view after this round
	calls := make([]bool, n)
	var depth []int32 // SEQUENTIAL: longest chain of calls ending at each agent
	if p.Sequential() {
		depth = make([]int32, n)
	}
	opts := promptOptionsOf(p)
	personaLen := make([]int32, n)
	for i := range personaLen {
		personaLen[i] = -1
	}
	// A branch copies its parent's rounds 0..from: no call, and the views
	// round from+1 reads are the parent's stored ones, known exactly.
	var known []StateView
	if parent != nil {
		if known, err = s.roundStates(ctx, parent.ID, from, pl); err != nil {
			return nil, err
		}
		for i, v := range known {
			prev[i] = v.Opinion != ""
		}
	}
	for r := 0; r <= p.Rounds; r++ {
		re := RoundEstimate{Round: r}
		if r <= lastRound && (parent == nil || r > from) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			var shown []StateView
			if parent != nil && r == from+1 {
				shown = known
			}
			longest := callsOf(pl, r, prev, cur, calls, depth)
			re.Calls, re.PromptTokens = countPrompts(ctx, pl, r, in.Trigger, opinion, shown, opts, prev, cur, calls, p.Sequential(), personaLen)
			re.CompletionTokens = re.Calls * est.AnswerTokens
			waves := (re.Calls + est.Concurrency - 1) / est.Concurrency
			re.WallTime = time.Duration(max(waves, longest)) * est.CallLatency
			prev, cur = cur, prev
		}
		est.PerRound = append(est.PerRound, re)
		est.Calls += re.Calls
		est.PromptTokens += re.PromptTokens
		est.CompletionTokens += re.CompletionTokens
		est.WallTime += re.WallTime
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	est.CostUSD = s.llm.Cost(p.Model, est.PromptTokens, est.CompletionTokens)
	// The client's rate limits bound the whole run, whatever its concurrency.
	if cfg.RequestsPerMinute > 0 {
		est.WallTime = max(est.WallTime, time.Duration(float64(est.Calls)/float64(cfg.RequestsPerMinute)*float64(time.Minute)))
	}
	if cfg.TokensPerMinute > 0 {
		tokens := float64(est.PromptTokens + est.CompletionTokens)
		est.WallTime = max(est.WallTime, time.Duration(tokens/float64(cfg.TokensPerMinute)*float64(time.Minute)))
	}
	return est, nil
}

// callsOf marks which agents call in round r, as step decides: at stage 0
// the audience; later an agent with a view or a neighbour with one (a
// SEQUENTIAL round reads this round's views of the agents before it). cur
// is set to who has a view after the round, assuming every call answers.
// With depth (SEQUENTIAL), it returns the round's longest chain of calls
// that wait for one another.
func callsOf(pl *plan, r int, prev, cur, calls []bool, depth []int32) int {
	longest := int32(0)
	for i := range calls {
		if r == 0 {
			calls[i] = pl.audience[i]
			cur[i] = calls[i]
			continue
		}
		call := prev[i]
		cols, _ := pl.csr.Row(i)
		d := int32(0)
		for _, j := range cols {
			if depth != nil && int(j) < i {
				call = call || cur[j]
				d = max(d, depth[j])
			} else {
				call = call || prev[j]
			}
		}
		calls[i], cur[i] = call, call
		if depth != nil {
			if call {
				d++
			}
			depth[i] = d
			longest = max(longest, d)
		}
	}
	if depth == nil {
		return 0
	}
	return int(longest)
}

// countPrompts builds the prompts of round r's calls with the run's code
// (reactionPrompt, influencePrompt) and sums their tokens, in parallel over
// ranges of agents, one prompt at a time per worker. An agent's persona is
// the same in every round and opens its user message: it is written once
// per agent (personaLen, -1 until then), and later rounds build their
// prompts around an empty persona and add its length.
//
// known, when not nil, is the previous round's stored states (a branch's
// first round): its views are shown as they are instead of assumed.
func countPrompts(ctx context.Context, pl *plan, r int, trigger, opinion string, known []StateView, opts promptOptions, prev, cur, calls []bool, sequential bool, personaLen []int32) (nCalls, tokens int) {
	n := len(calls)
	var total, count atomic.Int64
	workers := max(1, min(runtime.GOMAXPROCS(0), n/1000))
	var wg sync.WaitGroup
	var blank networkfile.Node // persona(&blank) is ""
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var t, c int
			var views []neighborView
			for i := lo; i < hi; i++ {
				if !calls[i] {
					continue
				}
				if (i-lo)%1024 == 0 && ctx.Err() != nil {
					return
				}
				c++
				if personaLen[i] < 0 {
					personaLen[i] = int32(len(persona(&pl.graph.Nodes[i])))
				}
				var msgs []llm.Message
				if r == 0 {
					msgs = reactionPrompt(&blank, trigger, opts)
				} else {
					cols, ws := pl.csr.Row(i)
					views = views[:0]
					for k, j := range cols {
						switch {
						case sequential && int(j) < i:
							if cur[j] {
								views = append(views, neighborView{weight: ws[k], opinion: opinion, care: 5})
							}
						case known != nil:
							if v := known[j]; v.Opinion != "" {
								views = append(views, neighborView{weight: ws[k], opinion: v.Opinion, care: v.Care, support: v.Support})
							}
						case prev[j]:
							views = append(views, neighborView{weight: ws[k], opinion: opinion, care: 5})
						}
					}
					own := neighborView{}
					switch {
					case known != nil:
						own = neighborView{opinion: known[i].Opinion, care: known[i].Care, support: known[i].Support}
					case prev[i]:
						own = neighborView{opinion: opinion, care: 5}
					}
					msgs = influencePrompt(&blank, trigger, own, views, opts)
				}
				// The system message, then the user message with the persona put back.
				t += llm.EstimatePromptTokens(msgs[:1]) + llm.MessageTokens(int(personaLen[i])+len(msgs[1].Content))
			}
			total.Add(int64(t))
			count.Add(int64(c))
		}()
	}
	wg.Wait()
	return int(count.Load()), int(total.Load())
}

// estimateDefaults are the assumptions of an estimate unless configured.
func (c *Config) estimateDefaults() {
	orDefault(&c.EstimateAnswerTokens, 60)
	orDefault(&c.EstimateLatency, time.Second)
}
