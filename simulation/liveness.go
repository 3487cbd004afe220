package simulation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// Orphaned jobs. A job stays `running` in River's table when its process dies.
// River v0.51.2 records which client took a job (attempted_by) and elects a
// leader, but keeps no record of which clients are alive: its rescuer only
// looks at how long a job has been running, so it must wait longer than the
// longest live job (JOB_RESCUE_AFTER, 6 min). So every process that works
// jobs keeps a lease in worker_leases, renewed every third of WORKER_LEASE,
// and every such process re-queues the running jobs whose client has no live
// lease, through River's own rescue query (which only touches a job still
// `running` since before the sweep began). A live job, however slow (a long
// LLM call, a retry back-off), keeps its lease and is never taken over.
//
// A lease is dead when it has expired, or at once when its holder ran on this
// machine and has exited (same boot and PID namespace, and its PID is gone,
// a zombie or another process): so a restarted process, or a survivor on the
// same machine, re-queues a killed process's jobs in its first sweep instead
// of waiting for the lease to lapse. Leases compare wall clocks of different
// processes: keep their clocks within a few seconds (NTP).

// On SQLite every process sharing the database shares its directory, so a
// lease is also backed by a file lock, which the kernel releases however its
// holder dies (even in another container on the same host): a lock file
// whose lock can be taken is a dead process's, known at once.

// lockName is the lock file of a River client in the lock directory.
func lockName(clientID string) string {
	return strings.NewReplacer("/", "_", "\\", "_").Replace(clientID) + ".lock"
}

// takeLock creates this process's lock file on SQLite (a file database),
// beside the database in DB-workers/.
func (s *Service) takeLock(ctx context.Context) error {
	if s.db.Dialect != dialect.SQLite {
		return nil
	}
	var path string
	if err := s.db.SQL.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		return err
	}
	if path == "" {
		return nil // in memory: one process
	}
	s.lockDir = path + "-workers"
	if err := os.MkdirAll(s.lockDir, 0o700); err != nil {
		return err
	}
	f, err := lockFile(filepath.Join(s.lockDir, lockName(s.river.ID())))
	if err != nil {
		return err
	}
	s.lock = f
	return nil
}

// dropLock removes this process's lock file at a clean stop.
func (s *Service) dropLock() {
	if s.lock != nil {
		_ = os.Remove(s.lock.Name()) // still locked: no one takes it for a dead process's
		s.lock.Close()
		s.lock = nil
	}
}

// leaseState is one row of worker_leases.
type leaseState struct {
	process string
	expires time.Time
}

// renewLease writes this process's lease, valid for WORKER_LEASE from now.
func (s *Service) renewLease(ctx context.Context) error {
	ph := s.db.Placeholder
	_, err := s.db.SQL.ExecContext(ctx, `INSERT INTO worker_leases (client_id, process, expires_at) VALUES (`+
		ph(1)+`, `+ph(2)+`, `+ph(3)+`) ON CONFLICT (client_id) DO UPDATE SET process = excluded.process, expires_at = excluded.expires_at`,
		s.river.ID(), s.process, time.Now().UTC().Add(s.cfg.Lease))
	return err
}

// dropLease removes this process's lease at a clean stop: jobs Stop could not
// finish are taken over at once by the survivors.
func (s *Service) dropLease(ctx context.Context) error {
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM worker_leases WHERE client_id = `+s.db.Placeholder(1), s.river.ID())
	return err
}

// leases reads every lease; the table holds a row per process that worked jobs in the last hour.
func (s *Service) leases(ctx context.Context) (map[string]leaseState, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT client_id, process, expires_at FROM worker_leases`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]leaseState{}
	for rows.Next() {
		var (
			id string
			l  leaseState
		)
		if err := rows.Scan(&id, &l.process, &l.expires); err != nil {
			return nil, err
		}
		out[id] = l
	}
	return out, rows.Err()
}

// keepAlive renews this process's lease and re-queues orphaned jobs every
// third of the lease, until ctx ends.
func (s *Service) keepAlive(ctx context.Context) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.renewLease(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("renew worker lease", "error", err)
		}
		if _, err := s.rescueOrphans(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("re-queue orphaned jobs", "error", err)
		}
	}
}

