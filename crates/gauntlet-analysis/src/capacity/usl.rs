//! The Universal Scalability Law: X(N) = λN / (1 + σ(N−1) + κN(N−1)).
//!
//! N is concurrency (users or requests in flight), X throughput. λ is the
//! throughput of one unit of concurrency, σ the share of time spent waiting
//! on something shared (contention: locks, a queue, a single-threaded stage),
//! κ the cost of keeping shared state coherent, paid by every pair of
//! concurrent units (crosstalk: cache-line and lock bouncing, fan-out,
//! invalidations). With κ > 0 throughput peaks at N = √((1−σ)/κ) and then
//! falls; with κ = 0 it rises towards λ/σ and never falls.
//!
//! The coefficients are fitted by nonlinear least squares on throughput, as
//! in Gunther's and Schwartz's books: the Levenberg–Marquardt solver of the
//! `levenberg-marquardt` crate (a port of MINPACK) with the analytic
//! Jacobian. On Schwartz's 32-point benchmark it gives the published
//! σ = 0.02671591, κ = 7.690945e-4, λ = 995.6486 (see the tests).

use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::{Dyn, Matrix3, OMatrix, OVector, U3, Vector3, storage::Owned};
use serde::Serialize;

/// One measured step of a sweep: a concurrency and the throughput there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Concurrency N (VUs, or requests in flight by Little's law).
    pub concurrency: f64,
    /// Completed requests (or operations) per second at that concurrency.
    pub throughput: f64,
}

/// A USL model: the three coefficients and what follows from them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usl {
    /// σ, contention: the serialized share of the work.
    pub sigma: f64,
    /// κ, coherency: the pairwise crosstalk cost.
    pub kappa: f64,
    /// λ, throughput at N = 1 (the ideal per-unit rate).
    pub lambda: f64,
}

impl Usl {
    /// Predicted throughput at concurrency `n`, X(N).
    pub fn throughput_at(&self, n: f64) -> f64 {
        self.lambda * n / self.denominator(n)
    }

    /// Predicted mean response time at concurrency `n` (seconds when λ is
    /// per second): R(N) = N / X(N), Little's law on the model.
    pub fn latency_at(&self, n: f64) -> f64 {
        self.denominator(n) / self.lambda
    }

    fn denominator(&self, n: f64) -> f64 {
        1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)
    }

    /// The concurrency where throughput peaks, ⌊√((1−σ)/κ)⌋ as in the
    /// literature (a whole number of users), or `None` when the model does
    /// not peak (κ ≤ 0: no coherency cost measured, or σ ≥ 1).
    pub fn peak_concurrency(&self) -> Option<f64> {
        if self.kappa <= 0.0 || self.sigma >= 1.0 {
            return None;
        }
        Some(((1.0 - self.sigma) / self.kappa).sqrt().floor().max(1.0))
    }

    /// Throughput at the peak, or the ceiling λ/σ that a model without a
    /// peak approaches (`None` when neither exists: σ ≤ 0 and κ ≤ 0 is
    /// linear scaling, unbounded by what was measured).
    pub fn peak_throughput(&self) -> Option<f64> {
        match self.peak_concurrency() {
            Some(n) => Some(self.throughput_at(n)),
            None if self.sigma > 0.0 => Some(self.lambda / self.sigma),
            None => None,
        }
    }

    /// The concurrency at which the model's mean response time reaches `r`
    /// (USL equation 10 in Schwartz's book), or `None` when it never does.
    pub fn concurrency_at_latency(&self, r: f64) -> Option<f64> {
        let (s, k, l) = (self.sigma, self.kappa, self.lambda);
        if r <= 0.0 || l <= 0.0 {
            return None;
        }
        if k.abs() < f64::EPSILON {
            // R(N) = (1 + σ(N−1))/λ is linear in N.
            return (s > 0.0)
                .then(|| (r * l - 1.0) / s + 1.0)
                .filter(|n| *n > 0.0);
        }
        let disc = s * s + k * k + 2.0 * k * (2.0 * l * r + s - 2.0);
        if disc < 0.0 {
            return None;
        }
        let n = (k - s + disc.sqrt()) / (2.0 * k);
        (n > 0.0).then_some(n)
    }

    /// Which effect limits scaling, the literature's rule: contention when
    /// σ > κ, coherency when κ > σ.
    pub fn limit(&self) -> Limit {
        if self.kappa <= 0.0 && self.sigma <= 0.0 {
            Limit::None
        } else if self.sigma >= self.kappa {
            Limit::Contention
        } else {
            Limit::Coherency
        }
    }
}

