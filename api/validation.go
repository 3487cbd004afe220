package api

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// maxValidationErrors bounds the errors one document can produce, as
// graphql-js does (it stops at 100). Without it the "fields can be merged"
// rule reports one error per conflicting pair: a 114 KB document of aliased
// fields made gigabytes of errors.
const maxValidationErrors = 100

// cappedRules returns gqlgen's default validation rules with one error
// counter shared by all of them: past maxValidationErrors an error is dropped
// before it is built, and one closing error says that validation gave up.
// gqlgen asks for a fresh rule set for each document it validates, so the
// counter is per document.
//
// With suggestions disabled gqlgen swaps two rules for their variants; they
// are registered here under the variants' names so that its swap keeps these
// capped ones (its AddRule never replaces a rule of the same name).
func cappedRules(disableSuggestions bool) func() *rules.Rules {
	return func() *rules.Rules {
		base := rules.NewDefaultRules()
		if disableSuggestions {
			base.RemoveRule(rules.FieldsOnCorrectTypeRule.Name)
			base.RemoveRule(rules.ScalarLeafsRule.Name)
			base.AddRule(rules.FieldsOnCorrectTypeRuleWithoutSuggestions.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions.RuleFunc)
			base.AddRule(rules.ScalarLeafsRuleWithoutSuggestions.Name, rules.ScalarLeafsRuleWithoutSuggestions.RuleFunc)
		}
		count := 0
		capped := rules.NewRules()
		for name, fn := range base.GetInner() {
			if name == rules.OverlappingFieldsCanBeMergedRule.Name {
				fn = budgetedOverlapRule(fn)
			}
			capped.AddRule(name, func(observers *core.Events, addError core.AddErrFunc) {
				fn(observers, func(options ...core.ErrorOption) {
					count++
					switch {
					case count <= maxValidationErrors:
						addError(options...)
					case count == maxValidationErrors+1:
						addError(core.Message("too many validation errors: validation stopped after the first %d", maxValidationErrors))
					}
				})
			})
		}
		return capped
	}
}

// budgetedOverlapRule runs the "fields can be merged" rule only on documents
// whose comparisons fit maxOverlapComparisons (see overlapMeter). The rule
// then walks the document on its own: in the shared walk its observers could
// not be held back.
func budgetedOverlapRule(rule core.RuleFunc) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		done := false
		observers.OnOperation(func(w *core.Walker, op *ast.OperationDefinition) {
			if done {
				return
			}
			done = true
			if !overlapWithinBudget(w.Document, maxOverlapComparisons) {
				addError(core.Message("the document repeats response names too often to be checked: merging its fields "+
					"needs more than %d comparisons (send fewer fields, aliases or fragments sharing a name)", maxOverlapComparisons),
					core.At(op.Position))
				return
			}
			own := &core.Events{}
			rule(own, addError)
			core.Walk(w.Schema, w.Document, own)
		})
	}
}
