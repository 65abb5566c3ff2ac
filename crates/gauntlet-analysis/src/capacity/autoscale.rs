//! Kubernetes autoscaling from measured capacity: an HPA (`autoscaling/v2`)
//! whose target and replica bounds follow from the per-pod capacity at the
//! SLA, and a VPA recommendation computed the way the VPA recommender does.
//!
//! HPA facts the arithmetic uses (kube-controller-manager defaults):
//! desired = ⌈current × metric / target⌉, no change while the ratio is
//! within [`HPA_TOLERANCE`] of 1, a sync every [`HPA_SYNC_S`] seconds, and
//! the default scale-up policy: per 15 s, the larger of doubling and adding
//! four pods, with no stabilization window; scale-down waits 300 s.
//!
//! VPA recommender facts: CPU usage samples in an exponential histogram
//! (first bucket 0.01 core, ratio 1.05), memory as the peak of each 24 h
//! aggregation interval (first bucket 10 MB, ratio 1.05), both decaying with
//! a 24 h half-life; target, lower and upper bound at p90, p50 and p95, each
//! plus a 15 % safety margin; the upper bound scaled by (1 + 1/c) and the
//! lower by (1 + 0.001/c)⁻² where c is the confidence, the history's length
//! in days (or samples / 1440, whichever is smaller); at least 25 millicores
//! and 250 MiB per pod.

use super::sizing::{UsageLine, UsageSample};
use serde::Serialize;

/// HPA's tolerance: it does not scale while metric/target is within 10 % of 1.
pub const HPA_TOLERANCE: f64 = 0.1;
/// HPA's sync period, seconds.
pub const HPA_SYNC_S: f64 = 15.0;
/// Default scale-up: at most double per period …
pub const HPA_SCALE_UP_PERCENT: u32 = 100;
/// … or add this many pods per period, whichever is more.
pub const HPA_SCALE_UP_PODS: u32 = 4;
/// Default scale-down stabilization window, seconds.
pub const HPA_SCALE_DOWN_WINDOW_S: u32 = 300;

/// What the HPA is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaInput {
    /// The Deployment to scale.
    pub name: String,
    /// Per-pod capacity at the SLA, requests per second.
    pub capacity_rps: f64,
    /// Steady load, requests per second.
    pub target_rate: f64,
    /// The spike to absorb, requests per second (at least the steady load).
    pub peak_rate: f64,
    /// Share of capacity kept free.
    pub headroom: f64,
    /// CPU, when monitored: use per pod against its load, and the pod's
    /// CPU request in cores (utilization is relative to the request).
    pub cpu: Option<(UsageLine, f64)>,
    /// The custom per-pod metric that carries requests per second, used
    /// when CPU was not monitored.
    pub rps_metric: String,
    /// Seconds from a pod's creation to serving, if known.
    pub pod_startup_s: Option<f64>,
    /// The scaling time to meet (seed 001: within 2 minutes).
    pub scale_within_s: f64,
}

/// The metric the HPA scales on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum HpaMetric {
    /// CPU utilization of the pods' request, percent.
    Cpu {
        /// `averageUtilization`.
        utilization: u32,
    },
    /// A per-pod custom metric (requests per second) through the custom
    /// metrics API, e.g. prometheus-adapter.
    RequestsPerPod {
        /// The metric's name.
        metric: String,
        /// `averageValue`, requests per second per pod.
        average_value: f64,
    },
}

/// The HPA settings, the spike arithmetic and the manifest's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaPlan {
    /// The Deployment.
    pub name: String,
    /// What it scales on.
    pub metric: HpaMetric,
    /// The per-pod load the target corresponds to, requests per second.
    pub per_pod_rps: f64,
    /// `minReplicas`.
    pub min_replicas: u32,
    /// `maxReplicas`.
    pub max_replicas: u32,
    /// Replicas after each sync during the spike, starting from `min_replicas`.
    pub scale_up: Vec<u32>,
    /// Pods needed for the spike to meet the SLA.
    pub replicas_for_peak: u32,
    /// Seconds from the spike until enough pods are counted (syncs only).
    pub seconds_to_scale: Option<f64>,
    /// Whether the spike is absorbed within `scale_within_s`, when it can be said.
    pub within_limit: Option<bool>,
    /// The arithmetic, one line each.
    pub arithmetic: Vec<String>,
    /// What the user should know.
    pub warnings: Vec<String>,
}