/// What stops a system from scaling linearly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Limit {
    /// σ dominates: waiting on something shared; throughput flattens.
    Contention,
    /// κ dominates: crosstalk; throughput falls past the peak.
    Coherency,
    /// Neither was measured: linear over the measured range.
    None,
}

/// How well the model describes the measured points.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    /// Coefficient of determination on throughput (1 is a perfect fit).
    pub r_squared: f64,
    /// Root-mean-square error of throughput, in throughput units.
    pub rmse: f64,
    /// The largest |measured − predicted| / measured over the points.
    pub max_relative_error: f64,
    /// Standard errors of σ, κ, λ from the Jacobian at the solution
    /// (`None` when the problem has no spare degree of freedom or is
    /// singular there).
    pub std_errors: Option<[f64; 3]>,
    /// Whether the fit can be relied on: converged, coefficients physical
    /// (0 ≤ σ < 1, κ ≥ 0, λ > 0), and R² ≥ [`GOOD_R_SQUARED`].
    pub good: bool,
    /// Why it cannot be relied on, when it cannot.
    pub problems: Vec<String>,
}

/// The R² below which a fit is reported as poor.
pub const GOOD_R_SQUARED: f64 = 0.95;

/// The fewest distinct concurrency levels a fit accepts: one more than the
/// three coefficients, so that the fit has a residual to judge it by.
pub const MIN_POINTS: usize = 4;

/// A fitted model with its quality and what the data covered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fit {
    /// The coefficients.
    pub model: Usl,
    /// Fit quality.
    pub quality: Quality,
    /// The points fitted, ordered by concurrency.
    pub points: Vec<Point>,
    /// Coefficients that the unconstrained fit drove negative and that were
    /// then held at zero (a negative σ or κ has no physical meaning).
    pub held_at_zero: Vec<&'static str>,
}

impl Fit {
    /// The largest concurrency measured.
    pub fn max_measured(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.concurrency)
            .fold(0.0, f64::max)
    }

    /// Warnings about predictions beyond the measured range: a peak more
    /// than [`EXTRAPOLATION_FACTOR`] × the largest measured concurrency
    /// away, or a model that does not peak at all.
    pub fn extrapolation_warnings(&self) -> Vec<String> {
        let max = self.max_measured();
        let mut out = Vec::new();
        match self.model.peak_concurrency() {
            Some(peak) if peak > max * EXTRAPOLATION_FACTOR => out.push(format!(
                "the peak at N={peak:.0} is {:.1}× beyond the largest measured concurrency (N={max:.0}): it is extrapolated, not measured; extend the sweep towards it before relying on it",
                peak / max
            )),
            Some(_) => {}
            None => out.push(format!(
                "no coherency cost was measured up to N={max:.0} (κ = 0): the model cannot say where throughput peaks; extend the sweep until throughput stops rising"
            )),
        }
        out
    }
}

/// How far past the largest measured concurrency a prediction may reach
/// before it is flagged as an extrapolation.
pub const EXTRAPOLATION_FACTOR: f64 = 1.5;

/// Why points could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// Too few distinct concurrency levels for three coefficients.
    #[error(
        "{got} distinct concurrency level(s): a USL fit of σ, κ and λ needs at least {MIN_POINTS}; add steps to the sweep"
    )]
    TooFewPoints {
        /// Distinct levels given.
        got: usize,
    },
    /// A point with a non-finite or non-positive value.
    #[error(
        "point {index} (concurrency {concurrency}, throughput {throughput}) is not usable: both must be positive numbers"
    )]
    BadPoint {
        /// 1-based position in the input.
        index: usize,
        /// Its concurrency.
        concurrency: f64,
        /// Its throughput.
        throughput: f64,
    },
    /// Throughput did not grow with concurrency anywhere: nothing to fit.
    #[error(
        "throughput never rises with concurrency ({first:.2}/s at N={first_n}, at most {best:.2}/s above it): the system was saturated from the first step, or the load never reached it; start the sweep at a lower concurrency"
    )]
    NeverRises {
        /// Throughput at the lowest concurrency.
        first: f64,
        /// The lowest concurrency.
        first_n: f64,
        /// The best throughput at any higher concurrency.
        best: f64,
    },
    /// The solver did not converge.
    #[error("the fit did not converge ({0}); the points do not follow the USL's shape")]
    NoConvergence(String),
}

