// Package simulation runs simulations: every agent of a network reacts to a
// trigger message through an LLM (or a classical opinion-dynamics model), then
// updates round by round from its weighted neighbours.
//
// Runs are durable River jobs. A round of an LLM run is split into chunks of
// agents, each a short job; every finished agent step is stored at once
// (AgentState is unique per simulation, agent and round), so a run interrupted
// by a crash resumes where it stopped and never asks the LLM twice for a
// stored step. Rounds are synchronous: round r reads only round r-1.
package simulation

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"golang.org/x/sync/singleflight"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
	"github.com/ethox/ethox/telemetry"
)

// Config bounds and tunes runs in this process.
type Config struct {
	Workers            int           // concurrent jobs in this process; 0 = API only (WORKERS)
	ChunkSize          int           // agents per LLM job (SIM_CHUNK_SIZE, default 32)
	FailShare          float64       // a run fails past this share of failed steps (SIM_FAIL_SHARE, default 0.2)
	MaxAgentRounds     int           // agents × (rounds+1) per run (SIM_MAX_AGENT_ROUNDS, default 10,000,000)
	MaxRounds          int           // (SIM_MAX_ROUNDS, default 50)
	MaxTriggerChars    int           // (SIM_MAX_TRIGGER_CHARS, default 4000)
	DefaultConcurrency int           // LLM calls in flight per run, unless the run says (default: LLM_CONCURRENCY)
	JobTimeout         time.Duration // one chunk job (default 5m)
	RescueAfter        time.Duration // a job still "running" this long is retried elsewhere (default 6m)
	// Lease is how long a working process's liveness record lasts unrenewed
	// (WORKER_LEASE, default 15s; renewed every third of it): a dead
	// process's jobs are re-queued once it lapses (see liveness.go).
	Lease        time.Duration
	MaxAttempts  int           // attempts of a job before its run fails (default 10)
	PollInterval time.Duration // River's fetch poll (JOB_POLL_INTERVAL, default 50ms)
	// EventPoll bounds how long a subscriber waits without a wake-up. On
	// PostgreSQL every commit notifies every process (LISTEN/NOTIFY), so it
	// is only a safety net (default 15s); on SQLite writes in this process
	// wake subscribers at once, and the poll (default 1s) catches a writer in
	// another process (`ethox worker` on the same file).
	EventPoll time.Duration
	// EstimateAnswerTokens is the completion tokens an estimate assumes per
	// call (SIM_ESTIMATE_ANSWER_TOKENS, default 60: a JSON answer with an
	// opinion of two sentences), and EstimateLatency the time of one call
	// (SIM_ESTIMATE_CALL_LATENCY, default 1s).
	EstimateAnswerTokens int
	EstimateLatency      time.Duration
	// The answer cache's bounds (cache.go): LLM_CACHE_MAX_ENTRIES (default
	// 100,000) and LLM_CACHE_TTL (default 30 days).
	CacheMaxEntries int
	CacheTTL        time.Duration
	// Graphs is the process's network store, shared so that its limits and
	// cache are too (nil: a store of its own).
	Graphs *graphstore.Store
	// AddWorkers registers more job kinds on this process's workers (the
	// experiments' job), when it works jobs.
	AddWorkers func(*river.Workers)
}

func (c *Config) defaults() {
	orDefault(&c.ChunkSize, 32)
	orDefault(&c.FailShare, 0.2)
	orDefault(&c.MaxAgentRounds, 10_000_000)
	orDefault(&c.MaxRounds, 50)
	orDefault(&c.MaxTriggerChars, 4000)
	orDefault(&c.DefaultConcurrency, 8)
	orDefault(&c.JobTimeout, 5*time.Minute)
	if c.RescueAfter <= c.JobTimeout {
		c.RescueAfter = c.JobTimeout + time.Minute
	}
	orDefault(&c.Lease, 15*time.Second)
	orDefault(&c.MaxAttempts, 10)
	// Both drivers here poll (no LISTEN/NOTIFY through database/sql), and the
	// next round's jobs wait for the next poll: keep it short.
	orDefault(&c.PollInterval, 50*time.Millisecond)
	c.estimateDefaults()
	orDefault(&c.CacheMaxEntries, 100_000)
	orDefault(&c.CacheTTL, 30*24*time.Hour)
}

