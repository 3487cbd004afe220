// Package testwait polls, in tests, until a simulation run ends or another
// condition holds, failing the test past a time limit.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often RunEnd polls.
const Interval = 20 * time.Millisecond

// Ended reports whether status, as the database and GraphQL spell it, ends a
// run.
func Ended[S ~string](status S) bool {
	return status == "SUCCEEDED" || status == "FAILED" || status == "CANCELED"
}

// RunEnd polls a run every Interval until it has ended and returns its final
// status. poll returns the run's status and, for the failure message, where
// the run is (its progress, the last poll error); t fails once within has
// passed.
func RunEnd[S ~string](t testing.TB, within time.Duration, poll func() (status S, detail string)) S {
	t.Helper()
	return RunEndEvery(t, within, Interval, poll)
}

// RunEndEvery is RunEnd polling every `every`.
func RunEndEvery[S ~string](t testing.TB, within, every time.Duration, poll func() (status S, detail string)) S {
	t.Helper()
	var status S
	Until(t, within, every, func() (bool, string) {
		var detail string
		status, detail = poll()
		return Ended(status), "run still " + string(status) + " " + detail
	})
	return status
}

// Until calls check every `every` until it returns true; t fails once within
// has passed, with the last state check described.
func Until(t testing.TB, within, every time.Duration, check func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, state)
		}
		time.Sleep(every)
	}
}
