//! The intervals the reports print: Student's t intervals for means over seeds, Welch's
//! interval for a difference of two means, Wilson's interval for a proportion. All at
//! 95%. The t quantiles come from a table (integer degrees of freedom; a fractional
//! Welch-Satterthwaite value is rounded down, which widens the interval slightly).

/// `t(0.975, df)` for df = 1..=30, then 40, 60, 120.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The normal quantile of 0.975.
pub const Z975: f64 = 1.959_963_985;

/// `t(0.975, df)`, df >= 1 (rounded down to the table's entries beyond 30).
pub fn t975(df: f64) -> f64 {
    let df = df.floor().max(1.0);
    match df as usize {
        d @ 1..=30 => T975[d - 1],
        31..=39 => 2.042,
        40..=59 => 2.021,
        60..=119 => 2.000,
        _ => 1.980,
    }
}

/// Mean and sample standard deviation (NaN for no values; sd 0 for one).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// A mean with its 95% interval (`None` with fewer than two values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub interval: Option<(f64, f64)>,
}

/// The mean of `values` and its Student's t interval.
pub fn mean_interval(values: &[f64]) -> Estimate {
    let (mean, sd) = mean_std(values);
    let n = values.len() as f64;
    let interval = (values.len() >= 2).then(|| {
        let half = t975(n - 1.0) * sd / n.sqrt();
        (mean - half, mean + half)
    });
    Estimate { mean, interval }
}

/// The difference `mean(a) - mean(b)` and Welch's interval.
pub fn difference_interval(a: &[f64], b: &[f64]) -> Estimate {
    let (ma, sa) = mean_std(a);
    let (mb, sb) = mean_std(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let interval = (a.len() >= 2 && b.len() >= 2).then(|| {
        let (va, vb) = (sa * sa / na, sb * sb / nb);
        let se = (va + vb).sqrt();
        let df = if va + vb > 0.0 {
            (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0))
        } else {
            na + nb - 2.0
        };
        let half = t975(df) * se;
        (ma - mb - half, ma - mb + half)
    });
    Estimate {
        mean: ma - mb,
        interval,
    }
}

/// Wilson's 95% interval for `successes` out of `trials` (never collapses at 0 or 1).
pub fn wilson(successes: usize, trials: usize) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (successes as f64, trials as f64, Z975);
    let p = k / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A share as a percentage with its interval, clipped to 0..100%: `24.7% [12.1, 37.3]`,
/// or `24.7%` for one value.
pub fn percent(estimate: Estimate) -> String {
    match estimate.interval {
        Some((lo, hi)) => format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * estimate.mean,
            100.0 * lo.clamp(0.0, 1.0),
            100.0 * hi.clamp(0.0, 1.0)
        ),
        None => format!("{:.1}%", 100.0 * estimate.mean),
    }
}

/// A difference in percentage points with its interval: `+3.2 [+1.0, +5.4]`.
pub fn points(estimate: Estimate) -> String {
    match estimate.interval {
        Some((lo, hi)) => format!(
            "{:+.1} [{:+.1}, {:+.1}]",
            100.0 * estimate.mean,
            100.0 * lo,
            100.0 * hi
        ),
        None => format!("{:+.1}", 100.0 * estimate.mean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_intervals_match_the_textbook() {
        // 5 values, mean 3, sd sqrt(2.5): half width t(0.975, 4) * sd / sqrt(5).
        let e = mean_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        let (lo, hi) = e.interval.unwrap();
        let half = 2.776 * 2.5f64.sqrt() / 5f64.sqrt();
        assert!((lo - (3.0 - half)).abs() < 1e-12 && (hi - (3.0 + half)).abs() < 1e-12);
        assert_eq!(mean_interval(&[0.5]).interval, None);
        assert_eq!(percent(mean_interval(&[0.5])), "50.0%");
        assert_eq!(percent(mean_interval(&[0.0, 0.01])), "0.5% [0.0, 6.9]");
        assert_eq!(t975(4.9), 2.776);
        assert_eq!(t975(1000.0), 1.980);
    }

    #[test]
    fn welch_interval_of_a_known_difference() {
        let a = [10.0, 11.0, 12.0];
        let b = [1.0, 2.0, 3.0];
        let d = difference_interval(&a, &b);
        assert_eq!(d.mean, 9.0);
        // Equal variances 1, n 3 and 3: se sqrt(2/3), df 4.
        let (lo, hi) = d.interval.unwrap();
        let half = 2.776 * (2.0f64 / 3.0).sqrt();
        assert!((hi - lo - 2.0 * half).abs() < 1e-9, "{lo} {hi}");
        assert_eq!(points(d).split(' ').next(), Some("+900.0"));
    }

    #[test]
    fn wilson_does_not_collapse_at_the_ends() {
        let (lo, hi) = wilson(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        let (lo, hi) = wilson(10, 10);
        assert!((lo - 0.7225).abs() < 1e-3 && hi == 1.0, "{lo}");
        let (lo, hi) = wilson(50, 100);
        assert!((lo - 0.4038).abs() < 1e-3 && (hi - 0.5962).abs() < 1e-3);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}