// orDefault sets *v to d unless it is positive.
func orDefault[T int | float64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Service starts, runs and cancels simulations.
type Service struct {
	db     *database.DB
	graphs *graphstore.Store
	llm    *llm.Client // nil when no LLM is configured
	cfg    Config
	log    *slog.Logger
	river  *river.Client[*sql.Tx]

	states     agentStates        // the agent_states table
	metrics    *telemetry.Metrics // nil: not recorded
	events     broker             // wakes this process's subscribers
	stopListen context.CancelFunc // the PostgreSQL LISTEN loop
	stopAlive  context.CancelFunc // the lease renewal and orphan sweep (liveness.go)
	process    string             // this process on this machine, for leases (thisProcess)
	lockDir    string             // SQLite: the directory of the processes' lock files (liveness.go)
	lock       *os.File           // SQLite: this process's lock file

	started atomic.Bool // job workers running in this process

	estimating  chan struct{} // estimates building prompts now (estimate.go)
	cachePruned atomic.Int64  // when the answer cache was last pruned, Unix ns (cache.go)

	committed sync.Map // *sql.Tx → *[]func(): what runs once that transaction commits (see onCommit)

	mu        sync.Mutex
	plans     map[int]*plan                       // by simulation id
	planLoads singleflight.Group                  // one load of a run's plan at a time
	running   map[int]map[*int]context.CancelFunc // in-flight jobs by simulation id, for cancel

	ended []func(simID int) // called once a run's end has committed (OnRunEnded)
}

// New builds the service. With cfg.Workers > 0 this process also executes
// jobs once Start is called.
func New(db *database.DB, llmClient *llm.Client, cfg Config, log *slog.Logger) (*Service, error) {
	cfg.defaults()
	if db.Dialect == dialect.Postgres {
		orDefault(&cfg.EventPoll, 15*time.Second)
	} else {
		orDefault(&cfg.EventPoll, time.Second)
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Graphs == nil {
		cfg.Graphs = graphstore.New(db)
	}
	s := &Service{db: db, graphs: cfg.Graphs, llm: llmClient, cfg: cfg, log: log, states: agentStates{db}, process: thisProcess,
		plans: map[int]*plan{}, running: map[int]map[*int]context.CancelFunc{},
		estimating: make(chan struct{}, 1)}
	rc := &river.Config{
		Logger:               log.With("component", "river"),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 100*time.Millisecond),
		MaxAttempts:          cfg.MaxAttempts,
		ErrorHandler:         jobErrors{s},
	}
	if db.Dialect != dialect.Postgres {
		rc.PollOnly = true // no LISTEN/NOTIFY on SQLite
	}
	if cfg.Workers > 0 {
		workers := river.NewWorkers()
		river.AddWorker(workers, &chunkWorker{s: s})
		river.AddWorker(workers, &classicalWorker{s: s})
		graphstore.AddPurgeWorker(workers, cfg.Graphs) // deleted networks' rows, in batches
		if cfg.AddWorkers != nil {
			cfg.AddWorkers(workers)
		}
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	}
	rv, err := river.NewClient(db.RiverDriver(), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	s.river = rv
	cfg.Graphs.UseJobs(rv, log) // deleteNetwork's purge is a job: it survives restarts
	return s, nil
}

// SetMetrics makes the service record its LLM calls in m, and the LLM
// client count the repairs it makes to answers (for every caller: reports
// share the process's client).
func (s *Service) SetMetrics(m *telemetry.Metrics) {
	s.metrics = m
	if s.llm != nil && m != nil {
		s.llm.OnAnomaly(func(a llm.Anomaly) { m.LLMAnomalies.WithLabelValues(a.Kind).Inc() })
	}
}

// Graphs is the network store the service reads and generates through.
func (s *Service) Graphs() *graphstore.Store { return s.graphs }

// LLM is the process's LLM client, nil when none is configured.
func (s *Service) LLM() *llm.Client { return s.llm }

// Start begins working jobs (no-op for an API-only process).
func (s *Service) Start(ctx context.Context) error {
	if s.db.Dialect == dialect.Postgres && s.stopListen == nil {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopListen = cancel
		go s.listen(lctx) // events from workers in other processes, for subscribers here
	}
	if s.cfg.Workers <= 0 {
		return nil
	}
	// The lease first, then the jobs a dead process left running (this
	// process's previous run, after a crash) are re-queued before the workers
	// start, so an interrupted run resumes as soon as the process is up.
	if err := s.renewLease(ctx); err != nil {
		return fmt.Errorf("worker lease: %w", err)
	}
	if err := s.takeLock(ctx); err != nil {
		s.log.Warn("worker lock file: a crash is noticed when the lease expires", "error", err)
	}
	if n, err := s.rescueOrphans(ctx); err != nil {
		s.log.Warn("re-queue orphaned jobs", "error", err)
	} else if n > 0 {
		s.log.Info("re-queued jobs left running by a stopped process", "jobs", n)
	}
	if err := s.river.Start(ctx); err != nil {
		return err
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopAlive = cancel
	go s.keepAlive(actx)
	s.started.Store(true)
	return nil
}

// WorkersReady reports whether this process's job workers are running, for
// readiness checks; an API-only process (no workers) is always ready.
func (s *Service) WorkersReady() error {
	if s.cfg.Workers <= 0 {
		return nil
	}
	if !s.started.Load() {
		return errors.New("job workers not started")
	}
	select {
	case <-s.river.Stopped():
		return errors.New("job workers stopped")
	default:
		return nil
	}
}

// Jobs is the River client, for River's UI.
func (s *Service) Jobs() *river.Client[*sql.Tx] { return s.river }

// Stop lets running jobs finish their current step and stops fetching; what
// is left is resumed by another process or the next start.
func (s *Service) Stop(ctx context.Context) error {
	if s.stopListen != nil {
		s.stopListen()
	}
	if s.cfg.Workers <= 0 {
		return nil
	}
	err := s.river.Stop(ctx)
	if s.stopAlive == nil {
		return err
	}
	s.stopAlive()
	// Jobs Stop left running are the survivors' at once; at worst (no
	// database) the lease lapses in WORKER_LEASE.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = errors.Join(err, s.dropLease(dctx))
	s.dropLock()
	return err
}

// Run validates the input, writes the Simulation row and its first job in one
// transaction, and returns at once with status QUEUED.
func (s *Service) Run(ctx context.Context, in RunInput) (*ent.Simulation, error) {
	parent, from, err := s.branchOf(ctx, &in) // a branch: the parent's values for what in leaves out
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
	var net *ent.Network
	if in.NumAgents != nil {
		// As the prototype did: a fresh synthetic population for this run.
		if err := s.checkNumAgents(in, p); err != nil {
			return nil, err
		}
		net, err = s.graphs.Generate(ctx, generateOptions(in, p))
	} else {
		net, err = s.graphs.Network(ctx, in.NetworkID)
	}
	if err != nil {
		return nil, err
	}
	steps, err := s.checkNetwork(net, in, &p)
	if err != nil {
		return nil, err
	}
	if p.Audience.Mode == simtypes.AudienceManual {
		// Check the ids now, so a typo is a clear error instead of a failed run.
		if _, err := s.planFor(ctx, 0, net.ID, p); err != nil {
			return nil, err
		}
	}
	var sim *ent.Simulation
	err = s.inTx(ctx, func(tx *sql.Tx, client *ent.Client) error {
		create := client.Simulation.Create().
			SetNetworkID(net.ID).
			SetEngine(engine).
			SetTrigger(in.Trigger).
			SetParams(p).
			SetRounds(p.Rounds).
			SetTotalSteps(steps)
		if parent != nil {
			// Progress counts what the branch computes, not the stages it copies.
			create.SetParentID(parent.ID).SetBranchedFromRound(from).
				SetTotalSteps(net.NodeCount * (p.Rounds - from)).SetCurrentRound(min(from+1, p.Rounds))
		}
		sim, err = create.Save(ctx)
		if err != nil {
			return err
		}
		if in.OnCreate != nil { // e.g. an experiment claiming its planned run, in this transaction
			if err := in.OnCreate(ctx, client, sim); err != nil {
				return err
			}
		}
		if err := s.emitStatus(ctx, tx, sim.ID, entsim.StatusQUEUED); err != nil {
			return err
		}
		// Logged as created: a worker may start the run before Run reads it back.
		created := sim
		s.onCommit(tx, func() { s.logRun(ctx, created) })
		if parent != nil {
			return s.startBranch(ctx, tx, client, sim, parent.ID, from, net.NodeCount)
		}
		if err := s.enqueueRound(ctx, tx, sim.ID, engine, 0, net.NodeCount, s.chunkSize(p)); err != nil {
			return err
		}
		if engine == entsim.EngineLLM && p.Rounds >= 1 {
			// LLM rounds overlap: the next round's jobs start agents whose inputs are ready.
			return s.enqueueRound(ctx, tx, sim.ID, engine, 1, net.NodeCount, s.chunkSize(p))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Read it back through the root client: the created entity is bound to the committed transaction.
	return s.db.Client.Simulation.Get(ctx, sim.ID)
}

// prepare checks a run's input and resolves its parameters (model,
// sampling): the part of Run that Estimate shares, so both refuse the same
// inputs with the same errors.
func (s *Service) prepare(in RunInput) (entsim.Engine, Params, error) {
	engine, p, err := in.resolve(s.cfg, s.llm != nil)
	if err != nil {
		return "", Params{}, err
	}
	if s.llm != nil {
		if p.Model == "" {
			p.Model = s.llm.Config().Model
		}
		if err := s.checkModel(engine, p); err != nil {
			return "", Params{}, err
		}
	}
	if engine == entsim.EngineLLM || engine == entsim.EngineHYBRID {
		s.sampling(&p, in)
	} else {
		p.Temperature = nil // no LLM call: nothing sampled
	}
	return engine, p, nil
}

// checkNumAgents checks a run on a population generated for it.
func (s *Service) checkNumAgents(in RunInput, p Params) error {
	if in.NetworkID != nil {
		return apperr.New(apperr.BadInput, "give networkId or numAgents, not both")
	}
	if steps := *in.NumAgents * (p.Rounds + 1); steps > s.cfg.MaxAgentRounds {
		return apperr.New(apperr.BadInput, "numAgents × (rounds+1) = %d exceeds the limit of %d (SIM_MAX_AGENT_ROUNDS)", steps, s.cfg.MaxAgentRounds)
	}
	return nil
}

// checkNetwork checks a run against its network and sets the parameters
// that depend on it; it returns the run's steps, agents × (rounds+1).
func (s *Service) checkNetwork(net *ent.Network, in RunInput, p *Params) (int, error) {
	if net == nil {
		return 0, apperr.New(apperr.NotFound, "there is no network to run on: upload one first, or give networkId")
	}
	if net.NodeCount == 0 {
		return 0, apperr.New(apperr.BadInput, "network %d has no agents", net.ID)
	}
	if err := neighborhoodOf(net, in, p); err != nil {
		return 0, err
	}
	steps := net.NodeCount * (p.Rounds + 1)
	if steps > s.cfg.MaxAgentRounds {
		return 0, apperr.New(apperr.BadInput, "agents × (rounds+1) = %d × %d exceeds the limit of %d (SIM_MAX_AGENT_ROUNDS)",
			net.NodeCount, p.Rounds+1, s.cfg.MaxAgentRounds)
	}
	return steps, nil
}

// sampling sets the temperature and the answer's token limit of a run that
// calls the LLM: the input's, else the preset's, else the process's
// (OPENAI_TEMPERATURE, OPENAI_MAX_TOKENS: by default the prototype's 0.4 and
// 200). A reasoning model takes no temperature, and counts its reasoning in
// the limit: it gets neither unless the input gives a limit.
func (s *Service) sampling(p *Params, in RunInput) {
	var cfg llm.Config
	if s.llm != nil {
		cfg = s.llm.Config()
	}
	reasoning := llm.IsReasoningModel(cmp.Or(p.Model, cfg.Model))
	if in.Temperature == nil {
		p.Temperature = nil
		switch {
		case reasoning:
		case p.Preset == simtypes.PresetPrototype:
			p.Temperature = ptr(prototype.temperature)
		case cfg.Temperature != nil:
			// Through its decimal text: float32(0.4) is 0.4000000059604645.
			t, _ := strconv.ParseFloat(strconv.FormatFloat(float64(*cfg.Temperature), 'g', -1, 32), 64)
			p.Temperature = &t
		}
	} else if reasoning {
		p.Temperature = nil // the client would not send it
	}
	if in.MaxOutputTokens == nil {
		switch {
		case reasoning:
			p.MaxOutputTokens = ptr(0)
		case p.Preset == simtypes.PresetPrototype:
			p.MaxOutputTokens = ptr(prototype.maxOutputTokens)
		default:
			p.MaxOutputTokens = ptr(cfg.MaxTokens)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// neighborhoodOf sets whom an agent of the run hears on net, and how many of
// them: the input's neighbourhood, else CHOSEN on a generated directed
// network (its edges are choices), DIRECTED on an uploaded directed one
// (source influences target) and UNDIRECTED on an undirected one. CHOSEN
// needs a directed network: on an uploaded one it reads source→target as
// "source chose target". Unless the input gives a neighbour limit, a CHOSEN
// agent hears every agent it chose, as in the prototype (4% of agents choose
// more than 10), and so does every agent of a PROTOTYPE run; the others hear
// their 10 strongest ties.
func neighborhoodOf(net *ent.Network, in RunInput, p *Params) error {
	chosen := net.Directed && net.Params["neighbourhood"] == string(population.NeighbourhoodChosen)
	switch p.Neighborhood {
	case "":
		switch {
		case chosen:
			p.Neighborhood = simtypes.NeighborhoodChosen
		case net.Directed:
			p.Neighborhood = simtypes.NeighborhoodDirected
		default:
			p.Neighborhood = simtypes.NeighborhoodUndirected
		}
	case simtypes.NeighborhoodChosen:
		if !net.Directed {
			return apperr.New(apperr.BadInput, "neighborhood CHOSEN needs a directed network (an edge source → target: source chose target); "+
				"network %d is undirected: use UNDIRECTED", net.ID)
		}
	}
	if in.NeighborLimit == nil {
		p.NeighborLimit = defaultNeighborLimit
		if p.Neighborhood == simtypes.NeighborhoodChosen || p.Preset == simtypes.PresetPrototype {
			p.NeighborLimit = 0 // all of them
		}
	}
	return nil
}

// generateOptions are the population options of a numAgents run.
func generateOptions(in RunInput, p Params) graphstore.GenerateOptions {
	o := graphstore.GenerateOptions{NumAgents: *in.NumAgents, Seed: in.PopulationSeed, Neighbourhood: population.Neighbourhood(p.Neighborhood)}
	if in.ProfileSource != nil {
		o.ProfileSource = population.ProfileSource(*in.ProfileSource)
	}
	if in.ProfileSampling != nil {
		o.ProfileSampling = population.ProfileSampling(*in.ProfileSampling)
	}
	if in.MinTies != nil {
		o.MinTies = *in.MinTies
	}
	if in.TraitVarianceScale != nil {
		o.TraitVarianceScale = *in.TraitVarianceScale
	}
	o.KeepDefault = true // the run's own population: it does not become the default network
	return o
}

// checkModel refuses, for a run that calls the LLM, a model the operator did
// not allow, and a cost budget that a model without a price would never reach.
func (s *Service) checkModel(engine entsim.Engine, p Params) error {
	if engine != entsim.EngineLLM && engine != entsim.EngineHYBRID {
		return nil
	}
	if !s.llm.ModelAllowed(p.Model) {
		cfg := s.llm.Config()
		allowed := slices.Compact(slices.Sorted(slices.Values(append([]string{cfg.Model}, cfg.AllowedModels...))))
		return apperr.New(apperr.BadInput, "model %q is not allowed on this server (OPENAI_ALLOWED_MODELS): use one of %s",
			p.Model, strings.Join(allowed, ", "))
	}
	if p.MaxCostUSD > 0 && !s.llm.Priced(p.Model) {
		return apperr.New(apperr.BadInput, "model %q has no price in LLM_PRICES, so maxCostUSD cannot be enforced: "+
			"add it to LLM_PRICES (model=prompt/completion USD per million tokens), or use maxCalls or maxTokens", p.Model)
	}
	return nil
}

// Cancel stops a run: after it returns no new LLM call of the run starts in
// this process, and other processes see the status before their next call.
func (s *Service) Cancel(ctx context.Context, id int) (*ent.Simulation, error) {
	err := s.transition(ctx, id, entsim.StatusCANCELED, "", live...)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, cancel := range s.running[id] {
		cancel()
	}
	delete(s.plans, id)
	s.mu.Unlock()
	sim, err := s.db.Client.Simulation.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "simulation %d not found", id)
	}
	return sim, err
}

// track registers an in-flight job's cancel function under its simulation.
func (s *Service) track(simID int, cancel context.CancelFunc) (untrack func()) {
	key := new(int)
	s.mu.Lock()
	if s.running[simID] == nil {
		s.running[simID] = map[*int]context.CancelFunc{}
	}
	s.running[simID][key] = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.running[simID], key)
		if len(s.running[simID]) == 0 {
			delete(s.running, simID)
		}
		s.mu.Unlock()
	}
}

func (s *Service) planFor(ctx context.Context, simID, networkID int, p Params) (*plan, error) {
	if simID != 0 {
		s.mu.Lock()
		pl := s.plans[simID]
		s.mu.Unlock()
		if pl != nil {
			return pl, nil
		}
	}
	if simID == 0 {
		return s.loadPlan(ctx, networkID, p)
	}
	// The first jobs of a run start together: one of them loads the plan (a
	// load each took a quarter of a 10,000-agent run's CPU).
	v, err, _ := s.planLoads.Do(strconv.Itoa(simID), func() (any, error) {
		pl, err := s.loadPlan(context.WithoutCancel(ctx), networkID, p)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if len(s.plans) > 64 { // a bound, not an LRU: plans reload cheaply
			clear(s.plans)
		}
		s.plans[simID] = pl
		s.mu.Unlock()
		return pl, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*plan), nil
}

func (s *Service) forgetPlan(simID int) {
	s.mu.Lock()
	delete(s.plans, simID)
	s.mu.Unlock()
}
