//! The effective rank of a layer's features (Roy and Vetterli 2007), as Dohare et al.
//! (Nature 632, 2024) measure loss of plasticity: with `s_1 >= s_2 >= ...` the singular
//! values of the `[samples, units]` matrix and `p_k = s_k / sum_j s_j`,
//! `exp(-sum_k p_k ln p_k)` (terms with `p_k = 0` add nothing). It lies between 1 (every
//! unit's feature along one direction) and the number of units (orthogonal features of
//! one size); a matrix of zeros has rank 0. The same definition as the Python package's
//! `relukit.effective_rank`, which uses NumPy's SVD.

use nalgebra::{DMatrix, SVD};
use ndarray::ArrayView2;

/// The effective rank of `features` (one row per sample, one column per unit), in f64
/// from nalgebra's singular values.
///
/// # Errors
/// An empty matrix, or one with NaN or infinity.
pub fn effective_rank(features: ArrayView2<'_, f32>) -> Result<f64, String> {
    let (samples, units) = features.dim();
    if samples == 0 || units == 0 {
        return Err(format!(
            "the effective rank needs at least one sample and one unit, got {samples} x {units}"
        ));
    }
    if features.iter().any(|v| !v.is_finite()) {
        return Err("the effective rank's features contain NaN or infinity".into());
    }
    // The rank does not depend on the scale: divided by the largest magnitude, features of
    // any finite size (1e38) decompose without overflow.
    let largest = features
        .iter()
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    if largest == 0.0 {
        return Ok(0.0);
    }
    let matrix = DMatrix::from_fn(samples, units, |i, j| f64::from(features[[i, j]]) / largest);
    // Iterated until it converges (0: no limit); no singular vectors.
    let svd = SVD::try_new(matrix, false, false, f64::EPSILON, 0)
        .ok_or("the singular value decomposition did not converge")?;
    if svd.singular_values.iter().any(|s| !s.is_finite()) {
        return Err("the singular value decomposition gave a value that is not finite".into());
    }
    Ok(of_singular_values(svd.singular_values.as_slice()))
}

/// `exp` of the entropy of the normalised singular values `s` (all `>= 0`).
fn of_singular_values(s: &[f64]) -> f64 {
    let total: f64 = s.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let entropy: f64 = s
        .iter()
        .map(|&v| v / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn hand_computed_cases() {
        // Singular values 3 and 1: p = (3/4, 1/4).
        let expected = (-(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln())).exp();
        let rank = effective_rank(array![[3.0f32, 0.0], [0.0, 1.0]].view()).unwrap();
        assert!((rank - expected).abs() < 1e-14, "{rank} {expected}");
        assert!((rank - 1.754_765_4).abs() < 1e-7);
        let identity = Array2::<f32>::eye(5);
        assert!((effective_rank(identity.view()).unwrap() - 5.0).abs() < 1e-12);
        assert_eq!(effective_rank(Array2::zeros((4, 3)).view()).unwrap(), 0.0);
        // Tall and wide matrices: the singular values of the transpose are the same.
        let tall = array![[1.0f32, 2.0], [3.0, -1.0], [0.5, 4.0]];
        let (a, b) = (
            effective_rank(tall.view()).unwrap(),
            effective_rank(tall.t()).unwrap(),
        );
        assert!((a - b).abs() < 1e-12, "{a} {b}");
    }

    #[test]
    fn a_rank_k_matrix_has_at_most_k() {
        // Rank 1: every unit's feature along one direction.
        let one = Array2::from_shape_fn((40, 6), |(i, j)| {
            (i as f32 - 19.5) * [1.0, -2.0, 0.5, 3.0, 1.0, -1.0][j]
        });
        assert!((effective_rank(one.view()).unwrap() - 1.0).abs() < 1e-9);
        // Rank 3 of 8 units, orthogonal features of one size: exactly 3.
        let three = Array2::from_shape_fn(
            (30, 8),
            |(i, j)| if j < 3 && i % 3 == j { 1.0f32 } else { 0.0 },
        );
        assert!((effective_rank(three.view()).unwrap() - 3.0).abs() < 1e-12);
        // Rank 2 with unequal directions: between 1 and 2, as the formula says.
        let two = Array2::from_shape_fn((20, 5), |(i, j)| {
            let (u, v) = ((i % 2) as f32, (i % 3 == 0) as u8 as f32);
            4.0 * u * (j as f32 + 1.0) + v * [1.0, -1.0, 2.0, 0.0, 1.0][j]
        });
        let rank = effective_rank(two.view()).unwrap();
        assert!(rank > 1.0 && rank < 2.0 + 1e-12, "{rank}");
    }

    #[test]
    fn bad_features_are_refused() {
        let err = effective_rank(Array2::<f32>::zeros((0, 3)).view()).unwrap_err();
        assert!(
            err.contains("at least one sample and one unit, got 0 x 3"),
            "{err}"
        );
        let err = effective_rank(array![[1.0f32, f32::NAN]].view()).unwrap_err();
        assert!(err.contains("NaN or infinity"), "{err}");
        assert!(effective_rank(array![[f32::INFINITY]].view()).is_err());
    }

    #[test]
    fn features_of_any_finite_size_decompose() {
        // Near float32's largest value: the squares would overflow without the scaling.
        // Singular values s and t: exp of the entropy of (s, t) / (s + t).
        let expected = |s: f32, t: f32| {
            let (s, t) = (f64::from(s), f64::from(t));
            let (p, q) = (s / (s + t), t / (s + t));
            (-(p * p.ln() + q * q.ln())).exp()
        };
        for (s, t) in [(3.0e38f32, 1.0e38f32), (3.0e-40, 1.0e-40), (3.0, 1.0)] {
            let rank = effective_rank(array![[s, 0.0], [0.0, t]].view()).unwrap();
            assert!((rank - expected(s, t)).abs() < 1e-12, "{s} {t}: {rank}");
        }
    }
}
