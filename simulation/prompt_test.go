package simulation

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/fakellm"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// The prompts' budget: 60% of the prototype's prompt text for the same agent
// (2.6 KB at stage 0, 3.6 KB for an update with 3 neighbours), measured as
// the bytes of the system and user messages.
const (
	budgetStage0 = 1560
	budgetUpdate = 2160
)

// promptTrigger and promptOpinions are the texts the budget is measured
// with: a 132-character announcement and opinions of 114 to 128 characters
// (one or two sentences, what agents answer within 200 tokens).
const promptTrigger = "The Government will raise the state pension age from 66 to 68 by 2035, to keep the pension system affordable for future generations."

var promptOpinions = []string{
	"This is a cut dressed up as prudence. People in hard physical jobs can't work to 68, and I doubt the savings go where they say.",
	"I get that the system has to be paid for, but moving the goalposts this late feels unfair to people who planned around 66.",
	"Honestly it makes sense to me: we live longer, so we work a bit longer. I just want them to protect people with health problems.",
	"They announce it as responsibility, but it is younger workers like me who pay twice. I trust them less after this.",
}

// stored returns n as the database gives it back (profile values decoded
// from JSON: numbers as float64, the raw facets as a map[string]any).
func stored(t *testing.T, n networkfile.Node) *networkfile.Node {
	t.Helper()
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var out networkfile.Node
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// surveyAgent is agent 0 of a generated population: a row of the voter
// survey (AgeGroup "Under 25") and 15 facets.
func surveyAgent(t *testing.T) *networkfile.Node {
	t.Helper()
	res, err := population.Generate(context.Background(), population.Options{NumAgents: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return stored(t, res.Graph.Nodes[0])
}

// prototypeAgent is agent 0 of the prototype's network.json: an age and a
// gender, facets, no profile.
func prototypeAgent(t *testing.T) *networkfile.Node {
	t.Helper()
	f, err := os.Open(fixtures.Path(t, fixtures.Network20))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := networkfile.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return stored(t, g.Nodes[0])
}

func updateViews() (neighborView, []neighborView) {
	return neighborView{opinion: promptOpinions[0], care: 5, support: -1},
		[]neighborView{{0.31, promptOpinions[1], 6, -2}, {0.22, promptOpinions[2], 4, 1}, {0.18, promptOpinions[3], 7, -3}}
}

func textBytes(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Content)
	}
	return n
}

// TestPromptInstructions: both prompts carry every instruction the
// prototype gave its agents, in Ethox's words, for agents with and without
// a survey profile, within the byte budget.
func TestPromptInstructions(t *testing.T) {
	// In the system prompt, identical for every call: the role, the critical
	// stance, the answer and whose support it measures, and what the
	// personality numbers mean (not "0.5 = average": the population's facet
	// averages are 46..78 on 0..100).
	system := []string{
		"You are the voter below, reading an official message.",
		"Such messages are the polished version of events: read it critically",
		"Reply in character",
		"opinion", "care (0-10", "change_in_support (-5 to 5: change in your support for the speaker",
		"BFI-2 scores 0-100 (0 = lowest possible)",
		"judge them against the population's averages: 46-78, mostly above 60",
	}
	for _, s := range system {
		if !strings.Contains(systemPrompt, s) {
			t.Errorf("system prompt lacks %q", s)
		}
	}
	for _, s := range []string{"0.5", "average)", "move away", "dislike"} {
		if strings.Contains(systemPrompt, s) {
			t.Errorf("system prompt says %q", s)
		}
	}
	custom := promptOptions{speaker: "the Green Party", selfWeight: 0.5, maxChars: 400}
	def := promptOptionsOf(Params{SelfWeight: 0.5, OpinionMaxChars: 400})
	if def.speaker != simtypes.DefaultSpeaker || def.neighborNumbers {
		t.Fatalf("default options %+v", def)
	}
	own, views := updateViews()
	cases := []struct {
		name   string
		node   *networkfile.Node
		opts   promptOptions
		update bool
		want   []string // in the user message
		not    []string
		budget int // 0: not measured
	}{
		{name: "survey agent, stage 0", node: surveyAgent(t), opts: def, budget: budgetStage0,
			want: []string{"Female, age Under 25, Archetype ", "Scales 0-10: ", "IssueSalience(Climate ", "Facets 0-100: Sociability ",
				"Speaker: " + simtypes.DefaultSpeaker + "\n", "Message: \"" + promptTrigger + "\""},
			not: []string{"22", "Gender", "bfi2_raw", "AgeGroup", "People you hear", "weight"}},
		{name: "survey agent, update with 3 neighbours", node: surveyAgent(t), opts: def, update: true, budget: budgetUpdate,
			want: []string{"Female, age Under 25, ", "Speaker: " + simtypes.DefaultSpeaker + "\n",
				"Your view (weight 0.50): \"" + promptOpinions[0] + "\"", "People you hear (weight):\n- 0.31: \"" + promptOpinions[1] + "\"\n",
				"- 0.18: \"" + promptOpinions[3] + "\"\n", "Weigh the views by their weights, yours too: a higher weight sways you more."},
			not: []string{"care 6", "support -2", "Gender"}},
		{name: "survey agent, update with numbers, another speaker", node: surveyAgent(t), update: true,
			opts: promptOptions{speaker: "the Green Party", neighborNumbers: true, selfWeight: 0.5, maxChars: 400},
			want: []string{"Speaker: the Green Party\n", "Your view (weight 0.50, care 5, support -1): ", "- 0.31 (care 6, support -2): \"",
				"- 0.22 (care 4, support 1): \""}},
		{name: "prototype agent, stage 0", node: prototypeAgent(t), opts: custom,
			want: []string{"female, age 32\n", "Facets 0-100: Sociability 63, Assertiveness 65, Energy Level 45, Compassion 70, Respectfulness 70, Trust 43, " +
				"Organization 63, Productiveness 55, Responsibility 53, Anxiety 80, Depression 68, Emotional Volatility 80, " +
				"Intellectual Curiosity 93, Aesthetic Sensitivity 68, Creative Imagination 63\n", "Speaker: the Green Party\n"},
			not: []string{"Scales"}},
		{name: "prototype agent, update", node: prototypeAgent(t), opts: def, update: true,
			want: []string{"female, age 32\n", "People you hear (weight):\n", "a higher weight sways you more"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var msgs []llm.Message
			if c.update {
				msgs = influencePrompt(c.node, promptTrigger, own, views, c.opts)
			} else {
				msgs = reactionPrompt(c.node, promptTrigger, c.opts)
			}
			if len(msgs) != 2 || msgs[0].Role != "system" || msgs[0].Content != systemPrompt || msgs[1].Role != "user" {
				t.Fatalf("messages %+v", msgs)
			}
			user := msgs[1].Content
			for _, s := range c.want {
				if !strings.Contains(user, s) {
					t.Errorf("user message lacks %q:\n%s", s, user)
				}
			}
			for _, s := range c.not {
				if strings.Contains(user, s) {
					t.Errorf("user message has %q:\n%s", s, user)
				}
			}
			if strings.Count(strings.ToLower(user), "female") != 1 {
				t.Errorf("gender not given exactly once:\n%s", user)
			}
			n := textBytes(msgs)
			t.Logf("%d bytes (system %d, user %d)", n, len(msgs[0].Content), len(user))
			if c.budget > 0 && n > c.budget {
				t.Errorf("prompt text is %d bytes, over the budget of %d:\n%s", n, c.budget, user)
			}
		})
	}
}

// TestPersonaFacetOrder: facets in BFI-2 domain order, other traits after
// them as given; the profile's fields once, grouped by prefix.
func TestPersonaFacetOrder(t *testing.T) {
	age, gender := 55, "male"
	n := &networkfile.Node{Age: &age, Gender: &gender,
		Traits: map[string]float64{"Creative Imagination": 0.5, "Trust": 0.25, "Sociability": 0.125, "zeal": 0.3, "Anxiety": 1},
		Profile: map[string]any{"Gender": "Male", "Age": 55.0, "Values_Freedom": 3.0, "Values_Fairness": 9.0, "TrustMedia": 2.0,
			"Region": "Urban", "Hobby_Main": "chess", "bfi2_raw": map[string]any{"Trust": 2.0}, "Notes": []any{"x"}}}
	got := persona(n)
	want := "Male, age 55, Hobby_Main chess, Region Urban\n" +
		"Scales 0-10: TrustMedia 2, Values(Fairness 9, Freedom 3)\n" +
		"Facets 0-100: Sociability 13, Trust 25, Anxiety 100, Creative Imagination 50\n" +
		"Other traits: zeal 0.3\n"
	if got != want {
		t.Errorf("persona =\n%s\nwant\n%s", got, want)
	}
}

// TestPromptRequestBytes sends both prompts through the real client to the
// fake server and reports the request bodies (messages, the response
// schema, the model and the sampling), and checks that the schema adds no
// more than its fields' names.
func TestPromptRequestBytes(t *testing.T) {
	fk := fakellm.New(0)
	t.Cleanup(fk.Close)
	temp := float32(llm.DefaultTemperature)
	lc, err := llm.New(llm.Config{APIKey: "test", BaseURL: fk.BaseURL(), Temperature: &temp, MaxTokens: llm.DefaultMaxTokens,
		CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	node := surveyAgent(t)
	own, views := updateViews()
	o := promptOptionsOf(Params{SelfWeight: 0.5, OpinionMaxChars: 400})
	for _, msgs := range [][]llm.Message{reactionPrompt(node, promptTrigger, o), influencePrompt(node, promptTrigger, own, views, o)} {
		if _, _, err := lc.React(context.Background(), llm.Request{Messages: msgs}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := fk.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, name := range []string{"stage 0", "update"} {
		r := reqs[i]
		text := len(r.System) + len(r.User)
		t.Logf("%s: prompt text %d bytes, request body %d bytes", name, text, r.BodyBytes)
		// JSON escaping, the roles, the model, the sampling and the
		// response_format (its schema is 202 bytes without descriptions,
		// 425 with them): about 470 bytes.
		if over := r.BodyBytes - text; over > 500 {
			t.Errorf("%s: the body adds %d bytes to the prompt text", name, over)
		}
	}
}
