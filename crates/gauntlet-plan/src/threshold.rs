//! The threshold language: k6's grammar with units.
//!
//! `aggregation operator value[unit]`, e.g. `p(95) < 200ms`, `rate < 1%`,
//! `rate > 1000/s`, `avg <= 1.5s`, `count == 0`. Without a unit, values mean
//! what they mean in k6 (milliseconds for time trends, a 0..1 ratio for rates),
//! so k6 thresholds carry over unchanged. Keys are `metric{tag:value,...}`.
//!
//! Parsing produces typed values (the metrics crate's [`Stat`], [`Cmp`]);
//! nothing downstream compares strings like `"p(95)"`. The grammar accepts
//! k6's aggregations only: `avg min med max p(N) count rate value`.

use crate::plan::WindowKind;
use gauntlet_metrics::{Percentile, Stat};
use std::fmt;

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (also `===`)
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    /// Whether `observed op bound` holds.
    pub fn holds(self, observed: f64, bound: f64) -> bool {
        match self {
            Cmp::Lt => observed < bound,
            Cmp::Le => observed <= bound,
            Cmp::Gt => observed > bound,
            Cmp::Ge => observed >= bound,
            Cmp::Eq => (observed - bound).abs() <= f64::EPSILON * bound.abs().max(1.0),
            Cmp::Ne => (observed - bound).abs() > f64::EPSILON * bound.abs().max(1.0),
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }
}

/// The unit written after the number, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WrittenUnit {
    /// A bare number.
    None,
    /// A duration unit (`ms`, `s`, `m`, `us`); the value is converted to ms.
    Duration,
    /// `%`; the value is divided by 100.
    Percent,
    /// `/s` or `/m`; the value is converted to per second.
    PerTime,
    /// A size (`KB`, `MB`, `B`); the value is converted to bytes.
    Bytes,
}

/// A parsed threshold expression, before it is checked against its metric.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExpr {
    /// The statistic the metric is reduced to.
    pub aggregation: Stat,
    /// Operator.
    pub cmp: Cmp,
    /// The bound, already converted by the written unit (ms, ratio, per second, bytes).
    pub value: f64,
    /// Which unit was written.
    pub unit: WrittenUnit,
    /// `over 30s` or `for 10s` after the value; the whole run without one.
    pub window: WindowKind,
}

/// Why an expression did not parse: byte offset within the text, message, hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// Byte offset inside the expression text where the problem starts.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

const EXPR_HELP: &str = "write `<aggregation> <operator> <value> [over|for <duration>]`, e.g. `p(95) < 200ms`, `rate < 1%`, `avg <= 1.5s`, `rate > 100/s`, `p(95) < 200ms over 30s`; aggregations: avg min med max p(N) count rate value";

/// Split `200ms over 30s` into the value text and its window, with the
/// window's byte offset in `value_text` for errors.
fn split_window(value_text: &str) -> Result<(&str, WindowKind), (usize, String, String)> {
    let found = [" over ", " for "]
        .iter()
        .filter_map(|k| value_text.find(k).map(|i| (i, *k)))
        .min_by_key(|(i, _)| *i);
    let Some((at, keyword)) = found else {
        return Ok((value_text, WindowKind::WholeRun));
    };
    let length_at = at + keyword.len();
    let length_text = value_text[length_at..].trim();
    let help =
        "`over 30s`: every 30 s window must hold; `for 10s`: fails when broken 10 s in a row"
            .to_owned();
    let length = crate::duration::parse_duration(length_text)
        .map_err(|e| (length_at, format!("window: {e}"), help.clone()))?;
    if length.is_zero() {
        return Err((length_at, "a window must be longer than zero".into(), help));
    }
    let kind = match keyword.trim() {
        "over" => WindowKind::Every(length),
        _ => WindowKind::Sustained(length),
    };
    Ok((value_text[..at].trim_end(), kind))
}

