//! Metric definitions, registered once before a run.

use std::collections::HashMap;

/// k6's four metric kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MetricKind {
    /// A running sum.
    Counter,
    /// A last value (with min and max).
    Gauge,
    /// A share of true samples.
    Rate,
    /// A distribution (HDR histogram).
    Trend,
}

/// What a metric's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Unit {
    /// Durations, recorded in microseconds.
    Microseconds,
    /// Byte counts.
    Bytes,
    /// Plain numbers.
    Count,
}

/// Index of a registered metric: the key of every series, never a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricId(pub u16);

/// A registered metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDef {
    /// Name (`http_req_duration`).
    pub name: String,
    /// Kind.
    pub kind: MetricKind,
    /// Unit.
    pub unit: Unit,
}

/// Registering a metric failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is taken.
    #[error("metric `{0}` is already registered")]
    Duplicate(String),
    /// More metrics than ids.
    #[error("too many metrics")]
    Full,
}

/// The metrics of one run: built before it starts, then shared read-only.
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

    /// Register a metric.
    pub fn register(
        &mut self,
        name: &str,
        kind: MetricKind,
        unit: Unit,
    ) -> Result<MetricId, RegistryError> {
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

    /// Look a metric up by name.
    pub fn get(&self, name: &str) -> Option<MetricId> {
        self.by_name.get(name).copied()
    }

    /// The definition of a metric.
    pub fn def(&self, id: MetricId) -> &MetricDef {
        &self.defs[id.0 as usize]
    }

    /// Every metric in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (MetricId, &MetricDef)> {
        self.defs
            .iter()
            .enumerate()
            .map(|(i, d)| (MetricId(i as u16), d))
    }
}
