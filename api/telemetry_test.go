package api_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// /metrics reports HTTP and GraphQL operations by name, LLM usage, runs by
// status, the job queue and the database pool.
func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.mustUpload(readFixture(t, "ethox-network-20.json"), "")
	id := startRun(t, e, 0)
	waitDone(t, e, id)
	e.query(`query Overview { graph { metadata { nodeCount } } }`, nil)
	e.query(`query Broken { agent(agentId: "nobody") { node { agentId } } }`, nil)

	status, body := download(t, e.url+"/metrics")
	text := string(body)
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`ethox_graphql_operations_total{operation="Overview",outcome="ok",type="query"} 1`,
		`ethox_graphql_operations_total{operation="Broken",outcome="error",type="query"} 1`,
		`ethox_http_requests_total{code="200",method="POST",route="/query"}`,
		`ethox_simulations{status="SUCCEEDED"} 1`,
		`ethox_jobs{state="`,
		`go_sql_max_open_connections{db_name="ethox"}`,
		`ethox_llm_call_duration_seconds_count 20`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	m := regexp.MustCompile(`(?m)^ethox_llm_calls_total (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no ethox_llm_calls_total")
	}
	if n, _ := strconv.Atoi(m[1]); n < 20 {
		t.Fatalf("%d LLM calls counted, want at least one per agent", n)
	}
}
