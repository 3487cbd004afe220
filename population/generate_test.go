package population

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/network"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/community"
)

func generate(t testing.TB, opts Options) *Result {
	t.Helper()
	r, err := Generate(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenerateValidation(t *testing.T) {
	for _, n := range []int{0, -5, MaxAgents + 1} {
		_, err := Generate(context.Background(), Options{NumAgents: n})
		if apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), "numAgents") {
			t.Errorf("NumAgents %d: %v, want BadInput about numAgents", n, err)
		}
	}
	_, err := Generate(context.Background(), Options{NumAgents: 10, Profiles: strings.NewReader("Gender\nFemale\n")})
	if apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), `column "AgeGroup"`) {
		t.Errorf("bad CSV: %v", err)
	}
}

func TestGenerateTiny(t *testing.T) {
	r := generate(t, Options{NumAgents: 1, Seed: 1})
	g := r.Graph
	if len(g.Nodes) != 1 || len(g.Edges) != 0 {
		t.Fatalf("%d nodes, %d edges", len(g.Nodes), len(g.Edges))
	}
	n := g.Nodes[0]
	if n.AgentID != "0" || *n.Cluster != 0 || *n.Degree != 0 || n.Age == nil || *n.BetweennessCentrality != 0 {
		t.Errorf("node %+v", n)
	}
	r = generate(t, Options{NumAgents: 2, Seed: 1})
	if len(r.Graph.Edges) != 1 || r.Graph.Edges[0].Source != "0" || r.Graph.Edges[0].Target != "1" {
		t.Errorf("edges %+v", r.Graph.Edges)
	}
}

// checkGraph verifies the structural promises of Generate.
func checkGraph(t *testing.T, r *Result, n int) {
	t.Helper()
	g := r.Graph
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if g.Directed || len(g.Nodes) != n {
		t.Fatalf("directed %v, %d nodes", g.Directed, len(g.Nodes))
	}
	for i, node := range g.Nodes {
		if node.AgentID != strconv.Itoa(i) {
			t.Fatalf("node %d has id %q", i, node.AgentID)
		}
		raw, ok := node.Profile["bfi2_raw"].(map[string]float64)
		if !ok || len(node.Traits) != numFacets || len(raw) != numFacets {
			t.Fatalf("node %d: traits %v raw %v", i, node.Traits, node.Profile["bfi2_raw"])
		}
		for _, f := range facetNames {
			tr, x := node.Traits[f], raw[f]
			if tr < 0 || tr > 1 || x < 1 || x > 5 || tr != normalise(x) || math.Abs(tr-(x-1)/4) > 1e-9 {
				t.Fatalf("node %d %s: trait %v raw %v", i, f, tr, x)
			}
		}
		if node.Age == nil || node.Cluster == nil || node.Degree == nil || node.DegreeCentrality == nil || node.BetweennessCentrality == nil {
			t.Fatalf("node %d: missing built-in field: %+v", i, node)
		}
		if node.Gender != nil && *node.Gender != strings.ToLower(*node.Gender) {
			t.Fatalf("node %d: gender %q not lower-case", i, *node.Gender)
		}
		if want := node.Attributes["target_ties"].(int); *node.Degree < min(want, n-1) || want < 1 {
			t.Fatalf("node %d: degree %d < target ties %d", i, *node.Degree, want)
		}
	}
	prev := [2]int{-1, -1}
	for j, e := range g.Edges {
		a, _ := strconv.Atoi(e.Source)
		b, _ := strconv.Atoi(e.Target)
		if a >= b || [2]int{a, b} == prev || a < prev[0] || (a == prev[0] && b < prev[1]) {
			t.Fatalf("edge %d (%s,%s) out of order after %v", j, e.Source, e.Target, prev)
		}
		prev = [2]int{a, b}
		if e.Weight < 1e-4 || e.Weight > 1 || math.Abs(e.Weight*1e4-math.Round(e.Weight*1e4)) > 1e-6 {
			t.Fatalf("edge %d weight %v", j, e.Weight)
		}
	}
	if _, err := json.Marshal(r.Params); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"modelVersion", "seed", "numAgents", "profileSource", "similaritySigma", "edges", "communities", "neighbourSearch", "correlationRepaired"} {
		if _, ok := r.Params[k]; !ok {
			t.Errorf("Params lacks %q", k)
		}
	}
}

