// Package experiment runs experiments: named arms (each a run input) ×
// replicates on one network, with seeds derived from the experiment's seed,
// an experiment-wide budget, a status and progress derived from its runs'
// stored statuses, and a stored result with confidence intervals (stats.go),
// a narrative, SVG charts and a CSV (output.go).
//
// Orchestration is a River job per experiment (ExperimentArgs): each pass
// reads the runs' stored rows, stops what a spent budget or a cancel must
// stop, starts planned runs up to the experiment's concurrency, and, once
// every run has ended, stores the result and the final status in one
// transaction. A pass is idempotent, so the job is simply run again: it
// reschedules itself every Config.Poll while the experiment is live, and a
// run ending in this process wakes it at once. Everything it decides from is
// stored, so a restart (or another process) carries on where it stopped.
package experiment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/database"
	"github.com/ethox/ethox/ent"
	entexp "github.com/ethox/ethox/ent/experiment"
	"github.com/ethox/ethox/ent/experimentresult"
	"github.com/ethox/ethox/ent/experimentrun"
	entsim "github.com/ethox/ethox/ent/simulation"
	"github.com/ethox/ethox/simulation"
	"github.com/ethox/ethox/simulation/simtypes"
)

// Config bounds experiments (EXPERIMENT_* settings).
type Config struct {
	MaxReplicates      int           // EXPERIMENT_MAX_REPLICATES (default 100)
	MaxRuns            int           // arms × replicates (EXPERIMENT_MAX_RUNS, default 500)
	MaxConcurrentRuns  int           // runs of one experiment in flight (EXPERIMENT_MAX_CONCURRENT_RUNS, default 4)
	BootstrapResamples int           // default B (EXPERIMENT_BOOTSTRAP_RESAMPLES, default 2000)
	Poll               time.Duration // a live experiment's job runs again after this (EXPERIMENT_POLL_INTERVAL, default 1s)
}

