package population

import (
	"math"
	"math/rand/v2"
)

// Built-in profile generator: ProfilesBuiltin, an option since
// ethox-population/2 (it was the default when no CSV was given before; the
// default is now the prototype's survey, see survey.go).
//
// It produces the same columns as the Ethox voter survey
// (testdata/voter_opinion_survey_350.csv), but it is not the survey: its
// attitude scales spread with SD 2.0 around their archetype means where the
// survey's within-archetype SD is about 1.5 (1.49 averaged over its 17
// scales and 6 archetypes), and 1% of its agents are non-binary where the
// survey has none (183 women, 167 men). Its marginals:
//
//   - Gender: Female 0.51, Male 0.48, Nonbinary 0.01 (Nonbinary agents get
//     the pooled personality figures).
//   - Region: Suburban 0.52, Urban 0.31, Rural 0.17.
//   - Education: HS 0.36, SomeCollege 0.26, College 0.23, Grad 0.15
//     (roughly the attainment of US adults aged 25+).
//   - IncomeBand: Low 0.29, Med 0.50, High 0.21 (roughly Pew Research
//     Center's lower/middle/upper income tiers of US adults).
//   - Archetype: InstitutionalModerates 0.23, PopulistSkeptics 0.20,
//     LowEngagementDrifters 0.18, YoungProgressives 0.14,
//     CommunityTraditionalists 0.14, PolicyTechnocrats 0.11.
//   - AgeGroup depends on the archetype (table archetypeAge); the implied
//     marginal is Under 25 0.259, 25-40 0.384, 40+ 0.357. Age is derived
//     from it as for CSV rows (22/32/55, see AgeForGroup).
//   - MediaDiet depends on the archetype (table archetypeMedia).
//   - The 0..10 attitude scales (TurnoutLikelihood ... DonationPropensity)
//     are round(mean + 2·N(0,1)) clamped to 0..10, with archetype-specific
//     means (table archetypeScales); the clamping pulls means close to 0 or
//     10 slightly inwards.
//   - IssuePriority_Top1 is the issue with the highest IssueSalience_* draw
//     (ties go to the first of Economy, Healthcare, Immigration, Climate).
//   - ContactPreference: Email 0.35, Text 0.25, Phone 0.10, Door 0.08, and
//     blank (absent from the profile, as in the survey) 0.22.
//
// Gender, Region, Education, IncomeBand, Archetype and ContactPreference are
// drawn independently of each other. The shares are plausible, rounded
// figures for illustration, not a calibrated census sample; the
// archetype-dependent tables are rounded from the survey fixture.

type category struct {
	value string
	share float64
}