/// Fit σ, κ and λ to the points by nonlinear least squares on throughput.
///
/// Refuses fewer than [`MIN_POINTS`] distinct concurrency levels and
/// throughput that never rises. Several starting points are tried and the
/// best converged solution kept; a coefficient driven negative is held at
/// zero and the rest refitted.
pub fn fit(points: &[Point]) -> Result<Fit, FitError> {
    for (i, p) in points.iter().enumerate() {
        if !(p.concurrency.is_finite()
            && p.throughput.is_finite()
            && p.concurrency > 0.0
            && p.throughput > 0.0)
        {
            return Err(FitError::BadPoint {
                index: i + 1,
                concurrency: p.concurrency,
                throughput: p.throughput,
            });
        }
    }
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a.concurrency.total_cmp(&b.concurrency));
    let mut distinct: Vec<f64> = pts.iter().map(|p| p.concurrency).collect();
    distinct.dedup();
    if distinct.len() < MIN_POINTS {
        return Err(FitError::TooFewPoints {
            got: distinct.len(),
        });
    }
    let first_n = pts[0].concurrency;
    let first = pts
        .iter()
        .filter(|p| p.concurrency == first_n)
        .map(|p| p.throughput)
        .fold(0.0, f64::max);
    let best = pts
        .iter()
        .filter(|p| p.concurrency > first_n)
        .map(|p| p.throughput)
        .fold(0.0, f64::max);
    if best <= first * (1.0 + RISE) {
        return Err(FitError::NeverRises {
            first,
            first_n,
            best,
        });
    }

    let lambda0 = pts
        .iter()
        .map(|p| p.throughput / p.concurrency)
        .fold(0.0, f64::max);
    let mut fixed = [false; 3];
    let mut held = Vec::new();
    let (model, _) = loop {
        let (model, cost) = solve(&pts, lambda0, fixed)?;
        // Hold a negative coefficient at zero and refit the others.
        if model.sigma < 0.0 && !fixed[0] {
            fixed[0] = true;
            held.push("sigma");
        } else if model.kappa < 0.0 && !fixed[1] {
            fixed[1] = true;
            held.push("kappa");
        } else {
            break (model, cost);
        }
    };
    let quality = quality(&pts, &model, fixed);
    Ok(Fit {
        model,
        quality,
        points: pts,
        held_at_zero: held,
    })
}

/// The relative rise over the first step below which throughput "never rises".
const RISE: f64 = 0.05;

/// Best converged solution over a few starting points; `fixed` coefficients
/// stay at zero.
fn solve(pts: &[Point], lambda0: f64, fixed: [bool; 3]) -> Result<(Usl, f64), FitError> {
    let mut best: Option<(Usl, f64)> = None;
    let mut last_failure = String::new();
    for (s0, k0) in [(0.1, 0.01), (0.01, 1e-4), (0.5, 0.1)] {
        let start = Vector3::new(
            if fixed[0] { 0.0 } else { s0 },
            if fixed[1] { 0.0 } else { k0 },
            lambda0,
        );
        let problem = Problem {
            params: start,
            points: pts,
            fixed,
        };
        let (solved, report) = LevenbergMarquardt::new().minimize(problem);
        let p = solved.params;
        if !report.termination.was_successful() || !p.iter().all(|v| v.is_finite()) {
            last_failure = format!("{:?}", report.termination);
            continue;
        }
        let model = Usl {
            sigma: p.x,
            kappa: p.y,
            lambda: p.z,
        };
        let cost = report.objective_function;
        if best.as_ref().is_none_or(|(_, c)| cost < *c) {
            best = Some((model, cost));
        }
    }
    best.ok_or(FitError::NoConvergence(last_failure))
}