func (c *Config) defaults() {
	if c.MaxReplicates <= 0 {
		c.MaxReplicates = 100
	}
	if c.MaxRuns <= 0 {
		c.MaxRuns = 500
	}
	if c.MaxConcurrentRuns <= 0 {
		c.MaxConcurrentRuns = 4
	}
	if c.BootstrapResamples <= 0 {
		c.BootstrapResamples = 2000
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
}

// Bounds of inputs.
const (
	maxArms            = 20
	maxNameChars       = 100
	minResamples       = 100
	maxResamples       = 100_000
	stopReasonPrefix   = "experiment budget reached: "
	resultFormat       = "ethox-experiment/1"
	maxStoredErrorRune = 2000
)

// Narrator writes an LLM narrative of a result (reporting.Service); nil or
// an error: the deterministic narrative only.
type Narrator interface {
	ExperimentNarrative(ctx context.Context, name string, r *Result) (text, model string, err error)
}

// Service creates, advances and cancels experiments.
type Service struct {
	db   *database.DB
	cfg  Config
	log  *slog.Logger
	sims *simulation.Service
	n    Narrator

	passes sync.Map // experiment id → *sync.Mutex: one advance at a time here
	// passSlots bounds the connections held by pass locks (lockPass) to half
	// the pool, so passes holding one can always get another for their queries.
	passSlots chan struct{}
}

// New returns a service; call Attach with the simulation service before use.
func New(db *database.DB, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	slots := 8
	if n := db.SQL.Stats().MaxOpenConnections; n > 0 {
		slots = max(1, n/2)
	}
	return &Service{db: db, cfg: cfg, log: log, passSlots: make(chan struct{}, slots)}
}

// Attach gives the service the runs it starts, and wakes an experiment's job
// when one of its runs ends in this process.
func (s *Service) Attach(sims *simulation.Service) {
	s.sims = sims
	sims.OnRunEnded(s.kick)
}

// SetNarrator sets the LLM narrative writer (nil: deterministic only).
func (s *Service) SetNarrator(n Narrator) { s.n = n }

// Config is the service's configuration, defaults applied.
func (s *Service) Config() Config { return s.cfg }

// ArmInput is one arm as asked for.
type ArmInput struct {
	Name  string
	Input simulation.RunInput
}

// CreateInput is what createExperiment asks for; nil fields take defaults.
type CreateInput struct {
	Name               *string
	NetworkID          *int
	Arms               []ArmInput
	Replicates         int
	Seed               *int64
	MaxCalls           *int
	MaxTokens          *int
	MaxCostUSD         *float64
	ConcurrentRuns     *int
	BootstrapResamples *int
	Cache              *bool
}

func bad(format string, args ...any) error { return apperr.New(apperr.BadInput, format, args...) }

// Create validates the input (every arm as runSimulation would, errors naming
// arms[i].input.field), writes the experiment, its planned runs and its job
// in one transaction, and returns it QUEUED.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Experiment, error) {
	if s == nil {
		return nil, errNotServed
	}
	name := "experiment"
	if in.Name != nil {
		name = strings.Join(strings.Fields(*in.Name), " ")
		if name == "" || utf8.RuneCountInString(name) > 200 || strings.ContainsRune(name, 0) {
			return nil, bad("name must be 1 to 200 characters without NUL, got %d", utf8.RuneCountInString(name))
		}
	}
	if len(in.Arms) == 0 || len(in.Arms) > maxArms {
		return nil, bad("arms must list 1 to %d arms, got %d", maxArms, len(in.Arms))
	}
	if in.Replicates < 1 || in.Replicates > s.cfg.MaxReplicates {
		return nil, bad("replicates must be between 1 and %d (EXPERIMENT_MAX_REPLICATES), got %d", s.cfg.MaxReplicates, in.Replicates)
	}
	if runs := len(in.Arms) * in.Replicates; runs > s.cfg.MaxRuns {
		return nil, bad("arms × replicates = %d × %d = %d runs exceeds the limit of %d (EXPERIMENT_MAX_RUNS)",
			len(in.Arms), in.Replicates, runs, s.cfg.MaxRuns)
	}
	if in.MaxCalls != nil && *in.MaxCalls < 1 {
		return nil, bad("maxCalls must be positive, got %d", *in.MaxCalls)
	}
	if in.MaxTokens != nil && *in.MaxTokens < 1 {
		return nil, bad("maxTokens must be positive, got %d", *in.MaxTokens)
	}
	if in.MaxCostUSD != nil && !(*in.MaxCostUSD > 0) {
		return nil, bad("maxCostUSD must be positive, got %v", *in.MaxCostUSD)
	}
	concurrent := s.cfg.MaxConcurrentRuns
	if in.ConcurrentRuns != nil {
		if *in.ConcurrentRuns < 1 || *in.ConcurrentRuns > s.cfg.MaxConcurrentRuns {
			return nil, bad("concurrentRuns must be between 1 and %d (EXPERIMENT_MAX_CONCURRENT_RUNS), got %d", s.cfg.MaxConcurrentRuns, *in.ConcurrentRuns)
		}
		concurrent = *in.ConcurrentRuns
	}
	resamples := s.cfg.BootstrapResamples
	if in.BootstrapResamples != nil {
		if *in.BootstrapResamples < minResamples || *in.BootstrapResamples > maxResamples {
			return nil, bad("bootstrapResamples must be between %d and %d, got %d", minResamples, maxResamples, *in.BootstrapResamples)
		}
		resamples = *in.BootstrapResamples
	}
	var seed int64
	if in.Seed != nil {
		if *in.Seed < 0 {
			return nil, bad("seed must not be negative, got %d", *in.Seed)
		}
		seed = *in.Seed
	} else {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = int64(binary.LittleEndian.Uint64(b[:]) >> 2) // recorded, so the experiment can be repeated
	}

	net, err := s.sims.Graphs().Network(ctx, in.NetworkID)
	if err != nil {
		return nil, err
	}
	if net == nil {
		return nil, apperr.New(apperr.NotFound, "there is no network to run on: upload one first, or give networkId")
	}
	if net.NodeCount == 0 {
		return nil, bad("networkId: network %d has no agents", net.ID)
	}

	arms := make([]simtypes.ExperimentArm, len(in.Arms))
	seen := map[string]int{}
	total := 0
	for i, a := range in.Arms {
		field := fmt.Sprintf("arms[%d]", i)
		an := strings.TrimSpace(a.Name)
		switch {
		case an == "":
			return nil, bad("%s.name must not be empty", field)
		case utf8.RuneCountInString(an) > maxNameChars:
			return nil, bad("%s.name is %d characters long; the limit is %d", field, utf8.RuneCountInString(an), maxNameChars)
		case strings.ContainsRune(an, 0):
			return nil, bad("%s.name must not contain NUL characters", field)
		}
		if j, dup := seen[an]; dup {
			return nil, bad("%s.name %q is the name of arms[%d] too: arm names must be unique", field, an, j)
		}
		seen[an] = i
		ri := a.Input
		switch {
		case ri.NetworkID != nil:
			return nil, bad("%s.input.networkId must not be given: every arm runs on the experiment's network (networkId)", field)
		case ri.NumAgents != nil || ri.PopulationSeed != nil || ri.ProfileSource != nil || ri.ProfileSampling != nil ||
			ri.MinTies != nil || ri.TraitVarianceScale != nil:
			return nil, bad("%s.input.numAgents (and the population options) must not be given: every arm runs on the experiment's network", field)
		case ri.Seed != nil:
			return nil, bad("%s.input.seed must not be given: each run's seed is derived from the experiment's seed", field)
		case ri.FromSimulation != nil || ri.FromRound != nil:
			// Replicates of a branch would share the parent's stored stages, not replicate them.
			return nil, bad("%s.input.fromSimulation (and fromRound) must not be given: an experiment's replicates run whole", field)
		}
		ri.NetworkID = &net.ID
		ri.Seed = ptr(int64(1))
		checked, err := s.sims.Check(ctx, ri, net)
		if err != nil {
			return nil, prefixed(err, field+".input.")
		}
		total += checked.Steps * in.Replicates
		if in.Cache != nil && *in.Cache && ri.Cache == nil && (checked.Engine == "LLM" || checked.Engine == "HYBRID") {
			ri.Cache = ptr(true) // the experiment's cache, for the arms that call the LLM
		}
		ri.NetworkID, ri.Seed = nil, nil
		raw, err := json.Marshal(ri)
		if err != nil {
			return nil, err
		}
		arms[i] = simtypes.ExperimentArm{Name: an, Input: raw}
	}

	var id int
	err = s.inTx(ctx, func(tx *sql.Tx, client *ent.Client) error {
		c := client.Experiment.Create().SetName(name).SetNetworkID(net.ID).SetSeed(seed).SetReplicates(in.Replicates).
			SetArms(arms).SetConcurrentRuns(concurrent).SetBootstrapResamples(resamples).SetTotalSteps(total)
		if in.MaxCalls != nil {
			c.SetMaxCalls(*in.MaxCalls)
		}
		if in.MaxTokens != nil {
			c.SetMaxTokens(*in.MaxTokens)
		}
		if in.MaxCostUSD != nil {
			c.SetMaxCostUsd(*in.MaxCostUSD)
		}
		if in.Cache != nil {
			c.SetCache(*in.Cache)
		}
		e, err := c.Save(ctx)
		if err != nil {
			return err
		}
		id = e.ID
		plan := make([]*ent.ExperimentRunCreate, 0, len(arms)*in.Replicates)
		for r := range in.Replicates {
			for i, a := range arms {
				plan = append(plan, client.ExperimentRun.Create().SetExperimentID(e.ID).SetArmIndex(i).SetArm(a.Name).
					SetReplicate(r).SetSeed(RunSeed(seed, r)))
			}
		}
		if err := client.ExperimentRun.CreateBulk(plan...).Exec(ctx); err != nil {
			return err
		}
		_, err = s.sims.Jobs().InsertTx(ctx, tx, ExperimentArgs{ExperimentID: e.ID, Tick: true}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "experiment created", "experiment", id, "network", net.ID, "arms", len(arms), "replicates", in.Replicates, "seed", seed)
	return s.db.Client.Experiment.Get(ctx, id)
}

// RunSeed is the seed of replicate r of an experiment seeded seed: the same
// for every arm (common random numbers: arms differ by their input only),
// distinct across replicates (splitmix64 of seed and r), positive (a zero
// seed is "none" to a run).
func RunSeed(seed int64, r int) int64 {
	z := uint64(seed) + uint64(r+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if v := int64(z >> 1); v != 0 {
		return v
	}
	return 1
}

// prefixed puts an arm's field path before a run input's error message
// (Run's messages start with the field they are about).
func prefixed(err error, prefix string) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return &apperr.Error{Kind: ae.Kind, Msg: prefix + ae.Msg, Err: ae.Err}
	}
	return err
}

func ptr[T any](v T) *T { return &v }

// errNotServed: this server was built without experiments (a nil Service).
var errNotServed = apperr.New(apperr.BadInput, "experiments are not served by this server")

// Get reads an experiment; NOT_FOUND when it does not exist.
func (s *Service) Get(ctx context.Context, id int) (*ent.Experiment, error) {
	if s == nil {
		return nil, errNotServed
	}
	e, err := s.db.Client.Experiment.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "experiment %d not found", id)
	}
	return e, err
}

