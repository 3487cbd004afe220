package simulation

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
	"github.com/ethox/ethox/simulation/llm"
	"github.com/ethox/ethox/simulation/simtypes"
)

// The agents' prompts (simtypes.PromptVersion). They carry the prototype's
// instructions in Ethox's own words: the agent is a voter reading an
// official communication, critically, because such messages are the
// polished version of events; change_in_support is its change of support
// for the speaker who made the announcement; in an update, views weigh by
// their weights, higher weights more.
//
// The system prompt is the same for every agent, call and run, and comes
// first, so that providers' prompt caching applies to it; what differs (the
// speaker, the persona, the views) is in the user message. The influence
// instructions ride only on the update calls. Prompt sizes are tested
// against a budget in prompt_test.go.

// systemPrompt says who the agent is, how to read the message, what to
// answer and what the persona's numbers mean. Facet scores are not relative
// to 50: the BFI-2 population averages on 0..100 run from 46 to 78, and 9 of
// the 15 are 60 or more (Soto & John 2017; population/bfi2.go).
const systemPrompt = `You are the voter below, reading an official message. Such messages are the polished version of events: read it critically, as this voter would. Reply in character, first person, 1-3 sentences, as JSON: opinion, care (0-10: how much you care), change_in_support (-5 to 5: change in your support for the speaker; 0 = none).
Facets are BFI-2 scores 0-100 (0 = lowest possible); judge them against the population's averages: 46-78, mostly above 60.`

// updateInstruction ends an update's user message.
const updateInstruction = "Weigh the views by their weights, yours too: a higher weight sways you more. Update your reaction."

// neighborView is one neighbour's current view as a prompt shows it.
type neighborView struct {
	weight  float64
	opinion string
	care    float64
	support float64
}

// promptOptions are a run's parameters that shape its prompts.
type promptOptions struct {
	speaker         string
	neighborNumbers bool    // show neighbours' care and support
	selfWeight      float64 // the weight of the agent's own view
	maxChars        int     // opinions shown are cut at this many characters
}

func promptOptionsOf(p Params) promptOptions {
	return promptOptions{speaker: cmp.Or(p.Speaker, simtypes.DefaultSpeaker), neighborNumbers: p.NeighborNumbers,
		selfWeight: p.SelfWeight, maxChars: p.OpinionMaxChars}
}

// facetOrder ranks the BFI-2 facets in domain order (extraversion,
// agreeableness, conscientiousness, negative emotionality, open-mindedness).
var facetOrder = func() map[string]int {
	m := map[string]int{}
	for i, f := range population.FacetNames() {
		m[f] = i
	}
	return m
}()