/// Compute the HPA from the measured capacity.
pub fn hpa(input: &HpaInput) -> HpaPlan {
    let c = input.capacity_rps;
    let mut arithmetic = Vec::new();
    let mut warnings = Vec::new();
    // The HPA lets pods run up to target × (1 + tolerance) before acting;
    // that level must still be within the SLA capacity.
    let by_headroom = c * (1.0 - input.headroom);
    let by_tolerance = c / (1.0 + HPA_TOLERANCE);
    let per_pod = by_headroom.min(by_tolerance);
    arithmetic.push(format!(
        "per-pod target: min(C × (1 − headroom), C / (1 + tolerance)) = min({c:.2} × {:.2}, {c:.2} / {:.1}) = {per_pod:.2} req/s, so that a pod at the HPA's +10 % dead band still meets the SLA",
        1.0 - input.headroom,
        1.0 + HPA_TOLERANCE
    ));
    let min = ((input.target_rate / per_pod).ceil() as u32).max(1);
    arithmetic.push(format!(
        "minReplicas = ⌈{:.2} / {per_pod:.2}⌉ = {min} (steady load at target)",
        input.target_rate
    ));
    let peak = input.peak_rate.max(input.target_rate);
    let max = ((peak / per_pod).ceil() as u32).max(min);
    arithmetic.push(format!(
        "maxReplicas = ⌈{peak:.2} / {per_pod:.2}⌉ = {max} (the peak at target)"
    ));
    if max == min {
        warnings.push(
            "maxReplicas equals minReplicas: no room to scale; give the spike's rate with --peak-rate"
                .into(),
        );
    }
    let metric = match input.cpu {
        Some((line, request)) if request > 0.0 => {
            let util_sla = line.at(c) / request;
            let util = ((line.at(per_pod) / request) * 100.0).floor().max(1.0) as u32;
            arithmetic.push(format!(
                "CPU: {:.3} + {:.6} × {per_pod:.2} = {:.3} cores at the per-pod target, / request {request} cores = {util} % (the SLA held up to {:.0} %)",
                line.base,
                line.per_rps,
                line.at(per_pod),
                util_sla * 100.0
            ));
            HpaMetric::Cpu { utilization: util }
        }
        _ => {
            arithmetic.push(format!(
                "CPU was not monitored: the HPA scales on the per-pod request rate `{}` (custom metrics API, e.g. prometheus-adapter), averageValue {per_pod:.2}",
                input.rps_metric
            ));
            HpaMetric::RequestsPerPod {
                metric: input.rps_metric.clone(),
                average_value: per_pod,
            }
        }
    };
    let need = ((peak / c).ceil() as u32).max(1);
    let mut scale_up = vec![min];
    let mut r = min;
    let desired = max;
    while r < need && r < max {
        let step = (r * (100 + HPA_SCALE_UP_PERCENT) / 100).max(r + HPA_SCALE_UP_PODS);
        r = step.min(desired).min(max);
        scale_up.push(r);
    }
    let syncs = scale_up.len() - 1;
    let (seconds, within) = if need <= min {
        arithmetic.push(format!(
            "spike: {peak:.2} / {min} pods = {:.2} req/s per pod ≤ capacity {c:.2}: absorbed without scaling",
            peak / f64::from(min)
        ));
        (Some(0.0), Some(true))
    } else if r < need {
        warnings.push(format!(
            "the spike needs {need} pods at the SLA capacity but maxReplicas is {max}"
        ));
        (None, Some(false))
    } else {
        let s = syncs as f64 * HPA_SYNC_S;
        let path: Vec<String> = scale_up.iter().map(u32::to_string).collect();
        arithmetic.push(format!(
            "spike: needs ⌈{peak:.2} / {c:.2}⌉ = {need} pods; scale-up max(×2, +4) per {HPA_SYNC_S} s sync: {} = {syncs} sync(s) × {HPA_SYNC_S} s = {s} s{}",
            path.join(" → "),
            match input.pod_startup_s {
                Some(p) => format!(" + pod start-up {p} s = {} s", s + p),
                None => " + pod start-up (not given: --pod-startup)".into(),
            }
        ));
        let total = s + input.pod_startup_s.unwrap_or(0.0);
        let within = match input.pod_startup_s {
            Some(_) => Some(total <= input.scale_within_s),
            None if s > input.scale_within_s => Some(false),
            None => None,
        };
        if within == Some(false) {
            warnings.push(format!(
                "the spike is not absorbed within {} s: raise minReplicas towards {need}",
                input.scale_within_s
            ));
        }
        (Some(s), within)
    };
    HpaPlan {
        name: input.name.clone(),
        metric,
        per_pod_rps: per_pod,
        min_replicas: min,
        max_replicas: max,
        scale_up,
        replicas_for_peak: need,
        seconds_to_scale: seconds,
        within_limit: within,
        arithmetic,
        warnings,
    }
}

