//! Numbers as people read them, k6-style: `140.36ms`, `750µs`, `1.5s`,
//! `2.4 MB`, `8.15%`. The verdict's reasons are written with these, and the
//! report renderers (`gauntlet_report::terminal` re-exports them) use the same
//! functions, so a value reads the same in a reason and in the table above it.

use gauntlet_plan::catalog::{MetricType, ValueUnit};
use gauntlet_plan::threshold::Aggregation;

/// Drop trailing zeros after a decimal point (`12.50` → `12.5`, `3.00` → `3`).
pub fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Format milliseconds the way k6 does (`140.36ms`, `1.2s`, `750µs`).
pub fn fmt_ms(ms: f64) -> String {
    if ms == 0.0 {
        "0s".into()
    } else if ms < 1.0 {
        trim(format!("{:.2}", ms * 1000.0)) + "µs"
    } else if ms < 1000.0 {
        trim(format!("{ms:.2}")) + "ms"
    } else if ms < 60_000.0 {
        trim(format!("{:.2}", ms / 1000.0)) + "s"
    } else {
        let m = (ms / 60_000.0).floor();
        let s = (ms - m * 60_000.0) / 1000.0;
        format!("{m:.0}m{}s", trim(format!("{s:.1}")))
    }
}

/// Format bytes (`2.4 MB`).
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{} {}", trim(format!("{v:.1}")), UNITS[i])
    }
}

/// A 0..1 share as a percentage with two decimals (`0.0815` → `8.15%`).
pub fn fmt_pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

/// `value` of `aggregation` over a metric of this kind and unit, in the
/// aggregation's own unit: `rate` of a rate metric as a percentage, `rate`
/// of anything else per second, `count` as a plain number, any other
/// aggregation in the metric's unit (k6-style durations for time, bytes,
/// else a plain number).
pub fn fmt_observed(
    value: f64,
    kind: MetricType,
    unit: ValueUnit,
    aggregation: Aggregation,
) -> String {
    let plain = |v: f64| trim(format!("{v:.2}"));
    match aggregation {
        Aggregation::Rate if kind == MetricType::Rate => fmt_pct(value),
        Aggregation::Rate => format!("{}/s", plain(value)),
        Aggregation::Count => plain(value),
        _ => match unit {
            ValueUnit::Time => fmt_ms(value),
            ValueUnit::Bytes => fmt_bytes(value),
            _ => plain(value),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_like_duration_format() {
        assert_eq!(fmt_ms(140.364), "140.36ms");
        assert_eq!(fmt_ms(0.75), "750µs");
        assert_eq!(fmt_ms(1500.0), "1.5s");
        assert_eq!(fmt_ms(0.0), "0s");
        assert_eq!(fmt_ms(90_000.0), "1m30s");
        assert_eq!(fmt_bytes(2_400_000.0), "2.4 MB");
        assert_eq!(fmt_bytes(512.0), "512 B");
    }

    #[test]
    fn observed_values_carry_their_unit() {
        use Aggregation as A;
        use MetricType as K;
        use ValueUnit as U;
        let f = fmt_observed;
        assert_eq!(f(212.9, K::Trend, U::Time, A::Percentile(95.0)), "212.9ms");
        assert_eq!(f(3.4391, K::Trend, U::Time, A::Avg), "3.44ms");
        assert_eq!(f(0.25, K::Trend, U::Time, A::Max), "250µs");
        assert_eq!(f(1840.0, K::Trend, U::Time, A::Count), "1840");
        assert_eq!(f(0.08152, K::Rate, U::Count, A::Rate), "8.15%");
        assert_eq!(f(30.6667, K::Counter, U::Count, A::Rate), "30.67/s");
        assert_eq!(f(12.0, K::Counter, U::Count, A::Count), "12");
        assert_eq!(f(57.314, K::Trend, U::Count, A::Avg), "57.31");
    }
}