fn quality(pts: &[Point], m: &Usl, fixed: [bool; 3]) -> Quality {
    let n = pts.len() as f64;
    let mean = pts.iter().map(|p| p.throughput).sum::<f64>() / n;
    let ssr: f64 = pts
        .iter()
        .map(|p| (p.throughput - m.throughput_at(p.concurrency)).powi(2))
        .sum();
    let sst: f64 = pts.iter().map(|p| (p.throughput - mean).powi(2)).sum();
    let r_squared = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    let max_relative_error = pts
        .iter()
        .map(|p| ((p.throughput - m.throughput_at(p.concurrency)) / p.throughput).abs())
        .fold(0.0, f64::max);
    let free = fixed.iter().filter(|f| !**f).count();
    let dof = pts.len().saturating_sub(free);
    let std_errors = (dof > 0)
        .then(|| std_errors(pts, m, ssr / dof as f64, fixed))
        .flatten();
    let mut problems = Vec::new();
    if !(0.0..1.0).contains(&m.sigma) {
        problems.push(format!(
            "σ = {:.4} is outside [0, 1): not a contention share",
            m.sigma
        ));
    }
    if m.kappa < 0.0 {
        problems.push(format!("κ = {:.3e} is negative", m.kappa));
    }
    if m.lambda <= 0.0 {
        problems.push(format!("λ = {:.3} is not positive", m.lambda));
    }
    if r_squared < GOOD_R_SQUARED {
        problems.push(format!(
            "R² = {r_squared:.3} is below {GOOD_R_SQUARED}: the points do not follow the USL's shape (noise, errors, or a bottleneck outside the system under test)"
        ));
    }
    Quality {
        r_squared,
        rmse: (ssr / n).sqrt(),
        max_relative_error,
        std_errors,
        good: problems.is_empty(),
        problems,
    }
}

/// √diag(s²(JᵀJ)⁻¹) over the free coefficients (0 for a held one).
fn std_errors(pts: &[Point], m: &Usl, s2: f64, fixed: [bool; 3]) -> Option<[f64; 3]> {
    let mut jtj = Matrix3::<f64>::zeros();
    for p in pts {
        let row = jacobian_row(m, p.concurrency, fixed);
        jtj += row * row.transpose();
    }
    for (i, f) in fixed.iter().enumerate() {
        if *f {
            jtj[(i, i)] = 1.0;
        }
    }
    let inv = jtj.try_inverse()?;
    let mut out = [0.0; 3];
    for (i, o) in out.iter_mut().enumerate() {
        let v = inv[(i, i)] * s2;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        *o = if fixed[i] { 0.0 } else { v.sqrt() };
    }
    Some(out)
}

/// ∂X/∂(σ, κ, λ) at concurrency n.
fn jacobian_row(m: &Usl, n: f64, fixed: [bool; 3]) -> Vector3<f64> {
    let d = m.denominator(n);
    let d2 = d * d;
    let g = Vector3::new(
        -m.lambda * n * (n - 1.0) / d2,
        -m.lambda * n * n * (n - 1.0) / d2,
        n / d,
    );
    Vector3::from_fn(|i, _| if fixed[i] { 0.0 } else { g[i] })
}

struct Problem<'a> {
    params: Vector3<f64>,
    points: &'a [Point],
    fixed: [bool; 3],
}

impl LeastSquaresProblem<f64, Dyn, U3> for Problem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, U3>;
    type ParameterStorage = Owned<f64, U3>;

    fn set_params(&mut self, x: &Vector3<f64>) {
        self.params = Vector3::from_fn(|i, _| if self.fixed[i] { 0.0 } else { x[i] });
    }

    fn params(&self) -> Vector3<f64> {
        self.params
    }

    fn residuals(&self) -> Option<OVector<f64, Dyn>> {
        let m = self.model();
        Some(OVector::<f64, Dyn>::from_iterator(
            self.points.len(),
            self.points
                .iter()
                .map(|p| m.throughput_at(p.concurrency) - p.throughput),
        ))
    }

    fn jacobian(&self) -> Option<OMatrix<f64, Dyn, U3>> {
        let m = self.model();
        let mut j = OMatrix::<f64, Dyn, U3>::zeros(self.points.len());
        for (i, p) in self.points.iter().enumerate() {
            let row = jacobian_row(&m, p.concurrency, self.fixed);
            for c in 0..3 {
                j[(i, c)] = row[c];
            }
        }
        Some(j)
    }
}

impl Problem<'_> {
    fn model(&self) -> Usl {
        Usl {
            sigma: self.params.x,
            kappa: self.params.y,
            lambda: self.params.z,
        }
    }
}