/// Lower bound, target and upper bound of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounds {
    /// Lower bound.
    pub lower: f64,
    /// Target (the request to set).
    pub target: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A VPA recommendation for one container from its monitored usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VpaRecommendation {
    /// CPU in cores, when CPU was monitored.
    pub cpu: Option<Bounds>,
    /// Memory in bytes, when memory was monitored.
    pub memory: Option<Bounds>,
    /// The confidence (days of history) the bounds were scaled with.
    pub confidence: f64,
    /// How each figure was computed.
    pub arithmetic: Vec<String>,
}

/// The VPA recommender's constants.
pub mod vpa {
    /// Target percentile.
    pub const TARGET: f64 = 0.9;
    /// Lower-bound percentile.
    pub const LOWER: f64 = 0.5;
    /// Upper-bound percentile.
    pub const UPPER: f64 = 0.95;
    /// Safety margin added to all three.
    pub const MARGIN: f64 = 0.15;
    /// Histogram decay half-life, seconds (24 h).
    pub const HALF_LIFE_S: f64 = 86_400.0;
    /// Memory aggregation interval, seconds (24 h).
    pub const MEMORY_INTERVAL_S: f64 = 86_400.0;
    /// Minimum CPU per pod, cores.
    pub const MIN_CPU: f64 = 0.025;
    /// Minimum memory per pod, bytes (250 MiB).
    pub const MIN_MEMORY: f64 = 250.0 * 1024.0 * 1024.0;
    /// CPU histogram: first bucket size (cores) and maximum.
    pub const CPU_BUCKETS: (f64, f64) = (0.01, 1000.0);
    /// Memory histogram: first bucket size (bytes) and maximum.
    pub const MEMORY_BUCKETS: (f64, f64) = (1e7, 1e12);
    /// Bucket growth ratio.
    pub const RATIO: f64 = 1.05;
    /// The lightest CPU sample weight.
    pub const MIN_SAMPLE_WEIGHT: f64 = 0.1;
}

/// An exponential histogram as the recommender keeps it.
struct Histogram {
    first: f64,
    weights: Vec<f64>,
}

impl Histogram {
    fn new((first, max): (f64, f64)) -> Histogram {
        let n =
            ((max * (vpa::RATIO - 1.0) / first + 1.0).ln() / vpa::RATIO.ln()).ceil() as usize + 1;
        Histogram {
            first,
            weights: vec![0.0; n],
        }
    }

    fn start(&self, bucket: usize) -> f64 {
        self.first * (vpa::RATIO.powi(bucket as i32) - 1.0) / (vpa::RATIO - 1.0)
    }