func TestGenerateBuiltin(t *testing.T) {
	const n = 800
	r := generate(t, Options{NumAgents: n, Seed: 3})
	checkGraph(t, r, n)
	g := r.Graph
	if r.Params["profileSource"] != "builtin" || r.Params["neighbourSearch"] != "exact" || r.Params["edges"] != len(g.Edges) {
		t.Errorf("params %v", r.Params)
	}

	// Ties go to the most similar agents: every agent is tied to its exact
	// top-k (this size uses exact search), with the RBF similarity as weight.
	m, _ := defaultModel()
	y := make([]float64, n*numFacets)
	for i, node := range g.Nodes {
		var tr [numFacets]float64
		for f, name := range facetNames {
			tr[f] = node.Traits[name]
		}
		m.whitenInto(&tr, y[i*numFacets:(i+1)*numFacets])
	}
	weight := map[[2]int]float64{}
	for _, e := range g.Edges {
		a, _ := strconv.Atoi(e.Source)
		b, _ := strconv.Atoi(e.Target)
		weight[[2]int{a, b}] = e.Weight
	}
	sigma := r.Params["similaritySigma"].(float64)
	for i, node := range g.Nodes {
		for _, x := range bruteKNN(y, numFacets, i, node.Attributes["target_ties"].(int)) {
			a, b := min(i, int(x.id)), max(i, int(x.id))
			w, ok := weight[[2]int{a, b}]
			if !ok {
				t.Fatalf("agent %d is not tied to its neighbour %d", i, x.id)
			}
			if want := edgeWeight(math.Exp(-x.d2 / (2 * sigma * sigma))); w != want {
				t.Fatalf("edge %d-%d weight %v, want %v", a, b, w, want)
			}
		}
	}

	genders := map[string]int{}
	for _, node := range g.Nodes {
		genders[*node.Gender]++
		if a := *node.Age; a != 22 && a != 32 && a != 55 {
			t.Fatalf("age %d", a)
		}
	}
	if genders["female"] == 0 || genders["male"] == 0 || len(genders) > 3 {
		t.Errorf("genders %v", genders)
	}
}

func TestGenerateWithSurvey(t *testing.T) {
	data := readFixture(t)
	rows, err := ParseProfiles(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	r := generate(t, Options{NumAgents: n, Seed: 5, Profiles: bytes.NewReader(data)})
	checkGraph(t, r, n)
	sum := sha256.Sum256(data)
	if got := r.Params["profileSource"]; got != "csv:sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("profileSource %v", got)
	}
	if r.Params["profileRows"] != 350 {
		t.Errorf("profileRows %v", r.Params["profileRows"])
	}
	for i, node := range r.Graph.Nodes {
		prof := maps.Clone(node.Profile)
		delete(prof, "bfi2_raw")
		found := false
		for _, row := range rows {
			if maps.Equal(prof, row.Fields) {
				found = true
				if *node.Age != row.Age || *node.Gender != strings.ToLower(row.Gender) {
					t.Fatalf("node %d: age %d gender %q, row %d: %d %q", i, *node.Age, *node.Gender, row.Line, row.Age, row.Gender)
				}
				break
			}
		}
		if !found {
			t.Fatalf("node %d profile %v is not a survey row", i, prof)
		}
	}
	// The same CSV and seed give the same graph.
	again := generate(t, Options{NumAgents: n, Seed: 5, Profiles: bytes.NewReader(data)})
	if !bytes.Equal(marshal(t, r.Graph), marshal(t, again.Graph)) {
		t.Error("same CSV and seed gave different graphs")
	}
}

func TestGenerateGenderAndAge(t *testing.T) {
	csv := "Gender,AgeGroup,Age\n,Under 25,\nNONBINARY,40+,70\n"
	r := generate(t, Options{NumAgents: 60, Seed: 1, Profiles: strings.NewReader(csv)})
	for _, node := range r.Graph.Nodes {
		switch {
		case node.Gender == nil:
			if *node.Age != 22 {
				t.Errorf("blank-gender row: age %d", *node.Age)
			}
		case *node.Gender == "nonbinary":
			if *node.Age != 70 {
				t.Errorf("nonbinary row: age %d", *node.Age)
			}
		default:
			t.Errorf("gender %q", *node.Gender)
		}
	}
}