// Cancel stops an experiment: its planned runs never start, its runs in
// flight are canceled. Canceling an ended experiment changes nothing.
func (s *Service) Cancel(ctx context.Context, id int) (*ent.Experiment, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	n, err := s.db.Client.Experiment.Update().Where(entexp.ID(id), entexp.StatusIn(entexp.StatusQUEUED, entexp.StatusRUNNING)).
		SetStatus(entexp.StatusCANCELED).SetFinishedAt(now).Save(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		runs, err := s.db.Client.ExperimentRun.Query().Where(experimentrun.ExperimentID(id), experimentrun.SimulationIDNotNil()).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if _, err := s.sims.Cancel(ctx, *r.SimulationID); err != nil && apperr.KindOf(err) != apperr.NotFound {
				s.log.WarnContext(ctx, "cancel an experiment's run", "experiment", id, "simulation", *r.SimulationID, "error", err)
			}
		}
		s.log.InfoContext(ctx, "experiment canceled", "experiment", id)
		s.enqueue(ctx, id)
	}
	return s.Get(ctx, id)
}

// inTx runs f in one transaction with an ent client bound to it.
func (s *Service) inTx(ctx context.Context, f func(tx *sql.Tx, client *ent.Client) error) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	client := ent.NewClient(ent.Driver(txDriver{entsql.NewDriver(s.db.Dialect, entsql.Conn{ExecQuerier: tx})}))
	if err := f(tx, client); err != nil {
		return err
	}
	return tx.Commit()
}

