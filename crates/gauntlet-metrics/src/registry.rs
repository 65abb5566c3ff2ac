//! Metric definitions: registered once before a run, then shared read-only.
//!
//! The crate knows no metric names of its own (no `http_*`): whoever records
//! registers what it records, and every later step (recorders, snapshots,
//! queries) speaks in [`MetricId`]s, a `u16` index, never in strings. There
//! is no global registry: a run builds one, wraps it in an `Arc` and hands it
//! to its recorders, so two runs in one process never share metric state.

use std::collections::HashMap;

/// k6's four metric kinds: what a metric's samples mean and how they combine.
///
/// The one vocabulary of kinds: the plan's catalog, the recorders, analysis
/// and the reports all use it. Deliberately exhaustive, so a new kind fails
/// to compile wherever a kind is matched instead of falling through a `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A running sum (`http_reqs`, `data_sent`): samples add up.
    Counter,
    /// A level sampled now and then (`vus`): the last value wins, min and max are kept.
    Gauge,
    /// A share of true samples (`http_req_failed`, `checks`).
    Rate,
    /// A distribution of values (`http_req_duration`), kept as an HDR histogram.
    Trend,
}

/// What a metric's values are measured in, so readers can convert (µs → ms)
/// and format (bytes) without knowing metric names.
///
/// The one vocabulary of units, shared like [`MetricKind`] and exhaustive
/// for the same reason. Thresholds and summaries read durations in
/// milliseconds (k6's convention), so a [`Unit::Microseconds`] metric is
/// observed in milliseconds there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Durations, recorded in whole microseconds (readers convert to ms).
    Microseconds,
    /// Byte counts.
    Bytes,
    /// Counts of things (requests, iterations, VUs).
    Count,
    /// Plain numbers without a unit.
    None,
}

/// Index of a registered metric: the metric half of every series key, so the
/// hot path never hashes or compares strings.
///
/// An id is only meaningful for the [`Registry`] that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub u16);

impl MetricId {
    /// The id as an index into the registry's definitions.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A registered metric: its name (as users write it in thresholds), kind and unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDef {
    /// Name, e.g. `http_req_duration`: letters, digits and `_`.
    pub name: String,
    /// How samples combine.
    pub kind: MetricKind,
    /// What values are measured in.
    pub unit: Unit,
}

/// Registering a metric failed; returned by [`Registry::register`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is already registered (possibly with another kind).
    #[error("metric `{0}` is already registered")]
    Duplicate(String),
    /// The name is empty or has characters other than ASCII letters, digits and `_`.
    #[error("`{0}` is not a metric name (use ASCII letters, digits and `_`)")]
    InvalidName(String),
    /// All 65,536 ids are taken.
    #[error("too many metrics (at most 65536)")]
    Full,
}

/// The metrics of one run: built before it starts, then shared read-only
/// (`Arc<Registry>`) by every recorder.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: Vec<MetricDef>,
    by_name: HashMap<String, MetricId>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register a metric and get its id. Names are unique: registering one
    /// twice is an error, whatever the kind.
    pub fn register(
        &mut self,
        name: &str,
        kind: MetricKind,
        unit: Unit,
    ) -> Result<MetricId, RegistryError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(RegistryError::InvalidName(name.to_owned()));
        }
        if self.by_name.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        let id = MetricId(u16::try_from(self.defs.len()).map_err(|_| RegistryError::Full)?);
        self.defs.push(MetricDef {
            name: name.to_owned(),
            kind,
            unit,
        });
        self.by_name.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The id of a metric name, if registered.
    pub fn get(&self, name: &str) -> Option<MetricId> {
        self.by_name.get(name).copied()
    }

    /// The definition of a metric of this registry.
    ///
    /// # Panics
    /// If `id` was not issued by this registry (a programming error). Use
    /// [`Registry::get_def`] where ids may come from elsewhere.
    pub fn def(&self, id: MetricId) -> &MetricDef {
        &self.defs[id.index()]
    }

    /// The definition of a metric, or `None` for an id this registry did not issue.
    pub fn get_def(&self, id: MetricId) -> Option<&MetricDef> {
        self.defs.get(id.index())
    }

    /// Every metric in registration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (MetricId, &MetricDef)> {
        // Ids were issued from indices that fit in u16.
        self.defs
            .iter()
            .enumerate()
            .map(|(i, d)| (MetricId(i as u16), d))
    }

    /// How many metrics are registered.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether no metric is registered.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_checked() {
        let mut r = Registry::new();
        let a = r
            .register("http_reqs", MetricKind::Counter, Unit::Count)
            .unwrap();
        assert_eq!(r.get("http_reqs"), Some(a));
        assert_eq!(r.def(a).kind, MetricKind::Counter);
        assert_eq!(
            r.register("http_reqs", MetricKind::Trend, Unit::Microseconds),
            Err(RegistryError::Duplicate("http_reqs".into()))
        );
        for bad in ["", "a b", "x{y}", "é"] {
            assert_eq!(
                r.register(bad, MetricKind::Counter, Unit::None),
                Err(RegistryError::InvalidName(bad.into()))
            );
        }
        assert_eq!(r.len(), 1);
        assert!(r.get_def(MetricId(7)).is_none());
    }

    #[test]
    fn the_id_space_ends_with_an_error() {
        let mut r = Registry::new();
        for i in 0..=u16::MAX as usize {
            r.register(&format!("m{i}"), MetricKind::Counter, Unit::Count)
                .unwrap();
        }
        assert_eq!(
            r.register("one_more", MetricKind::Counter, Unit::Count),
            Err(RegistryError::Full)
        );
    }
}