/// One paragraph per coefficient saying what it means for this system, for
/// people reading the report.
pub fn explain(fit: &Fit) -> Vec<String> {
    let m = &fit.model;
    let mut out = vec![format!(
        "λ = {:.4}/s: the throughput of one unit of concurrency with nothing shared; linear scaling would give λ·N",
        m.lambda
    )];
    out.push(if m.sigma > 0.0 {
        format!(
            "σ = {:.6} (contention, {:.2} %): each unit of concurrency spends that share of its time waiting on something shared (a lock, a queue, a single-threaded stage, a pool); alone it caps throughput at λ/σ = {:.2}/s however much concurrency is added",
            m.sigma,
            m.sigma * 100.0,
            m.lambda / m.sigma
        )
    } else {
        "σ = 0 (contention): no waiting on a shared resource was measured".to_owned()
    });
    out.push(if m.kappa > 0.0 {
        format!(
            "κ = {:.6e} (coherency): every pair of concurrent units pays this to keep shared state consistent (cache-line and lock bouncing, crosstalk, fan-out); it grows with N², so past the peak adding concurrency lowers throughput (retrograde scaling)",
            m.kappa
        )
    } else {
        "κ = 0 (coherency): no crosstalk cost was measured; throughput does not fall within what the model can tell".to_owned()
    });
    out.push(match m.limit() {
        Limit::Contention => "limited by contention (σ > κ): reduce serialization (shorter critical sections, sharding, more pool slots) to raise the ceiling".to_owned(),
        Limit::Coherency => "limited by coherency (κ > σ): reduce shared mutable state and crosstalk (less synchronisation between workers) to move the peak out".to_owned(),
        Limit::None => "no limit measured: throughput grew linearly over the sweep".to_owned(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Baron Schwartz's MySQL benchmark (Practical Scalability Analysis with
    /// the Universal Scalability Law), as the usl4j and usl-rs test suites use it.
    const SCHWARTZ: [(f64, f64); 32] = [
        (1.0, 955.16),
        (2.0, 1878.91),
        (3.0, 2688.01),
        (4.0, 3548.68),
        (5.0, 4315.54),
        (6.0, 5130.43),
        (7.0, 5931.37),
        (8.0, 6531.08),
        (9.0, 7219.8),
        (10.0, 7867.61),
        (11.0, 8278.71),
        (12.0, 8646.7),
        (13.0, 9047.84),
        (14.0, 9426.55),
        (15.0, 9645.37),
        (16.0, 9897.24),
        (17.0, 10097.6),
        (18.0, 10240.5),
        (19.0, 10532.39),
        (20.0, 10798.52),
        (21.0, 11151.43),
        (22.0, 11518.63),
        (23.0, 11806.0),
        (24.0, 12089.37),
        (25.0, 12075.41),
        (26.0, 12177.29),
        (27.0, 12211.41),
        (28.0, 12158.93),
        (29.0, 12155.27),
        (30.0, 12118.04),
        (31.0, 12140.4),
        (32.0, 12074.39),
    ];

    fn points(data: &[(f64, f64)]) -> Vec<Point> {
        data.iter()
            .map(|&(concurrency, throughput)| Point {
                concurrency,
                throughput,
            })
            .collect()
    }

    fn close(want: f64, got: f64, rel: f64) {
        assert!(
            ((got - want) / want).abs() <= rel,
            "want {want}, got {got} (more than {}% off)",
            rel * 100.0
        );
    }

    #[test]
    fn schwartz_benchmark_reproduces_the_published_coefficients() {
        let f = fit(&points(&SCHWARTZ)).unwrap();
        close(0.02671591, f.model.sigma, 0.005);
        close(7.690945e-4, f.model.kappa, 0.005);
        close(995.6486, f.model.lambda, 0.005);
        assert_eq!(f.model.peak_concurrency(), Some(35.0));
        close(12341.7454, f.model.peak_throughput().unwrap(), 0.005);
        assert!(f.quality.good, "{:?}", f.quality.problems);
        assert!(f.quality.r_squared > 0.99);
        assert_eq!(f.model.limit(), Limit::Contention);
        assert!(f.held_at_zero.is_empty());
        assert!(
            f.extrapolation_warnings().is_empty(),
            "35 is within 1.5× 32"
        );
    }

    #[test]
    fn schwartz_model_latency_follows_littles_law() {
        let f = fit(&points(&SCHWARTZ)).unwrap();
        // usl4j's published R(35) = 2.8359 ms; N(R) inverts it.
        close(0.0028359135, f.model.latency_at(35.0), 0.001);
        close(
            35.0,
            f.model.concurrency_at_latency(0.0028359135).unwrap(),
            0.001,
        );
    }

    #[test]
    fn exact_points_recover_their_coefficients() {
        let m = Usl {
            sigma: 0.05,
            kappa: 0.002,
            lambda: 100.0,
        };
        let pts: Vec<Point> = [1.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0]
            .iter()
            .map(|&n| Point {
                concurrency: n,
                throughput: m.throughput_at(n),
            })
            .collect();
        let f = fit(&pts).unwrap();
        close(0.05, f.model.sigma, 1e-6);
        close(0.002, f.model.kappa, 1e-6);
        close(100.0, f.model.lambda, 1e-6);
        assert_eq!(f.model.peak_concurrency(), Some(21.0));
    }

    #[test]
    fn fewer_points_than_coefficients_are_refused() {
        let e = fit(&points(&SCHWARTZ[..3])).unwrap_err();
        assert_eq!(e, FitError::TooFewPoints { got: 3 });
        assert!(e.to_string().contains("needs at least 4"), "{e}");
        // Repeating a level does not add information.
        let same = points(&[
            (1.0, 10.0),
            (1.0, 11.0),
            (2.0, 19.0),
            (2.0, 20.0),
            (3.0, 28.0),
        ]);
        assert!(matches!(fit(&same), Err(FitError::TooFewPoints { got: 3 })));
    }

    #[test]
    fn throughput_that_never_rises_is_refused() {
        let flat = points(&[
            (1.0, 500.0),
            (2.0, 498.0),
            (4.0, 501.0),
            (8.0, 480.0),
            (16.0, 300.0),
        ]);
        let e = fit(&flat).unwrap_err();
        assert!(matches!(e, FitError::NeverRises { .. }), "{e:?}");
        assert!(e.to_string().contains("never rises"), "{e}");
    }

    #[test]
    fn a_non_positive_point_is_refused_with_its_position() {
        let e = fit(&points(&[(1.0, 5.0), (2.0, 0.0), (3.0, 9.0), (4.0, 11.0)])).unwrap_err();
        assert!(matches!(e, FitError::BadPoint { index: 2, .. }), "{e:?}");
    }

    #[test]
    fn scattered_points_are_not_a_good_fit() {
        let noisy = points(&[
            (1.0, 100.0),
            (2.0, 400.0),
            (3.0, 150.0),
            (4.0, 420.0),
            (5.0, 160.0),
            (6.0, 410.0),
        ]);
        let f = fit(&noisy).unwrap();
        assert!(!f.quality.good);
        assert!(
            f.quality.problems.iter().any(|p| p.contains("R²")),
            "{:?}",
            f.quality.problems
        );
    }

    #[test]
    fn linear_points_hold_coherency_at_zero_and_warn_about_the_peak() {
        // Amdahl-shaped data: contention only, a falling κ would be negative.
        let m = Usl {
            sigma: 0.1,
            kappa: 0.0,
            lambda: 50.0,
        };
        let mut pts: Vec<Point> = [1.0, 2.0, 4.0, 6.0, 8.0]
            .iter()
            .map(|&n| Point {
                concurrency: n,
                throughput: m.throughput_at(n),
            })
            .collect();
        pts[4].throughput *= 1.02;
        let f = fit(&pts).unwrap();
        assert!(f.model.kappa >= 0.0);
        assert!(f.model.peak_concurrency().is_none() || f.model.peak_concurrency() > Some(8.0));
        assert!(!f.extrapolation_warnings().is_empty());
    }

    #[test]
    fn a_peak_far_beyond_the_sweep_is_flagged_as_extrapolated() {
        let m = Usl {
            sigma: 0.02,
            kappa: 0.0001,
            lambda: 10.0,
        };
        let pts: Vec<Point> = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .map(|&n| Point {
                concurrency: n,
                throughput: m.throughput_at(n),
            })
            .collect();
        let f = fit(&pts).unwrap();
        let w = f.extrapolation_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("extrapolated"), "{w:?}");
    }
}
