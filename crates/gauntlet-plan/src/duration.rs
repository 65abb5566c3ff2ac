//! Durations as k6 and Go write them: `30s`, `2m`, `1h30m`, `500ms`, `1.5s`.

use std::time::Duration;

/// Why a text is not a duration; the message names the text and, where it
/// helps, what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration")]
    Empty,
    /// A leading `-`.
    #[error("`{0}` is negative; durations must be zero or more")]
    Negative(String),
    /// A part does not start with a number.
    #[error("`{0}` is not a duration")]
    NotADuration(String),
    /// A part's number does not parse (`1.2.3s`).
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// A number without a unit (`10`, or `1h30`).
    #[error("`{0}` has no unit")]
    NoUnit(String),
    /// A unit gauntlet does not know.
    #[error("unknown unit `{unit}` in `{text}` (use h, m, s, ms, us)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration text.
        text: String,
    },
    /// Too large or not finite.
    #[error("`{0}` is not a usable duration")]
    Unusable(String),
}

/// Parse a duration string. Accepts a sequence of `<number><unit>` with units
/// `h`, `m`, `s`, `ms`, `us`/`µs`, `ns`; a bare `0` is zero. A bare non-zero
/// number is refused (ambiguous: k6 reads seconds in some places and
/// milliseconds in others), with a hint from the caller.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(s.to_owned()));
    }
    let mut total = 0f64;
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(DurationError::NotADuration(s.to_owned()));
        }
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| DurationError::NotANumber(rest[..num_len].to_owned()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "" => return Err(DurationError::NoUnit(s.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    text: s.to_owned(),
                });
            }
        };
        total += num * secs;
        parts += 1;
    }
    if parts == 0 || !total.is_finite() || total > 1.0e9 {
        return Err(DurationError::Unusable(s.to_owned()));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Format a duration compactly the way users write them (`1h30m`, `2.5s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return if d.is_zero() {
            "0s".into()
        } else if d.as_micros() == 0 {
            format!("{}ns", d.as_nanos())
        } else {
            format!("{}µs", d.as_micros())
        };
    }
    if total_ms < 1000 {
        return format!("{total_ms}ms");
    }
    let secs = d.as_secs();
    let ms = total_ms % 1000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || ms > 0 {
        if ms > 0 {
            let frac = format!("{:03}", ms);
            out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_forms() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn formatting_never_carries_a_unit_past_its_range() {
        let f = |ms: u64| format_duration(Duration::from_millis(ms));
        assert_eq!(f(179_600), "2m59.6s");
        assert_eq!(f(180_000), "3m");
        assert_eq!(f(59_999), "59.999s");
        assert_eq!(f(999), "999ms");
        assert_eq!(f(3_599_999), "59m59.999s");
        assert_eq!(f(3_600_000), "1h");
        assert_eq!(format_duration(Duration::from_micros(999_999)), "999ms");
        assert_eq!(format_duration(Duration::from_nanos(1)), "1ns");
    }

    #[test]
    fn formats_round_trip() {
        for s in ["30s", "2m", "1h30m", "500ms", "1.5s", "0s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
