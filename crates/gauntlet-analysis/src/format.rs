//! Numbers as people read them, k6-style: `140.36ms`, `750µs`, `1.5s`,
//! `2.4 MB`, `8.15%`. The verdict's reasons are written with these, and the
//! report renderers (`gauntlet_report::terminal` re-exports them) use the same
//! functions, so a value reads the same in a reason and in the table above it.

use gauntlet_metrics::{MetricKind, Stat, Unit};

/// Drop trailing zeros after a decimal point (`12.50` → `12.5`, `3.00` → `3`).
pub fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Format milliseconds the way k6 does (`140.36ms`, `1.2s`, `750µs`,
/// `2m30s`, `1h0m5s`). Each unit's value is rounded before the unit is
/// chosen, so a rounding that reaches the next unit carries into it
/// (`59.999s` is `1m0s`, never `60s`; `179.6s` is `3m0s`, never `2m60s`).
/// From one minute up, seconds are whole, as in k6's summary.
pub fn fmt_ms(ms: f64) -> String {
    if ms.is_nan() {
        return "NaN".into();
    }
    if ms < 0.0 {
        return format!("-{}", fmt_ms(-ms));
    }
    // Rounded to two decimals, as printed.
    let r2 = |v: f64| (v * 100.0).round() / 100.0;
    if ms == 0.0 {
        "0s".into()
    } else if r2(ms * 1000.0) < 1000.0 && ms < 1.0 {
        trim(format!("{:.2}", ms * 1000.0)) + "µs"
    } else if r2(ms) < 1000.0 {
        trim(format!("{ms:.2}")) + "ms"
    } else if r2(ms / 1000.0) < 60.0 {
        trim(format!("{:.2}", ms / 1000.0)) + "s"
    } else if !ms.is_finite() {
        "inf".into()
    } else {
        let total = (ms / 1000.0).round() as u64;
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else {
            format!("{m}m{s}s")
        }
    }
}

/// Format bytes (`2.4 MB`); a rounding that reaches 1000 carries into the
/// next unit (`999.96 kB` is `1 MB`).
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    // The value as printed: whole bytes, one decimal above.
    let shown = |v: f64, i: usize| {
        if i == 0 {
            v.round()
        } else {
            (v * 10.0).round() / 10.0
        }
    };
    while shown(v, i) >= 1000.0 && i < UNITS.len() - 1 {
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
/// else a plain number). A [`Unit::Microseconds`] metric's `value` is in
/// milliseconds, as thresholds read it.
pub fn fmt_observed(value: f64, kind: MetricKind, unit: Unit, aggregation: Stat) -> String {
    let plain = |v: f64| trim(format!("{v:.2}"));
    let in_unit = |v: f64| match unit {
        Unit::Microseconds => fmt_ms(v),
        Unit::Bytes => fmt_bytes(v),
        Unit::Count | Unit::None => plain(v),
    };
    match aggregation {
        Stat::Rate if kind == MetricKind::Rate => fmt_pct(value),
        Stat::Rate => format!("{}/s", plain(value)),
        Stat::Count | Stat::Fails => plain(value),
        Stat::Sum | Stat::Value | Stat::Avg | Stat::Min | Stat::Med | Stat::Max => in_unit(value),
        Stat::Percentile(_) => in_unit(value),
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
    fn a_rounding_that_reaches_the_next_unit_carries_into_it() {
        // The rounding that once printed `2m60s`.
        assert_eq!(fmt_ms(179_600.0), "3m0s");
        assert_eq!(fmt_ms(179_960.0), "3m0s");
        assert_eq!(fmt_ms(179_400.0), "2m59s");
        assert_eq!(fmt_ms(59_999.0), "1m0s");
        assert_eq!(fmt_ms(59_994.0), "59.99s");
        assert_eq!(fmt_ms(60_000.0), "1m0s");
        assert_eq!(fmt_ms(999.999), "1s");
        assert_eq!(fmt_ms(999.994), "999.99ms");
        assert_eq!(fmt_ms(0.999_996), "1ms");
        assert_eq!(fmt_ms(0.999_994), "999.99µs");
        assert_eq!(fmt_ms(3_599_600.0), "1h0m0s");
        assert_eq!(fmt_ms(3_661_000.0), "1h1m1s");
        assert_eq!(fmt_ms(-1500.0), "-1.5s");
        assert_eq!(fmt_ms(f64::INFINITY), "inf");
        assert_eq!(fmt_ms(f64::NAN), "NaN");
    }

    #[test]
    fn a_byte_count_rounding_up_carries_into_the_next_unit() {
        assert_eq!(fmt_bytes(999.6), "1 kB");
        assert_eq!(fmt_bytes(999.4), "999 B");
        assert_eq!(fmt_bytes(999_960.0), "1 MB");
        assert_eq!(fmt_bytes(1_000_000.0), "1 MB");
    }

    #[test]
    fn observed_values_carry_their_unit() {
        use MetricKind as K;
        use Stat as A;
        use Unit as U;
        let f = fmt_observed;
        assert_eq!(
            f(
                212.9,
                K::Trend,
                U::Microseconds,
                A::percentile(95.0).unwrap()
            ),
            "212.9ms"
        );
        assert_eq!(f(3.4391, K::Trend, U::Microseconds, A::Avg), "3.44ms");
        assert_eq!(f(0.25, K::Trend, U::Microseconds, A::Max), "250µs");
        assert_eq!(f(1840.0, K::Trend, U::Microseconds, A::Count), "1840");
        assert_eq!(f(0.08152, K::Rate, U::Count, A::Rate), "8.15%");
        assert_eq!(f(30.6667, K::Counter, U::Count, A::Rate), "30.67/s");
        assert_eq!(f(12.0, K::Counter, U::Count, A::Count), "12");
        assert_eq!(f(57.314, K::Trend, U::Count, A::Avg), "57.31");
    }
}