func TestGenerateReproducible(t *testing.T) {
	for _, n := range []int{1200, exactKNNMaxAgents + 500} { // exact and NN-descent paths
		a := marshal(t, generate(t, Options{NumAgents: n, Seed: 42, Workers: 1}).Graph)
		b := marshal(t, generate(t, Options{NumAgents: n, Seed: 42, Workers: 3}).Graph)
		if !bytes.Equal(a, b) {
			t.Errorf("n=%d: same seed gave different JSON (workers 1 vs 3)", n)
		}
		c := marshal(t, generate(t, Options{NumAgents: n, Seed: 43}).Graph)
		if bytes.Equal(a, c) {
			t.Errorf("n=%d: seeds 42 and 43 gave the same graph", n)
		}
	}
}

func TestGenerateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, Options{NumAgents: 5000, Seed: 1}); err != context.Canceled {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func extraversion(traits map[string]float64) float64 {
	return 0.55*traits["Sociability"] + 0.20*traits["Assertiveness"] + 0.25*traits["Energy Level"]
}

// Mean number of ties grows with extraversion: compare the most and least
// extraverted quartiles, for the drawn tie counts (20,000 agents) and for
// the realised degrees of a generated network.
func TestDegreeGrowsWithExtraversion(t *testing.T) {
	_, ks, traits := testPopulation(t, 20_000, 12)
	type agent struct {
		e float64
		k int
	}
	as := make([]agent, len(ks))
	for i := range ks {
		as[i] = agent{0.55*traits[i][0] + 0.20*traits[i][1] + 0.25*traits[i][2], ks[i]}
		if want := tieMean(&traits[i]); math.Abs(want-(1+4*as[i].e)) > 1e-12 {
			t.Fatalf("tieMean %v, want %v", want, 1+4*as[i].e)
		}
	}
	slices.SortFunc(as, func(a, b agent) int { return cmpFloat(a.e, b.e) })
	q := len(as) / 4
	mean := func(s []agent) (e, k float64) {
		for _, a := range s {
			e += a.e
			k += float64(a.k)
		}
		return e / float64(len(s)), k / float64(len(s))
	}
	eLo, kLo := mean(as[:q])
	eHi, kHi := mean(as[len(as)-q:])
	t.Logf("drawn ties: low-extraversion quartile %.2f (mean of means %.2f), high %.2f (%.2f)", kLo, 1+4*eLo, kHi, 1+4*eHi)
	if kHi < kLo+0.5 {
		t.Errorf("drawn ties: high-extraversion quartile %.2f vs low %.2f", kHi, kLo)
	}
	// round(μ·E) with E ~ Exp(1) has mean ≈ μ, and the max(1,·) floor adds
	// a little: the group means must be close to their mean μ.
	for _, c := range []struct{ k, e float64 }{{kLo, eLo}, {kHi, eHi}} {
		if mu := 1 + 4*c.e; c.k < mu-0.1 || c.k > mu+0.5 {
			t.Errorf("mean ties %.2f for mean μ %.2f", c.k, mu)
		}
	}

	r := generate(t, Options{NumAgents: 2000, Seed: 12})
	nodes := slices.Clone(r.Graph.Nodes)
	slices.SortFunc(nodes, func(a, b network.Node) int { return cmpFloat(extraversion(a.Traits), extraversion(b.Traits)) })
	q = len(nodes) / 4
	degMean := func(s []network.Node) float64 {
		var d float64
		for _, nd := range s {
			d += float64(*nd.Degree)
		}
		return d / float64(len(s))
	}
	dLo, dHi := degMean(nodes[:q]), degMean(nodes[len(nodes)-q:])
	t.Logf("realised degree: low-extraversion quartile %.2f, high %.2f", dLo, dHi)
	if dHi < dLo+0.5 {
		t.Errorf("realised degree: high-extraversion quartile %.2f vs low %.2f", dHi, dLo)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// communitiesOf converts a labelling into gonum's form.
func communitiesOf(labels []int32) [][]graph.Node {
	byLabel := map[int32][]graph.Node{}
	for v, c := range labels {
		byLabel[c] = append(byLabel[c], csrNode(v))
	}
	keys := slices.Sorted(maps.Keys(byLabel))
	out := make([][]graph.Node, len(keys))
	for i, k := range keys {
		out[i] = byLabel[k]
	}
	return out
}

// louvainFast (used above gonumLouvainMaxAgents) must find partitions about
// as good as gonum's Modularize, scored by gonum's own community.Q.
func TestLouvainFastMatchesGonum(t *testing.T) {
	const n = 3000
	y, ks, _ := testPopulation(t, n, 21)
	start, nb, err := allKNN(context.Background(), y, numFacets, ks, 0, 21)
	if err != nil {
		t.Fatal(err)
	}
	ties := symmetrise(start, nb, medianDistance(newRand(21, 1), y, numFacets))
	g := newCSRGraph(n, ties)

	ref := community.Modularize(g, 1, newRand(21, streamLouvain)).Communities()
	qRef := community.Q(g, ref, 1)
	fast := louvainFast(g, newRand(21, streamLouvain))
	qFast := community.Q(g, communitiesOf(fast), 1)
	t.Logf("modularity: gonum %.4f (%d communities), louvainFast %.4f (%d communities)", qRef, len(ref), qFast, len(communitiesOf(fast)))
	if qFast < qRef-0.02 {
		t.Errorf("louvainFast modularity %.4f is well below gonum's %.4f", qFast, qRef)
	}
	if again := louvainFast(g, newRand(21, streamLouvain)); !slices.Equal(fast, again) {
		t.Error("louvainFast is not deterministic")
	}
	labels := labelBySize(fast)
	sizes := map[int]int{}
	for _, l := range labels {
		sizes[l]++
	}
	for l := 1; l < len(sizes); l++ {
		if sizes[l] > sizes[l-1] {
			t.Fatalf("cluster %d (%d members) larger than cluster %d (%d)", l, sizes[l], l-1, sizes[l-1])
		}
	}
}

// The graph type handed to gonum implements its interfaces consistently.
func TestCSRGraph(t *testing.T) {
	g := newCSRGraph(4, []tie{{0, 1, 0.5}, {0, 3, 0.25}, {1, 2, 1}})
	if w, ok := g.Weight(3, 0); !ok || w != 0.25 {
		t.Errorf("Weight(3,0) = %v, %v", w, ok)
	}
	if _, ok := g.Weight(2, 3); ok {
		t.Error("Weight(2,3) exists")
	}
	if w, ok := g.Weight(2, 2); !ok || w != 0 {
		t.Errorf("Weight(2,2) = %v, %v", w, ok)
	}
	if g.HasEdgeBetween(0, 2) || !g.HasEdgeBetween(2, 1) || g.Edge(0, 2) != nil || g.Node(4) != nil {
		t.Error("edge or node lookup wrong")
	}
	if e := g.WeightedEdge(1, 0); e == nil || e.From().ID() != 1 || e.To().ID() != 0 || e.Weight() != 0.5 {
		t.Errorf("WeightedEdge(1,0) = %v", e)
	}
	var from []int64
	it := g.From(0)
	if it.Len() != 2 {
		t.Errorf("From(0).Len() = %d", it.Len())
	}
	for it.Next() {
		from = append(from, it.Node().ID())
	}
	it.Reset()
	if !it.Next() || it.Node().ID() != 1 {
		t.Error("Reset did not rewind")
	}
	if !slices.Equal(from, []int64{1, 3}) {
		t.Errorf("From(0) = %v", from)
	}
	if nodes := graph.NodesOf(g.Nodes()); len(nodes) != 4 || nodes[3].ID() != 3 {
		t.Errorf("Nodes() = %v", nodes)
	}
}

// BenchmarkGenerate generates complete populations (built-in profiles,
// personalities, ties, communities, degree and betweenness). Run it with
//
//	go test ./population/ -run '^$' -bench BenchmarkGenerate -benchtime 1x
func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var r *Result
			for b.Loop() {
				var err error
				r, err = Generate(context.Background(), Options{NumAgents: n, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.Params["edges"].(int)), "edges")
			b.ReportMetric(float64(r.Params["communities"].(int)), "communities")
		})
	}
}
