package simulation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ethox/ethox/network"
	"github.com/ethox/ethox/simulation/llm"
)

// systemPrompt is identical for every call of every run, and comes first, so
// providers' prompt caching applies to it.
const systemPrompt = `You role-play one specific member of a population in a social simulation.
You are given your persona (personality traits and background) and a message that has reached the public.
Stay in character: react as this person plausibly would, in the first person, in one to three sentences.

Answer with a single JSON object and nothing else:
{"opinion": string, "care": number, "change_in_support": number}
- opinion: what you think of the message, in your own words.
- care: how much you care about it, from 0 (not at all) to 10 (deeply).
- change_in_support: how the message changes your support, from -5 (strongly less) to 5 (strongly more); 0 is no change.

Personality facets are on a 0..1 scale (0 = very low, 0.5 = average, 1 = very high).
When you are shown the views of people you know, weigh them by their influence weight against your own current view,
whose weight is given too; you may be persuaded, stay put, or move away from views you dislike.`

// neighborView is one neighbour's current view as a prompt shows it.
type neighborView struct {
	weight  float64
	opinion string
	care    float64
	support float64
}

// persona renders an agent's traits and profile in a stable order.
func persona(n *network.Node) string {
	var b strings.Builder
	if n.Age != nil {
		fmt.Fprintf(&b, "- Age: %d\n", *n.Age)
	}
	if n.Gender != nil && *n.Gender != "" {
		fmt.Fprintf(&b, "- Gender: %s\n", *n.Gender)
	}
	if len(n.Traits) > 0 {
		keys := make([]string, 0, len(n.Traits))
		for k := range n.Traits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("- Personality:")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s %.2f", k, n.Traits[k])
		}
		b.WriteByte('\n')
	}
	if len(n.Profile) > 0 {
		keys := make([]string, 0, len(n.Profile))
		for k, v := range n.Profile {
			if _, nested := v.(map[string]any); nested {
				continue // raw trait scores and other nested data stay out of the prompt
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %v\n", k, n.Profile[k])
		}
	}
	return b.String()
}

// reactionPrompt is stage 0: the agent meets the trigger.
func reactionPrompt(n *network.Node, trigger string) []llm.Message {
	return []llm.Message{
		{Role: "system", Content: systemPrompt},
		{Role: "user", Content: "Your persona:\n" + persona(n) + "\nThe message:\n\"" + trigger + "\"\n\nHow do you react?"},
	}
}

// influencePrompt is a later round: the agent reconsiders, given its own
// current view and its strongest ties' views.
func influencePrompt(n *network.Node, trigger string, own neighborView, selfWeight float64, views []neighborView, maxChars int) []llm.Message {
	var b strings.Builder
	b.WriteString("Your persona:\n")
	b.WriteString(persona(n))
	b.WriteString("\nThe message:\n\"")
	b.WriteString(trigger)
	b.WriteString("\"\n\n")
	if own.opinion == "" {
		b.WriteString("You have not formed a view on it yet.\n")
	} else {
		fmt.Fprintf(&b, "Your current view (weight %.2f; care %.1f/10, support %+.1f): %q\n", selfWeight, own.care, own.support, truncate(own.opinion, maxChars))
	}
	b.WriteString("\nWhat people you know think (influence weight, care, support, opinion):\n")
	for _, v := range views {
		fmt.Fprintf(&b, "- weight %.2f; care %.1f/10, support %+.1f: %q\n", v.weight, v.care, v.support, truncate(v.opinion, maxChars))
	}
	b.WriteString("\nReconsider the message in light of these views and give your updated reaction.")
	return []llm.Message{{Role: "system", Content: systemPrompt}, {Role: "user", Content: b.String()}}
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