var (
	builtinGender = []category{{"Female", 0.51}, {"Male", 0.48}, {"Nonbinary", 0.01}}
	builtinRegion = []category{{"Suburban", 0.52}, {"Urban", 0.31}, {"Rural", 0.17}}
	builtinEduc   = []category{{"HS", 0.36}, {"SomeCollege", 0.26}, {"College", 0.23}, {"Grad", 0.15}}
	builtinIncome = []category{{"Low", 0.29}, {"Med", 0.50}, {"High", 0.21}}
	builtinArch   = []category{
		{"InstitutionalModerates", 0.23}, {"PopulistSkeptics", 0.20},
		{"LowEngagementDrifters", 0.18}, {"YoungProgressives", 0.14},
		{"CommunityTraditionalists", 0.14}, {"PolicyTechnocrats", 0.11},
	}
	builtinContact = []category{{"Email", 0.35}, {"Text", 0.25}, {"Phone", 0.10}, {"Door", 0.08}, {"", 0.22}}

	ageGroupLabels = []string{"Under 25", "25-40", "40+"}
	// archetypeAge: shares of Under 25, 25-40, 40+ per archetype (order of
	// builtinArch).
	archetypeAge = [][]float64{
		{0.15, 0.41, 0.44}, // InstitutionalModerates
		{0.10, 0.30, 0.60}, // PopulistSkeptics
		{0.48, 0.34, 0.18}, // LowEngagementDrifters
		{0.66, 0.26, 0.08}, // YoungProgressives
		{0.12, 0.53, 0.35}, // CommunityTraditionalists
		{0.08, 0.53, 0.39}, // PolicyTechnocrats
	}

	mediaLabels = []string{"LocalNews", "YouTube", "TikTok", "CableNews", "Mix", "Twitter/X", "Podcasts"}
	// archetypeMedia: shares of mediaLabels per archetype.
	archetypeMedia = [][]float64{
		{0.31, 0.20, 0.06, 0.15, 0.18, 0.04, 0.06}, // InstitutionalModerates
		{0.08, 0.19, 0.10, 0.25, 0.12, 0.19, 0.07}, // PopulistSkeptics
		{0.19, 0.25, 0.19, 0.08, 0.09, 0.14, 0.06}, // LowEngagementDrifters
		{0.04, 0.24, 0.46, 0.06, 0.06, 0.08, 0.06}, // YoungProgressives
		{0.40, 0.06, 0.06, 0.16, 0.20, 0.06, 0.06}, // CommunityTraditionalists
		{0.08, 0.18, 0.05, 0.05, 0.16, 0.16, 0.32}, // PolicyTechnocrats
	}

	scaleLabels = []string{
		"TurnoutLikelihood", "PoliticalInterest", "TrustInstitutions", "TrustMedia",
		"IssueSalience_Economy", "IssueSalience_Healthcare", "IssueSalience_Immigration", "IssueSalience_Climate",
		"Values_Stability", "Values_Fairness", "Values_Freedom", "MisinfoSusceptibility",
		"IdentitySalience", "CivilityPreference", "PolicyComplexityTolerance",
		"VolunteerPropensity", "DonationPropensity",
	}
	// archetypeScales: mean of each scale (order of scaleLabels) per
	// archetype.
	archetypeScales = [][]float64{
		{7.9, 6.2, 7.0, 6.0, 6.8, 7.0, 4.0, 5.0, 7.8, 7.3, 6.1, 2.8, 4.1, 8.0, 7.1, 6.1, 6.3}, // InstitutionalModerates
		{7.5, 6.9, 3.3, 2.4, 8.9, 5.0, 8.0, 2.9, 8.0, 5.1, 8.0, 6.9, 7.7, 3.0, 4.1, 7.2, 5.0}, // PopulistSkeptics
		{3.8, 3.0, 5.1, 4.2, 5.9, 4.8, 4.2, 4.8, 6.3, 5.9, 5.9, 6.2, 4.1, 6.1, 2.6, 3.7, 3.8}, // LowEngagementDrifters
		{5.5, 6.9, 5.4, 5.0, 5.5, 7.0, 3.1, 8.8, 5.0, 7.9, 6.1, 4.9, 6.1, 7.1, 5.5, 6.2, 5.7}, // YoungProgressives
		{8.8, 5.2, 5.5, 5.6, 8.1, 6.4, 7.0, 3.9, 9.0, 6.1, 6.7, 4.9, 6.1, 7.0, 3.6, 6.6, 4.9}, // CommunityTraditionalists
		{6.7, 8.6, 5.6, 5.7, 7.1, 8.0, 3.9, 6.6, 5.6, 7.2, 6.2, 3.3, 2.7, 8.0, 8.6, 6.0, 7.1}, // PolicyTechnocrats
	}
	// issues: the IssueSalience_* scales in priority tie-break order, as
	// offsets into scaleLabels, with their IssuePriority_Top1 value.
	issues = []struct {
		scale int
		name  string
	}{{4, "Economy"}, {5, "Healthcare"}, {6, "Immigration"}, {7, "Climate"}}
)

// scaleSD is the spread of the 0..10 attitude scales around their archetype
// mean, before rounding and clamping.
const scaleSD = 2.0

// pickIndex draws an index with probability proportional to shares.
func pickIndex(rng *rand.Rand, shares []float64) int {
	var total float64
	for _, s := range shares {
		total += s
	}
	u := rng.Float64() * total
	for i, s := range shares {
		if u < s {
			return i
		}
		u -= s
	}
	return len(shares) - 1
}

func pickCategory(rng *rand.Rand, cats []category) string {
	var total float64
	for _, c := range cats {
		total += c.share
	}
	u := rng.Float64() * total
	for _, c := range cats {
		if u < c.share {
			return c.value
		}
		u -= c.share
	}
	return cats[len(cats)-1].value
}

var builtinArchShares = func() []float64 {
	s := make([]float64, len(builtinArch))
	for i, c := range builtinArch {
		s[i] = c.share
	}
	return s
}()

// builtinProfile draws one synthetic profile.
func builtinProfile(rng *rand.Rand) Profile {
	f := make(map[string]any, 24)
	gender := pickCategory(rng, builtinGender)
	f[colGender] = gender
	f["Region"] = pickCategory(rng, builtinRegion)
	f["Education"] = pickCategory(rng, builtinEduc)
	f["IncomeBand"] = pickCategory(rng, builtinIncome)
	a := pickIndex(rng, builtinArchShares)
	f["Archetype"] = builtinArch[a].value
	group := ageGroupLabels[pickIndex(rng, archetypeAge[a])]
	f[colAgeGroup] = group
	f["MediaDiet"] = mediaLabels[pickIndex(rng, archetypeMedia[a])]
	var vals [17]float64
	for i, name := range scaleLabels {
		v := math.Round(archetypeScales[a][i] + scaleSD*rng.NormFloat64())
		vals[i] = min(10, max(0, v))
		f[name] = vals[i]
	}
	top := issues[0]
	for _, is := range issues[1:] {
		if vals[is.scale] > vals[top.scale] {
			top = is
		}
	}
	f["IssuePriority_Top1"] = top.name
	if c := pickCategory(rng, builtinContact); c != "" {
		f["ContactPreference"] = c
	}
	age, _ := AgeForGroup(group)
	return Profile{Age: age, Gender: gender, Fields: f}
}