// txDriver: ent writes that open a transaction of their own join the open one
// (as in simulation/store.go).
type txDriver struct{ *entsql.Driver }

func (d txDriver) Tx(context.Context) (dialect.Tx, error) { return dialect.NopTx(d), nil }

// latestResult is the experiment's latest stored result, nil when none.
func (s *Service) latestResult(ctx context.Context, id int) (*ent.ExperimentResult, error) {
	r, err := s.db.Client.ExperimentResult.Query().Where(experimentresult.ExperimentID(id)).
		Order(ent.Desc(experimentresult.FieldVersion)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return r, err
}

// LatestResult is the experiment's latest stored result, nil when none yet.
func (s *Service) LatestResult(ctx context.Context, id int) (*ent.ExperimentResult, error) {
	if s == nil {
		return nil, errNotServed
	}
	return s.latestResult(ctx, id)
}

// Results lists the experiment's stored results, newest first.
func (s *Service) Results(ctx context.Context, id int) ([]*ent.ExperimentResult, error) {
	if s == nil {
		return nil, errNotServed
	}
	return s.db.Client.ExperimentResult.Query().Where(experimentresult.ExperimentID(id)).
		Order(ent.Desc(experimentresult.FieldVersion)).All(ctx)
}

// live are the statuses an experiment can still leave.
func live(st entexp.Status) bool { return st == entexp.StatusQUEUED || st == entexp.StatusRUNNING }

func simEnded(st entsim.Status) bool {
	return st == entsim.StatusSUCCEEDED || st == entsim.StatusFAILED || st == entsim.StatusCANCELED
}

// runsOf reads an experiment's planned runs (by replicate, then arm) with
// their simulations (nil: not started, or purged with its network).
func (s *Service) runsOf(ctx context.Context, id int) ([]*ent.ExperimentRun, map[int]*ent.Simulation, error) {
	runs, err := s.db.Client.ExperimentRun.Query().Where(experimentrun.ExperimentID(id)).
		Order(ent.Asc(experimentrun.FieldReplicate), ent.Asc(experimentrun.FieldArmIndex)).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ids []int
	for _, r := range runs {
		if r.SimulationID != nil {
			ids = append(ids, *r.SimulationID)
		}
	}
	sims := map[int]*ent.Simulation{}
	for chunk := range slices.Chunk(ids, 500) {
		ss, err := s.db.Client.Simulation.Query().Where(entsim.IDIn(chunk...)).All(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, sim := range ss {
			sims[sim.ID] = sim
		}
	}
	return runs, sims, nil
}