    fn add(&mut self, value: f64, weight: f64) {
        let b = if value < self.first {
            0
        } else {
            ((value * (vpa::RATIO - 1.0) / self.first + 1.0).ln() / vpa::RATIO.ln()).floor()
                as usize
        };
        let last = self.weights.len() - 1;
        self.weights[b.min(last)] += weight;
    }

    /// The end of the bucket where the cumulative weight reaches `p`.
    fn percentile(&self, p: f64) -> f64 {
        let total: f64 = self.weights.iter().sum();
        let threshold = p * total;
        let mut sum = 0.0;
        let mut bucket = 0;
        for (i, w) in self.weights.iter().enumerate() {
            sum += w;
            bucket = i;
            if *w > 0.0 && sum >= threshold {
                break;
            }
        }
        if bucket + 1 < self.weights.len() {
            self.start(bucket + 1)
        } else {
            self.start(bucket)
        }
    }
}

/// Why there is no VPA recommendation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VpaError {
    /// Neither CPU nor memory was monitored.
    #[error(
        "not computed: no monitored usage (CPU or memory of the service) in the result; run with monitors or pass --usage FILE.csv"
    )]
    NoUsage,
}

/// Compute the recommendation from one container's usage samples.
/// `cpu_request` (cores) weighs CPU samples as the recommender does; without
/// it every sample weighs the same.
pub fn vpa_recommend(
    usage: &[UsageSample],
    cpu_request: Option<f64>,
) -> Result<VpaRecommendation, VpaError> {
    let cpu: Vec<(f64, f64)> = usage
        .iter()
        .filter_map(|u| u.cpu_cores.map(|c| (u.t_s, c)))
        .collect();
    let mem: Vec<(f64, f64)> = usage
        .iter()
        .filter_map(|u| u.memory_bytes.map(|m| (u.t_s, m)))
        .collect();
    if cpu.is_empty() && mem.is_empty() {
        return Err(VpaError::NoUsage);
    }
    let t0 = usage.iter().map(|u| u.t_s).fold(f64::INFINITY, f64::min);
    let t1 = usage
        .iter()
        .map(|u| u.t_s)
        .fold(f64::NEG_INFINITY, f64::max);
    let days = (t1 - t0) / 86_400.0;
    let samples = cpu.len().max(mem.len()) as f64 / (60.0 * 24.0);
    let confidence = days.min(samples);
    let decay = |t: f64| ((t - t0) / vpa::HALF_LIFE_S).exp2();
    let mut arithmetic = vec![format!(
        "confidence = min({:.5} days of history, {} samples / 1440) = {confidence:.6}",
        days,
        cpu.len().max(mem.len())
    )];
    let estimate = |h: &Histogram, floor: f64, what: &str, unit: &str, arith: &mut Vec<String>| {
        let m = 1.0 + vpa::MARGIN;
        let p50 = h.percentile(vpa::LOWER);
        let p90 = h.percentile(vpa::TARGET);
        let p95 = h.percentile(vpa::UPPER);
        let (lower_c, upper_c) = if confidence > 0.0 {
            ((1.0 + 0.001 / confidence).powi(-2), 1.0 + 1.0 / confidence)
        } else {
            (0.0, f64::INFINITY)
        };
        let b = Bounds {
            lower: (p50 * m * lower_c).max(floor),
            target: (p90 * m).max(floor),
            upper: (p95 * m * upper_c).max(floor),
        };
        arith.push(format!(
            "{what}: target = max(p90 {p90:.4} × 1.15, min {floor}) = {:.4} {unit}; lower = p50 {p50:.4} × 1.15 × (1 + 0.001/c)⁻² = {:.4}; upper = p95 {p95:.4} × 1.15 × (1 + 1/c) = {:.4}",
            b.target, b.lower, b.upper
        ));
        b
    };
    let cpu_bounds = (!cpu.is_empty()).then(|| {
        let mut h = Histogram::new(vpa::CPU_BUCKETS);
        let w = cpu_request.unwrap_or(1.0).max(vpa::MIN_SAMPLE_WEIGHT);
        for &(t, c) in &cpu {
            h.add(c, w * decay(t));
        }
        estimate(&h, vpa::MIN_CPU, "cpu", "cores", &mut arithmetic)
    });
    let mem_bounds = (!mem.is_empty()).then(|| {
        let mut h = Histogram::new(vpa::MEMORY_BUCKETS);
        // One sample per aggregation interval: its peak.
        let mut peaks: Vec<(f64, f64)> = Vec::new();
        for &(t, m) in &mem {
            let k = ((t - t0) / vpa::MEMORY_INTERVAL_S).floor();
            match peaks.last_mut() {
                Some((pk, pv)) if *pk == k => *pv = pv.max(m),
                _ => peaks.push((k, m)),
            }
        }
        for &(k, m) in &peaks {
            h.add(m, decay(t0 + k * vpa::MEMORY_INTERVAL_S));
        }
        estimate(&h, vpa::MIN_MEMORY, "memory", "bytes", &mut arithmetic)
    });
    Ok(VpaRecommendation {
        cpu: cpu_bounds,
        memory: mem_bounds,
        confidence,
        arithmetic,
    })
}