// persona renders an agent in three lines at most: who it is (gender and
// age as its profile gives them, then the profile's other fields), its
// survey's 0..10 attitude scales, and its personality (BFI-2 facets on
// 0..100, in domain order; other traits after them, as given). Profile keys
// sharing a prefix (IssueSalience_Economy, IssueSalience_Climate) are
// grouped under it.
func persona(n *networkfile.Node) string {
	type field struct {
		key string
		val string
	}
	var who, other, scales []field
	hasKey := func(name string) bool {
		for k := range n.Profile {
			if strings.EqualFold(k, name) {
				return true
			}
		}
		return false
	}
	// Gender and age come first, from the profile when it has them (the
	// bracket the person gave, not an age derived from it).
	if n.Gender != nil && *n.Gender != "" && !hasKey("gender") {
		who = append(who, field{"gender", *n.Gender})
	}
	if n.Age != nil && !hasKey("age") && !hasKey("agegroup") {
		who = append(who, field{"age", strconv.Itoa(*n.Age)})
	}
	for k, v := range n.Profile {
		text, ok := scalarText(v)
		if !ok {
			continue // raw trait scores and other nested data stay out of the prompt
		}
		switch {
		case strings.EqualFold(k, "gender"):
			who = append(who, field{"gender", text})
		case strings.EqualFold(k, "agegroup"):
			who = append(who, field{"agegroup", text})
		case strings.EqualFold(k, "age"):
			who = append(who, field{"age", text})
		case population.AttitudeScale(k):
			scales = append(scales, field{k, text})
		default:
			other = append(other, field{k, text})
		}
	}
	// Gender, then the age group, then the age; written without their keys
	// but "age" (Female, age 25-40).
	rank := map[string]int{"gender": 0, "agegroup": 1, "age": 2}
	slices.SortFunc(who, func(a, b field) int { return cmp.Compare(rank[a.key], rank[b.key]) })
	for i, f := range who {
		switch f.key {
		case "gender":
			who[i] = field{val: f.val}
		case "agegroup":
			who[i] = field{key: "age", val: f.val}
		}
	}
	byKey := func(a, b field) int { return strings.Compare(a.key, b.key) }
	slices.SortFunc(other, byKey)
	slices.SortFunc(scales, byKey)

	var b strings.Builder
	writeFields := func(fs []field) {
		for i := 0; i < len(fs); {
			if i > 0 {
				b.WriteString(", ")
			}
			if fs[i].key == "" {
				b.WriteString(fs[i].val)
				i++
				continue
			}
			// A run of keys sharing a prefix before "_" is written once:
			// IssueSalience(Climate 5, Economy 5).
			pre, _, grouped := strings.Cut(fs[i].key, "_")
			j := i + 1
			for grouped && j < len(fs) && strings.HasPrefix(fs[j].key, pre+"_") {
				j++
			}
			if j-i < 2 {
				b.WriteString(fs[i].key + " " + fs[i].val)
				i++
				continue
			}
			b.WriteString(pre + "(")
			for k := i; k < j; k++ {
				if k > i {
					b.WriteString(", ")
				}
				b.WriteString(fs[k].key[len(pre)+1:] + " " + fs[k].val)
			}
			b.WriteByte(')')
			i = j
		}
	}
	if len(who)+len(other) > 0 {
		writeFields(append(who, other...))
		b.WriteByte('\n')
	}
	if len(scales) > 0 {
		b.WriteString("Scales 0-10: ")
		writeFields(scales)
		b.WriteByte('\n')
	}
	var facets, rest []string
	for k := range n.Traits {
		if _, ok := facetOrder[k]; ok {
			facets = append(facets, k)
		} else {
			rest = append(rest, k)
		}
	}
	slices.SortFunc(facets, func(a, b string) int { return cmp.Compare(facetOrder[a], facetOrder[b]) })
	slices.Sort(rest)
	if len(facets) > 0 {
		b.WriteString("Facets 0-100: ")
		for i, k := range facets {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d", k, int(math.Round(100*n.Traits[k])))
		}
		b.WriteByte('\n')
	}
	if len(rest) > 0 {
		b.WriteString("Other traits: ")
		for i, k := range rest {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + " " + strconv.FormatFloat(n.Traits[k], 'f', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// scalarText writes a profile value; ok is false for anything but a string,
// number or boolean.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, t != ""
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// message is the part of every user message after the persona: who made
// the announcement, and the announcement.
func message(b *strings.Builder, trigger string, o promptOptions) {
	b.WriteString("Speaker: ")
	b.WriteString(o.speaker)
	b.WriteString("\nMessage: \"")
	b.WriteString(trigger)
	b.WriteString("\"\n")
}

// reactionPrompt is stage 0: the agent meets the trigger.
func reactionPrompt(n *networkfile.Node, trigger string, o promptOptions) []llm.Message {
	var b strings.Builder
	b.WriteString(persona(n))
	message(&b, trigger, o)
	return []llm.Message{{Role: "system", Content: systemPrompt}, {Role: "user", Content: b.String()}}
}

// influencePrompt is a later round: the agent reconsiders, given its own
// current view and the views of the agents it hears.
func influencePrompt(n *networkfile.Node, trigger string, own neighborView, views []neighborView, o promptOptions) []llm.Message {
	var b strings.Builder
	b.WriteString(persona(n))
	message(&b, trigger, o)
	if own.opinion == "" {
		b.WriteString("You have no view on it yet.\n")
	} else {
		if o.neighborNumbers {
			fmt.Fprintf(&b, "Your view (weight %s, care %s, support %s): %q\n", weight(o.selfWeight), number(own.care), number(own.support),
				truncate(own.opinion, o.maxChars))
		} else {
			fmt.Fprintf(&b, "Your view (weight %s): %q\n", weight(o.selfWeight), truncate(own.opinion, o.maxChars))
		}
	}
	if len(views) == 0 {
		b.WriteString("Nobody you hear from has a view on it yet.\n")
	} else {
		b.WriteString("People you hear (weight):\n")
	}
	for _, v := range views {
		if o.neighborNumbers {
			fmt.Fprintf(&b, "- %s (care %s, support %s): %q\n", weight(v.weight), number(v.care), number(v.support), truncate(v.opinion, o.maxChars))
		} else {
			fmt.Fprintf(&b, "- %s: %q\n", weight(v.weight), truncate(v.opinion, o.maxChars))
		}
	}
	b.WriteString(updateInstruction)
	return []llm.Message{{Role: "system", Content: systemPrompt}, {Role: "user", Content: b.String()}}
}

// weight writes an influence weight with two decimals.
func weight(w float64) string { return strconv.FormatFloat(w, 'f', 2, 64) }

// number writes a care or support value with at most one decimal.
func number(x float64) string {
	s := strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
	if s == "-0" {
		return "0"
	}
	return s
}

// truncate keeps prompts bounded on long opinions, cutting at a rune boundary.
func truncate(s string, maxChars int) string {
	if maxChars <= 0 || len(s) <= maxChars {
		return s
	}
	r := []rune(s)
	if len(r) <= maxChars {
		return s
	}
	return string(r[:maxChars]) + "…"
}