/// Parse `p(95) < 200ms` and friends.
pub fn parse_expr(text: &str) -> Result<ParsedExpr, ExprError> {
    let err = |offset: usize, message: String| ExprError {
        offset,
        message,
        help: EXPR_HELP.to_owned(),
    };
    let lead = text.len() - text.trim_start().len();
    let s = text.trim();
    // Aggregation.
    let agg_end = s
        .find(|c: char| c == '<' || c == '>' || c == '=' || c == '!' || c.is_whitespace())
        .unwrap_or(s.len());
    let agg_text = &s[..agg_end];
    let aggregation = match agg_text {
        "avg" => Stat::Avg,
        "min" => Stat::Min,
        "med" => Stat::Med,
        "max" => Stat::Max,
        "count" => Stat::Count,
        "rate" => Stat::Rate,
        "value" => Stat::Value,
        t if t.starts_with("p(") && t.ends_with(')') => {
            let inner = &t[2..t.len() - 1];
            match inner.trim().parse::<f64>().map(Percentile::new) {
                Ok(Ok(p)) => Stat::Percentile(p),
                _ => {
                    return Err(err(
                        lead + 2,
                        format!("percentile `{inner}` must be a number from 0 to 100"),
                    ));
                }
            }
        }
        t if t.starts_with('p') && t[1..].parse::<f64>().is_ok() => {
            return Err(ExprError {
                offset: lead,
                message: format!("unknown aggregation `{t}`"),
                help: format!("percentiles are written `p({})`, as in k6", &t[1..]),
            });
        }
        "" => return Err(err(lead, "missing aggregation".into())),
        t => {
            let hint = crate::diagnostic::did_you_mean(
                t,
                ["avg", "min", "med", "max", "count", "rate", "value"],
            );
            return Err(ExprError {
                offset: lead,
                message: format!("unknown aggregation `{t}`"),
                help: match hint {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => EXPR_HELP.to_owned(),
                },
            });
        }
    };
    let rest = &s[agg_end..];
    let op_lead = rest.len() - rest.trim_start().len();
    let rest = rest.trim_start();
    let op_pos = lead + agg_end + op_lead;
    let (cmp, op_len) = if rest.starts_with("===") {
        (Cmp::Eq, 3)
    } else if rest.starts_with("==") {
        (Cmp::Eq, 2)
    } else if rest.starts_with("!=") {
        (Cmp::Ne, 2)
    } else if rest.starts_with("<=") {
        (Cmp::Le, 2)
    } else if rest.starts_with(">=") {
        (Cmp::Ge, 2)
    } else if rest.starts_with('<') {
        (Cmp::Lt, 1)
    } else if rest.starts_with('>') {
        (Cmp::Gt, 1)
    } else {
        return Err(err(
            op_pos,
            "missing comparison operator (< <= > >= == !=)".into(),
        ));
    };
    let value_text_full = &rest[op_len..];
    let v_lead = value_text_full.len() - value_text_full.trim_start().len();
    let value_text = value_text_full.trim();
    let v_pos = op_pos + op_len + v_lead;
    let (value_text, window) =
        split_window(value_text).map_err(|(at, message, help)| ExprError {
            offset: v_pos + at,
            message,
            help,
        })?;
    if value_text.is_empty() {
        return Err(err(v_pos, "missing value after the operator".into()));
    }
    let num_end = value_text
        .find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
        })
        .unwrap_or(value_text.len());
    // `e` could start a unit-less exponent or nothing else; we do not allow units starting with e.
    let (num_text, unit_text) = value_text.split_at(num_end);
    let number: f64 = num_text
        .parse()
        .map_err(|_| err(v_pos, format!("`{value_text}` is not a number")))?;
    let unit_text = unit_text.trim();
    let (value, unit) = match unit_text {
        "" => (number, WrittenUnit::None),
        "%" => (number / 100.0, WrittenUnit::Percent),
        "ms" => (number, WrittenUnit::Duration),
        "s" => (number * 1000.0, WrittenUnit::Duration),
        "m" | "min" => (number * 60_000.0, WrittenUnit::Duration),
        "us" | "µs" => (number / 1000.0, WrittenUnit::Duration),
        "/s" => (number, WrittenUnit::PerTime),
        "/m" | "/min" => (number / 60.0, WrittenUnit::PerTime),
        "B" => (number, WrittenUnit::Bytes),
        "KB" | "kB" => (number * 1000.0, WrittenUnit::Bytes),
        "MB" => (number * 1_000_000.0, WrittenUnit::Bytes),
        "GB" => (number * 1_000_000_000.0, WrittenUnit::Bytes),
        other => {
            return Err(ExprError {
                offset: v_pos + num_end,
                message: format!("unknown unit `{other}`"),
                help:
                    "units: ms, s, m, us (durations), % (rates), /s, /m (throughput), B, KB, MB, GB"
                        .into(),
            });
        }
    };
    if !value.is_finite() {
        return Err(err(v_pos, "value must be finite".into()));
    }
    Ok(ParsedExpr {
        aggregation,
        cmp,
        value,
        unit,
        window,
    })
}