/// A CPU amount as a Kubernetes quantity, whole millicores rounded up.
pub fn cpu_quantity(cores: f64) -> String {
    format!("{}m", (cores * 1000.0).ceil() as u64)
}

/// A memory amount as a Kubernetes quantity, whole MiB rounded up.
pub fn memory_quantity(bytes: f64) -> String {
    format!("{}Mi", (bytes / (1024.0 * 1024.0)).ceil() as u64)
}

/// A request rate as a Kubernetes quantity in milli-units, rounded down
/// (a per-pod target must not exceed what was measured).
pub fn rate_quantity(rps: f64) -> String {
    let milli = (rps * 1000.0).floor() as u64;
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

/// The HPA manifest (`autoscaling/v2`), as a JSON-shaped value tree for
/// any serializer.
pub fn hpa_manifest(plan: &HpaPlan) -> Manifest {
    let metric = match &plan.metric {
        HpaMetric::Cpu { utilization } => Node::map([
            ("type", Node::str("Resource")),
            (
                "resource",
                Node::map([
                    ("name", Node::str("cpu")),
                    (
                        "target",
                        Node::map([
                            ("type", Node::str("Utilization")),
                            ("averageUtilization", Node::Int(i64::from(*utilization))),
                        ]),
                    ),
                ]),
            ),
        ]),
        HpaMetric::RequestsPerPod {
            metric,
            average_value,
        } => Node::map([
            ("type", Node::str("Pods")),
            (
                "pods",
                Node::map([
                    ("metric", Node::map([("name", Node::str(metric))])),
                    (
                        "target",
                        Node::map([
                            ("type", Node::str("AverageValue")),
                            ("averageValue", Node::Str(rate_quantity(*average_value))),
                        ]),
                    ),
                ]),
            ),
        ]),
    };
    let policy = |kind: &str, value: u32, period: u32| {
        Node::map([
            ("type", Node::str(kind)),
            ("value", Node::Int(i64::from(value))),
            ("periodSeconds", Node::Int(i64::from(period))),
        ])
    };
    Manifest {
        comments: plan.arithmetic.clone(),
        body: Node::map([
            ("apiVersion", Node::str("autoscaling/v2")),
            ("kind", Node::str("HorizontalPodAutoscaler")),
            ("metadata", Node::map([("name", Node::str(&plan.name))])),
            (
                "spec",
                Node::map([
                    (
                        "scaleTargetRef",
                        Node::map([
                            ("apiVersion", Node::str("apps/v1")),
                            ("kind", Node::str("Deployment")),
                            ("name", Node::str(&plan.name)),
                        ]),
                    ),
                    ("minReplicas", Node::Int(i64::from(plan.min_replicas))),
                    ("maxReplicas", Node::Int(i64::from(plan.max_replicas))),
                    ("metrics", Node::List(vec![metric])),
                    (
                        "behavior",
                        Node::map([
                            (
                                "scaleUp",
                                Node::map([
                                    ("stabilizationWindowSeconds", Node::Int(0)),
                                    ("selectPolicy", Node::str("Max")),
                                    (
                                        "policies",
                                        Node::List(vec![
                                            policy("Percent", HPA_SCALE_UP_PERCENT, 15),
                                            policy("Pods", HPA_SCALE_UP_PODS, 15),
                                        ]),
                                    ),
                                ]),
                            ),
                            (
                                "scaleDown",
                                Node::map([
                                    (
                                        "stabilizationWindowSeconds",
                                        Node::Int(i64::from(HPA_SCALE_DOWN_WINDOW_S)),
                                    ),
                                    ("policies", Node::List(vec![policy("Percent", 100, 15)])),
                                ]),
                            ),
                        ]),
                    ),
                ]),
            ),
        ]),
    }
}

/// The VPA manifest (`autoscaling.k8s.io/v1`): recommendation mode
/// (`updateMode: "Off"`), requests only, never below the measured target
/// (`minAllowed`): the sweep showed the pod needs that much at SLA load.
pub fn vpa_manifest(name: &str, rec: &VpaRecommendation) -> Manifest {
    let mut min = Vec::new();
    if let Some(c) = rec.cpu {
        min.push(("cpu", Node::Str(cpu_quantity(c.target))));
    }
    if let Some(m) = rec.memory {
        min.push(("memory", Node::Str(memory_quantity(m.target))));
    }
    Manifest {
        comments: rec.arithmetic.clone(),
        body: Node::map([
            ("apiVersion", Node::str("autoscaling.k8s.io/v1")),
            ("kind", Node::str("VerticalPodAutoscaler")),
            ("metadata", Node::map([("name", Node::str(name))])),
            (
                "spec",
                Node::map([
                    (
                        "targetRef",
                        Node::map([
                            ("apiVersion", Node::str("apps/v1")),
                            ("kind", Node::str("Deployment")),
                            ("name", Node::str(name)),
                        ]),
                    ),
                    (
                        "updatePolicy",
                        Node::map([("updateMode", Node::str("Off"))]),
                    ),
                    (
                        "resourcePolicy",
                        Node::map([(
                            "containerPolicies",
                            Node::List(vec![Node::map([
                                ("containerName", Node::str("*")),
                                ("controlledValues", Node::str("RequestsOnly")),
                                (
                                    "minAllowed",
                                    Node::Map(
                                        min.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                                    ),
                                ),
                            ])]),
                        )]),
                    ),
                ]),
            ),
        ]),
    }
}

/// A manifest: its body and the arithmetic to print above it as comments.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Lines for comments above the document.
    pub comments: Vec<String>,
    /// The object.
    pub body: Node,
}

