package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
)

// WorkerLease is the liveness record of a process that works simulation jobs
// (see simulation/liveness.go): renewed every few seconds while the process
// lives, so a running job whose River client has no live lease was orphaned
// by a dead process and is re-queued at once instead of after
// JOB_RESCUE_AFTER. Read and written in plain SQL by the simulation package.
type WorkerLease struct {
	ent.Schema
}

func (WorkerLease) Fields() []ent.Field {
	return []ent.Field{
		// The River client's ID: what River records in a job's attempted_by.
		field.String("client_id").Unique().Immutable().NotEmpty(),
		// "boot id/pid namespace/pid/start time" on Linux, else empty: lets a
		// process on the same machine tell at once that the holder has exited.
		field.String("process").Default(""),
		field.Time("expires_at"),
	}
}

func (WorkerLease) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
