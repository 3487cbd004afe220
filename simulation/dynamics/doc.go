// Package dynamics runs classical opinion-dynamics models, with no LLM, on the
// same social networks and influence weights as the LLM agents.
//
// # Opinions
//
// Every agent i holds two numeric opinions, updated independently with the
// same weights: care in [0, 10] and support in [-5, 5]. Every update clamps
// its result to those ranges (the models below are convex combinations, so
// clamping only matters when the previous state was already out of range).
//
// Every update is finite for any finite weights ≥ 0, self-weight ≥ 0 and
// influencibility ≥ 0, however large or small: a clamp lets NaN through, so
// the means must never produce one. When the plain weighted sums overflow
// (two weights of 1.7e308 sum to +Inf, and Inf/Inf is NaN) or the total
// weight is so small that products underflow, the mean is recomputed with
// every weight divided by the row's largest, which leaves it unchanged
// mathematically. [BuildCSR] saturates merged and influencibility-scaled
// weights at the largest float64 instead of letting them become +Inf, and
// Friedkin–Johnsen caps the susceptibility at 1.
//
// # Influence weights
//
// The influence weight of neighbour j on agent i is
//
//	w_ij = similarity_ij × influencibility_i
//
// where similarity_ij is the edge weight and influencibility_i comes from the
// agent's BFI-2 facets (see [Influencibility]). On an undirected network every
// edge {a, b} yields both w_ab and w_ba. On a directed network an edge
// source→target means that source influences target: j influences i exactly
// when there is an edge j→i, so the edge lands in row target, column source.
// Every agent also gives itself the self-weight s (Params.SelfWeight, 0.5 by
// default, see [DefaultParams]). The weights live in a [CSR] matrix whose row
// i lists the agents that influence i.
//
// # Models
//
// Write N_i for the neighbours listed in row i and, for one opinion
// dimension x, the self-weighted neighbourhood average
//
//	A_i(t) = (s·x_i(t) + Σ_{j∈N_i} w_ij·x_j(t)) / (s + Σ_{j∈N_i} w_ij)
//
// with A_i(t) = x_i(t) when N_i is empty (an agent nobody influences keeps its
// opinion). Equivalently A(t) = W̃·x(t) with the row-stochastic matrix
// W̃_ii = s/(s+Σ_j w_ij), W̃_ij = w_ij/(s+Σ_j w_ij).
//
// [DeGroot] (DeGroot 1974): x_i(t+1) = A_i(t). On a connected network with
// s > 0 every agent converges to the same opinion (consensus).
//
// [FriedkinJohnsen] (Friedkin & Johnsen 1990, 1999): agents stay anchored to
// their initial opinion,
//
//	x_i(t+1) = (1 − g_i)·x_i(0) + g_i·A_i(t)
//
// where the susceptibility g_i is influencibility_i (as stored in
// CSR.Influencibility) unless Params.Stubbornness is given, in which case
// g_i = 1 − Stubbornness_i. Influencibility therefore acts twice by default:
// inside w_ij (how much the neighbours weigh against the self-weight) and as
// the pull away from the anchor. In matrix form x(t+1) = G·W̃·x(t) + (I−G)·x(0)
// with G = diag(g); when every g_i < 1 it converges to
// x* = (I − G·W̃)⁻¹·(I − G)·x(0). With g ≡ 1 (for instance no BFI-2 facets and
// no Stubbornness) it is exactly DeGroot. The original papers tie G to the
// diagonal of the influence matrix; here susceptibility and self-weight are
// independent parameters.
//
// [HegselmannKrause] (Hegselmann & Krause 2002), weighted bounded-confidence
// variant: like DeGroot, but in each dimension only the neighbours whose
// opinion is within the confidence bound count,
//
//	N_i^ε(t) = { j ∈ N_i : |x_j(t) − x_i(t)| ≤ ε_dim }
//
//	x_i(t+1) = (s·x_i(t) + Σ_{j∈N_i^ε} w_ij·x_j(t)) / (s + Σ_{j∈N_i^ε} w_ij)
//
// and x_i(t+1) = x_i(t) when N_i^ε(t) is empty. The dimensions are filtered
// separately: a neighbour may count for support and not for care. The bound is
// inclusive. Params.Epsilon is given on the support scale and scaled to each
// dimension's range: ε_support = ε and ε_care = ε × range(care)/range(support)
// = ε × 10/10 = ε, because both scales are ten units wide. With ε = 0 only
// neighbours holding exactly the same opinion count, so a network with
// pairwise distinct opinions stays fixed.
//
// # Determinism and parallelism
//
// [Step] is a synchronous round: round t+1 reads only round t (and the FJ
// anchor) and writes a separate buffer. Rows are computed in parallel blocks
// but each row is always computed by the same sequential code in CSR column
// order, so the result is bit-identical for every worker count. Relabelling
// the agents permutes the result identically up to floating-point rounding
// (summation order follows column indexes), except for ties in the top-K
// neighbour selection of [BuildCSR], which are broken by column index.
//
// With [Params].Sequential a round is the prototype's in-place update
// instead (Gauss–Seidel): agents in index order, each reading the new values
// of the agents before it; it runs on one goroutine and depends on the
// agents' order.
//
// # References
//
//   - M. H. DeGroot (1974). Reaching a consensus. Journal of the American
//     Statistical Association 69(345):118–121.
//   - N. E. Friedkin, E. C. Johnsen (1990). Social influence and opinions.
//     Journal of Mathematical Sociology 15(3–4):193–206.
//   - N. E. Friedkin, E. C. Johnsen (1999). Social influence networks and
//     opinion change. Advances in Group Processes 16:1–29.
//   - R. Hegselmann, U. Krause (2002). Opinion dynamics and bounded
//     confidence: models, analysis and simulation. Journal of Artificial
//     Societies and Social Simulation 5(3).
//   - C. J. Soto, O. P. John (2017). The next Big Five Inventory (BFI-2).
//     Journal of Personality and Social Psychology 113(1):117–143.
package dynamics
