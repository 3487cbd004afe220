package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/ethox/ethox/simulation/simtypes"
)

// Experiment groups runs on one network: named arms (each a run input) ×
// replicates with seeds derived from the experiment's seed. Its status is
// advanced by a River job from its runs' stored statuses (experiment/), so it
// survives a restart; its result is stored in ExperimentResult versions.
type Experiment struct {
	ent.Schema
}

func (Experiment) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200),
		// No foreign key: a deleted network's purge job deletes its runs, not
		// its experiments (an experiment of a deleted network is NOT_FOUND).
		field.Int("network_id").Immutable(),
		field.Enum("status").Values("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED").
			Default("QUEUED").Annotations(entgql.OrderField("STATUS")),
		field.Text("error").Optional().Nillable(),
		// The seed every run's seed and the bootstrap's are derived from.
		field.Int64("seed").Immutable(),
		field.Int("replicates").Positive().Immutable(),
		// The arms, each a run input without the network (JSON of simulation.RunInput).
		field.JSON("arms", []simtypes.ExperimentArm{}).Immutable().Annotations(entgql.Skip()),
		// Experiment-wide budget across all its runs; 0 = none.
		field.Int("max_calls").NonNegative().Default(0).Immutable(),
		field.Int("max_tokens").NonNegative().Default(0).Immutable(),
		field.Float("max_cost_usd").Min(0).Default(0).Immutable(),
		// Runs of this experiment in flight at once.
		field.Int("concurrent_runs").Positive().Immutable(),
		// Bootstrap resamples of the one-replicate intervals.
		field.Int("bootstrap_resamples").Positive().Immutable(),
		// Whether the runs reuse stored LLM answers (the opt-in answer cache).
		field.Bool("cache").Default(false).Immutable(),
		// agents × (rounds+1) summed over every run, for progress.
		field.Int("total_steps").NonNegative().Default(0).Immutable(),
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("started_at").Optional().Nillable(),
		field.Time("finished_at").Optional().Nillable(),
	}
}

func (Experiment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("runs", ExperimentRun.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("results", ExperimentResult.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
	}
}

func (Experiment) Indexes() []ent.Index {
	return []ent.Index{index.Fields("status"), index.Fields("network_id")}
}

func (Experiment) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection(), entgql.QueryField()}
}

// ExperimentRun is one planned run of an experiment: an arm and a replicate
// with its derived seed. simulation_id is set in the transaction that creates
// the run (a conditional update: a run is started once however many jobs try).
type ExperimentRun struct {
	ent.Schema
}

func (ExperimentRun) Fields() []ent.Field {
	return []ent.Field{
		field.Int("experiment_id").Immutable(),
		field.Int("arm_index").NonNegative().Immutable(),
		field.String("arm").Immutable(),
		field.Int("replicate").NonNegative().Immutable(),
		field.Int64("seed").Immutable(),
		// No foreign key: a purged network's runs go, the plan stays.
		field.Int("simulation_id").Optional().Nillable(),
	}
}

func (ExperimentRun) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("experiment", Experiment.Type).Ref("runs").Field("experiment_id").
			Unique().Required().Immutable(),
	}
}

func (ExperimentRun) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("experiment_id", "arm_index", "replicate").Unique(),
		index.Fields("simulation_id").Unique(),
	}
}

func (ExperimentRun) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// ExperimentResult is a stored, versioned result of an experiment: its
// statistics (experiment.Result as JSON) and a narrative. The experiment's job
// stores version 1 when its last run ends; generateExperimentReport adds more.
type ExperimentResult struct {
	ent.Schema
}

func (ExperimentResult) Fields() []ent.Field {
	return []ent.Field{
		field.Int("experiment_id").Immutable(),
		field.Int("version").Positive().Immutable(),
		field.JSON("result", map[string]any{}).Default(map[string]any{}).Immutable(),
		field.Text("narrative").Immutable(),
		field.Enum("narrative_source").Values("LLM", "DETERMINISTIC").Immutable(),
		field.String("model").Optional().Nillable().Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

func (ExperimentResult) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("experiment", Experiment.Type).Ref("results").Field("experiment_id").
			Unique().Required().Immutable(),
	}
}

func (ExperimentResult) Indexes() []ent.Index {
	return []ent.Index{index.Fields("experiment_id", "version").Unique()}
}

func (ExperimentResult) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