// rescueOrphans re-queues the running jobs of processes without a live lease
// and returns how many. A job that had used its last attempt is discarded and
// its run fails, as when its last attempt returns an error.
func (s *Service) rescueOrphans(ctx context.Context) (int, error) {
	leases, err := s.leases(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	self := s.river.ID()
	for id, l := range leases {
		if id != self && now.Sub(l.expires) > time.Hour {
			if _, err := s.db.SQL.ExecContext(ctx, `DELETE FROM worker_leases WHERE client_id = `+s.db.Placeholder(1), id); err != nil {
				return 0, err
			}
		}
	}
	abandoned := map[string]bool{} // by client: lockAbandoned removes the file it finds
	orphaned := func(job *rivertype.JobRow) bool {
		if len(job.AttemptedBy) == 0 {
			return false // not River's way: leave it to River's rescuer
		}
		owner := job.AttemptedBy[len(job.AttemptedBy)-1]
		if owner == self {
			return false
		}
		if s.lockDir != "" {
			dead, seen := abandoned[owner]
			if !seen {
				dead = lockAbandoned(filepath.Join(s.lockDir, lockName(owner)))
				abandoned[owner] = dead
			}
			if dead {
				return true
			}
		}
		l, ok := leases[owner]
		switch {
		case !ok:
			// No lease: its process stopped cleanly (and dropped it), or predates leases.
			return job.AttemptedAt != nil && now.Sub(*job.AttemptedAt) > s.cfg.Lease
		case now.After(l.expires):
			return true
		default:
			return processExited(l.process)
		}
	}
	exec := s.river.Driver().GetExecutor()
	rescued := 0
	var afterID int64
	for {
		jobs, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: afterID, Max: 1000, StuckHorizon: now})
		if err != nil {
			return rescued, err
		}
		params := riverdriver.JobRescueManyParams{StuckHorizon: now}
		var exhausted []*rivertype.JobRow
		for _, job := range jobs {
			afterID = job.ID
			if !orphaned(job) {
				continue
			}
			owner := job.AttemptedBy[len(job.AttemptedBy)-1]
			data, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(job.Attempt, 0),
				Error: fmt.Sprintf("process %s stopped (no live lease in worker_leases); job re-queued", owner)})
			if err != nil {
				return rescued, err
			}
			state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
			if job.Attempt >= job.MaxAttempts {
				state, finalized = rivertype.JobStateDiscarded, &now
				exhausted = append(exhausted, job)
			}
			params.ID = append(params.ID, job.ID)
			params.Error = append(params.Error, data)
			params.FinalizedAt = append(params.FinalizedAt, finalized)
			params.ScheduledAt = append(params.ScheduledAt, now)
			params.State = append(params.State, string(state))
		}
		if len(params.ID) > 0 {
			if _, err := exec.JobRescueMany(ctx, &params); err != nil {
				return rescued, err
			}
			rescued += len(params.ID)
			s.log.Info("re-queued the jobs of a stopped process", "jobs", len(params.ID), "discarded", len(exhausted))
			for _, job := range exhausted {
				s.exhausted(ctx, job, "its process stopped during its last attempt")
			}
		}
		if len(jobs) < 1000 {
			return rescued, nil
		}
	}
}

// thisProcess identifies this process on this machine for processExited, or
// is empty where /proc is not there to read (then only expiry counts).
var thisProcess = func() string {
	boot, err1 := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, err2 := os.Readlink("/proc/self/ns/pid")
	start, err3 := startTime("self")
	if err := errors.Join(err1, err2, err3); err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "/" + ns + "/" + strconv.Itoa(os.Getpid()) + "/" + start
}()

// processExited reports whether the process a lease names ran on this
// machine (same boot and PID namespace) and is gone: no such PID, a zombie,
// or another process under a reused PID. Anything else is not known to have
// exited, and waits for its lease to expire.
func processExited(process string) bool {
	theirs, ours := strings.Split(process, "/"), strings.Split(thisProcess, "/")
	if len(theirs) != 4 || len(ours) != 4 || theirs[0] != ours[0] || theirs[1] != ours[1] {
		return false
	}
	if _, err := strconv.Atoi(theirs[2]); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + theirs[2] + "/stat")
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	state, start, ok := parseStat(string(stat))
	return ok && (state == "Z" || state == "X" || start != theirs[3])
}

// startTime is a process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat): with its PID, it names the process even after PID reuse.
func startTime(pid string) (string, error) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", err
	}
	_, start, ok := parseStat(string(stat))
	if !ok {
		return "", errors.New("unreadable /proc/" + pid + "/stat")
	}
	return start, nil
}

// parseStat reads the state (field 3) and start time (field 22) of a
// /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStat(stat string) (state, start string, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}
