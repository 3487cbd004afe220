package population

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
)

// minCorrEigen is the smallest eigenvalue a repaired correlation matrix may
// have. A bare positive semi-definite projection can leave eigenvalues at 0,
// which Cholesky rejects and which would make Mahalanobis whitening blow up
// one direction; 1e-4 keeps the condition number below 1e5 while moving a
// correlation matrix by a negligible amount.
const minCorrEigen = 1e-4

// nearestCorrelation returns a positive-definite correlation matrix close to
// the symmetric matrix a, and whether it had to change a.
//
// A matrix that already has unit diagonal and smallest eigenvalue >=
// minEig is returned as a copy, unchanged. Otherwise the nearest correlation
// matrix in the Frobenius norm is found with Higham's alternating projections
// with Dykstra's correction (N. J. Higham, "Computing the nearest correlation
// matrix — a problem from finance", IMA J. Numer. Anal. 22 (2002) 329-343):
// alternately project onto {X : X ⪰ minEig·I} (eigenvalue clipping, using
// gonum's EigenSym) and onto {X : diag(X) = 1}. A final eigenvalue clip and
// rescale to unit diagonal, D^-1/2 X D^-1/2, guarantees the result is
// strictly positive definite (Cholesky succeeds) even when the iteration
// stopped at its limit.
func nearestCorrelation(a mat.Symmetric, minEig float64) (*mat.SymDense, bool, error) {
	n := a.SymmetricDim()
	if n == 0 {
		return nil, false, errors.New("nearestCorrelation: empty matrix")
	}
	y := mat.NewSymDense(n, nil)
	y.CopySym(a)
	for i := range n {
		for j := i; j < n; j++ {
			if v := y.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, false, errors.New("nearestCorrelation: non-finite entry")
			}
		}
	}
	if unitDiagonal(y) {
		lo, err := minEigenvalue(y)
		if err != nil {
			return nil, false, err
		}
		if lo >= minEig {
			return y, false, nil
		}
	}

	const (
		maxIter = 2000
		tol     = 1e-10
	)
	ds := mat.NewSymDense(n, nil) // Dykstra's correction
	r := mat.NewSymDense(n, nil)
	x := mat.NewSymDense(n, nil)
	prev := mat.NewSymDense(n, nil)
	for range maxIter {
		prev.CopySym(y)
		// R = Y − ΔS; X = P_S(R); ΔS = X − R.
		subSym(r, y, ds)
		if err := clipEigen(x, r, minEig); err != nil {
			return nil, false, err
		}
		subSym(ds, x, r)
		// Y = P_U(X): unit diagonal.
		y.CopySym(x)
		for i := range n {
			y.SetSym(i, i, 1)
		}
		subSym(prev, y, prev)
		if mat.Norm(prev, 2) <= tol*mat.Norm(y, 2) {
			break
		}
	}
	// Final guarantee: clip, then rescale to unit diagonal. Rescaling by a
	// positive diagonal keeps the matrix positive definite.
	if err := clipEigen(x, y, minEig); err != nil {
		return nil, false, err
	}
	for i := range n {
		for j := i; j < n; j++ {
			v := x.At(i, j) / math.Sqrt(x.At(i, i)*x.At(j, j))
			if i == j {
				v = 1
			}
			y.SetSym(i, j, v)
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(y) {
		return nil, false, errors.New("nearestCorrelation: repaired matrix is not positive definite")
	}
	return y, true, nil
}

// subSym sets dst = a − b (dst may alias a or b).
func subSym(dst, a, b *mat.SymDense) {
	n := a.SymmetricDim()
	for i := range n {
		for j := i; j < n; j++ {
			dst.SetSym(i, j, a.At(i, j)-b.At(i, j))
		}
	}
}

func unitDiagonal(a *mat.SymDense) bool {
	for i := range a.SymmetricDim() {
		if a.At(i, i) != 1 {
			return false
		}
	}
	return true
}

// minEigenvalue returns the smallest eigenvalue of a.
func minEigenvalue(a mat.Symmetric) (float64, error) {
	var es mat.EigenSym
	if !es.Factorize(a, false) {
		return 0, errors.New("eigendecomposition failed")
	}
	vals := es.Values(nil)
	lo := math.Inf(1)
	for _, v := range vals {
		lo = min(lo, v)
	}
	return lo, nil
}

// clipEigen sets dst to V·max(Λ, floor)·Vᵀ where a = V·Λ·Vᵀ, the projection
// of a onto {X : X ⪰ floor·I} in the Frobenius norm.
func clipEigen(dst *mat.SymDense, a mat.Symmetric, floor float64) error {
	var es mat.EigenSym
	if !es.Factorize(a, true) {
		return errors.New("eigendecomposition failed")
	}
	vals := es.Values(nil)
	var v mat.Dense
	es.VectorsTo(&v)
	n := len(vals)
	for k := range vals {
		vals[k] = max(vals[k], floor)
	}
	for i := range n {
		for j := i; j < n; j++ {
			var s float64
			for k := range n {
				s += v.At(i, k) * vals[k] * v.At(j, k)
			}
			dst.SetSym(i, j, s)
		}
	}
	return nil
}