/// A minimal ordered value tree for manifests (keys keep their order, as
/// `kubectl` users expect to read them).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Node {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A list.
    List(Vec<Node>),
    /// A map in insertion order.
    #[serde(serialize_with = "ordered")]
    Map(Vec<(String, Node)>),
}

impl Node {
    fn str(s: &str) -> Node {
        Node::Str(s.to_owned())
    }

    fn map<const N: usize>(entries: [(&str, Node); N]) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

fn ordered<S: serde::Serializer>(entries: &[(String, Node)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> HpaInput {
        HpaInput {
            name: "api".into(),
            capacity_rps: 200.0,
            target_rate: 1000.0,
            peak_rate: 3000.0,
            headroom: 0.3,
            cpu: None,
            rps_metric: "http_requests_per_second".into(),
            pod_startup_s: Some(20.0),
            scale_within_s: 120.0,
        }
    }

    #[test]
    fn hpa_targets_follow_capacity_headroom_and_tolerance() {
        let p = hpa(&input());
        // min(200 × 0.7, 200 / 1.1) = 140 req/s per pod.
        assert!((p.per_pod_rps - 140.0).abs() < 1e-9);
        assert_eq!(p.min_replicas, 8); // ⌈1000 / 140⌉
        assert_eq!(p.max_replicas, 22); // ⌈3000 / 140⌉
        assert_eq!(p.replicas_for_peak, 15); // ⌈3000 / 200⌉
        // 8 → 16 (doubling beats +4): one sync.
        assert_eq!(p.scale_up, vec![8, 16]);
        assert_eq!(p.seconds_to_scale, Some(15.0));
        assert_eq!(p.within_limit, Some(true));
        assert!(matches!(p.metric, HpaMetric::RequestsPerPod { .. }));
    }

    #[test]
    fn a_small_tolerance_headroom_is_capped_by_the_dead_band() {
        let mut i = input();
        i.headroom = 0.05;
        // 200 × 0.95 = 190 would let pods reach 209 before scaling; 200/1.1 = 181.8.
        assert!((hpa(&i).per_pod_rps - 200.0 / 1.1).abs() < 1e-9);
    }

    #[test]
    fn scale_up_adds_four_pods_when_that_beats_doubling() {
        let mut i = input();
        i.target_rate = 100.0; // 1 pod
        i.peak_rate = 2000.0; // needs 10, max 15
        let p = hpa(&i);
        assert_eq!(p.scale_up, vec![1, 5, 10]);
        assert_eq!(p.seconds_to_scale, Some(30.0));
    }

    #[test]
    fn cpu_hpa_uses_the_utilization_at_the_per_pod_target() {
        let mut i = input();
        // 0.05 + 0.002 × 140 = 0.33 cores of a 0.5-core request = 66 %.
        i.cpu = Some((
            UsageLine {
                base: 0.05,
                per_rps: 0.002,
                steps: 5,
            },
            0.5,
        ));
        assert_eq!(hpa(&i).metric, HpaMetric::Cpu { utilization: 66 });
    }

    #[test]
    fn vpa_without_usage_is_not_computed() {
        let e = vpa_recommend(&[], None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("not computed: no monitored usage")
        );
    }

    #[test]
    fn vpa_takes_p90_plus_margin_at_the_bucket_end_and_scales_bounds_by_confidence() {
        // Two days of one-minute samples: CPU over twelve levels 0.1..1.0
        // cores evenly (p90 is the eleventh), memory 100 MB flat.
        let usage: Vec<UsageSample> = (0..2880)
            .map(|i| UsageSample {
                t_s: i as f64 * 60.0,
                cpu_cores: Some(0.1 + 0.9 * f64::from(i % 12) / 11.0),
                memory_bytes: Some(1e8),
            })
            .collect();
        let r = vpa_recommend(&usage, None).unwrap();
        let cpu = r.cpu.unwrap();
        // p90 falls in the bucket of the eleventh level; its end, plus 15 %.
        let h = Histogram::new(vpa::CPU_BUCKETS);
        let v = 0.1 + 0.9 * 10.0 / 11.0;
        let b = ((v * 0.05 / 0.01 + 1.0_f64).ln() / 1.05_f64.ln()).floor() as usize;
        // The later day weighs twice the first (half-life 24 h), which does
        // not move a percentile of an evenly repeating pattern.
        assert!((cpu.target - h.start(b + 1) * 1.15).abs() < 1e-9, "{cpu:?}");
        assert!(
            r.confidence > 1.99 && r.confidence < 2.0,
            "{}",
            r.confidence
        );
        assert!(cpu.upper > cpu.target && cpu.lower < cpu.target);
        let mem = r.memory.unwrap();
        // 100 MB is below the 250 MiB floor.
        assert_eq!(mem.target, vpa::MIN_MEMORY);
    }

    #[test]
    fn quantities_round_towards_safety() {
        assert_eq!(cpu_quantity(0.2501), "251m");
        assert_eq!(memory_quantity(300.5 * 1024.0 * 1024.0), "301Mi");
        assert_eq!(rate_quantity(140.0), "140");
        assert_eq!(rate_quantity(181.8181), "181818m");
    }
}