/// `metric{tag:value,tag2:value2}` as written in a threshold key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricSelector {
    /// Metric name.
    pub metric: String,
    /// Tag filters; all must match (k6 sub-metric semantics).
    pub tags: Vec<(String, String)>,
}

impl fmt::Display for MetricSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if !self.tags.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}:{v}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// Parse a threshold key.
pub fn parse_selector(text: &str) -> Result<MetricSelector, ExprError> {
    parse_selector_at(text).map(|(s, _)| s)
}

/// Where one tag filter of a selector is written: byte offsets of its key and
/// its value in the selector text, so validation can point at a misspelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagAt {
    /// Offset of the tag key.
    pub(crate) key: usize,
    /// Offset of the tag value.
    pub(crate) value: usize,
}

/// [`parse_selector`], plus where each tag filter is written (one [`TagAt`] per tag).
pub(crate) fn parse_selector_at(text: &str) -> Result<(MetricSelector, Vec<TagAt>), ExprError> {
    let lead = text.len() - text.trim_start().len();
    let s = text.trim();
    let help = "write `metric` or `metric{tag:value}`, e.g. `http_req_duration{name:create_item}`"
        .to_owned();
    let (name, tags_text) = match s.find('{') {
        Some(i) => {
            if !s.ends_with('}') {
                return Err(ExprError {
                    offset: s.len(),
                    message: "missing closing `}`".into(),
                    help,
                });
            }
            (&s[..i], Some((i + 1, &s[i + 1..s.len() - 1])))
        }
        None => (s, None),
    };
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ExprError {
            offset: 0,
            message: format!("`{name}` is not a metric name (letters, digits and `_`)"),
            help,
        });
    }
    let mut tags = Vec::new();
    let mut at = Vec::new();
    if let Some((base, inner)) = tags_text {
        let mut pos = base;
        for part in inner.split(',') {
            let Some((k_raw, v_raw)) = part.split_once(':') else {
                return Err(ExprError {
                    offset: pos,
                    message: format!("tag filter `{}` needs `tag:value`", part.trim()),
                    help,
                });
            };
            let (k, v) = (k_raw.trim(), v_raw.trim());
            if k.is_empty() {
                return Err(ExprError {
                    offset: pos,
                    message: "empty tag name".into(),
                    help,
                });
            }
            let key = lead + pos + (k_raw.len() - k_raw.trim_start().len());
            let value = lead + pos + k_raw.len() + 1 + (v_raw.len() - v_raw.trim_start().len());
            tags.push((k.to_owned(), v.to_owned()));
            at.push(TagAt { key, value });
            pos += part.len() + 1;
        }
    }
    Ok((
        MetricSelector {
            metric: name.to_owned(),
            tags,
        },
        at,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_expressions() {
        let e = parse_expr("p(95)<200").unwrap();
        assert_eq!(e.aggregation, Stat::percentile(95.0).unwrap());
        assert_eq!(e.cmp, Cmp::Lt);
        assert_eq!(e.value, 200.0);
        let e = parse_expr("p(99.99) <= 1.5s").unwrap();
        assert_eq!(e.aggregation, Stat::percentile(99.99).unwrap());
        assert_eq!(e.value, 1500.0);
        assert_eq!(e.unit, WrittenUnit::Duration);
        let e = parse_expr("rate < 1%").unwrap();
        assert!((e.value - 0.01).abs() < 1e-12);
        let e = parse_expr("rate > 60/m").unwrap();
        assert_eq!(e.value, 1.0);
        assert_eq!(parse_expr("count === 0").unwrap().cmp, Cmp::Eq);
        assert_eq!(parse_expr("value != 3").unwrap().cmp, Cmp::Ne);
    }

    #[test]
    fn expression_errors_point_inside() {
        let e = parse_expr("p95 < 200").unwrap_err();
        assert!(e.help.contains("p(95)"));
        let e = parse_expr("avg 200").unwrap_err();
        assert_eq!(e.offset, 4);
        let e = parse_expr("avg < 200 parsecs").unwrap_err();
        assert!(e.message.contains("unknown unit"), "{e:?}");
        assert!(parse_expr("p(101) < 1").is_err());
        assert!(parse_expr("avgg < 1").unwrap_err().help.contains("avg"));
    }

    #[test]
    fn a_window_follows_the_value() {
        let e = parse_expr("p(95) < 200ms over 30s").unwrap();
        assert_eq!(e.value, 200.0);
        assert_eq!(
            e.window,
            WindowKind::Every(std::time::Duration::from_secs(30))
        );
        let e = parse_expr("rate < 1% for 10s").unwrap();
        assert!((e.value - 0.01).abs() < 1e-12);
        assert_eq!(
            e.window,
            WindowKind::Sustained(std::time::Duration::from_secs(10))
        );
        assert_eq!(
            parse_expr("rate < 1%").unwrap().window,
            WindowKind::WholeRun
        );
    }

    #[test]
    fn a_bad_window_points_at_its_length() {
        let text = "p(95) < 200ms over soon";
        let e = parse_expr(text).unwrap_err();
        assert_eq!(&text[e.offset..], "soon", "{e:?}");
        assert!(e.help.contains("over 30s"), "{e:?}");
        let e = parse_expr("p(95) < 200ms for 0s").unwrap_err();
        assert!(e.message.contains("longer than zero"), "{e:?}");
    }

    #[test]
    fn selectors() {
        let s = parse_selector("http_req_duration{name:create, method : POST}").unwrap();
        assert_eq!(s.metric, "http_req_duration");
        assert_eq!(
            s.tags,
            vec![
                ("name".into(), "create".into()),
                ("method".into(), "POST".into())
            ]
        );
        assert_eq!(s.to_string(), "http_req_duration{name:create,method:POST}");
        let s = parse_selector("group_duration{group:::individualRequests}").unwrap();
        assert_eq!(s.tags[0].1, "::individualRequests");
        assert!(parse_selector("http_req_duration{name}").is_err());
        let text = "http_reqs{ name : a,scenario:bb}";
        let (_, at) = parse_selector_at(text).unwrap();
        assert_eq!(
            (
                &text[at[0].key..at[0].key + 4],
                &text[at[0].value..at[0].value + 1]
            ),
            ("name", "a")
        );
        assert_eq!(&text[at[1].key..at[1].value], "scenario:");
        assert!(parse_selector("http req").is_err());
    }

    #[test]
    fn cmp_holds() {
        assert!(Cmp::Lt.holds(1.0, 2.0));
        assert!(!Cmp::Lt.holds(2.0, 2.0));
        assert!(Cmp::Le.holds(2.0, 2.0));
        assert!(Cmp::Eq.holds(0.0, 0.0));
        assert!(Cmp::Ne.holds(1.0, 0.0));
    }
}
