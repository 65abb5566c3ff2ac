//! Tags, tag sets, and the interner that turns a tag set into a `u32`.
//!
//! A series is one metric with one combination of tags (`name=read_item,
//! status=200, ...`). Hashing that list on every sample would cost more than
//! recording it, so combinations are interned once into a [`TagSetId`] and
//! the hot path works with `(MetricId, TagSetId)` pairs only.
//!
//! The [`TagInterner`] is shared by all workers of a run (it is a cheap
//! handle: clones share one table). It takes a mutex on every call, which is
//! fine because callers are expected to **cache the ids** they use (per step,
//! per status, ...) and only come back when a new combination appears.
//!
//! Memory grows with the number of *distinct* tag combinations, never with
//! the number of samples; keep tag values low-cardinality (no unique ids or
//! full URLs in tags).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A tag name: k6's system tags as typed variants, anything else `Custom`.
///
/// Build custom keys with [`TagKey::parse`], which maps system names to their
/// variants, so `Custom("status")` never competes with `Status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TagKey {
    /// `scenario`: the scenario that ran the iteration.
    Scenario,
    /// `name`: the request (step) name, k6's URL grouping name.
    Name,
    /// `method`: the request method or operation verb.
    Method,
    /// `status`: the response status.
    Status,
    /// `expected_response`: whether the status was the expected one.
    ExpectedResponse,
    /// `error_code`: the typed error kind of a failed request.
    ErrorCode,
    /// `check`: a check's name.
    Check,
    /// `group`: the operation (group) the sample belongs to.
    Group,
    /// `proto`: the protocol version.
    Proto,
    /// A user-defined tag.
    Custom(Arc<str>),
}

impl TagKey {
    /// The tag's name as users write it (k6 names for system tags).
    pub fn as_str(&self) -> &str {
        match self {
            TagKey::Scenario => "scenario",
            TagKey::Name => "name",
            TagKey::Method => "method",
            TagKey::Status => "status",
            TagKey::ExpectedResponse => "expected_response",
            TagKey::ErrorCode => "error_code",
            TagKey::Check => "check",
            TagKey::Group => "group",
            TagKey::Proto => "proto",
            TagKey::Custom(s) => s,
        }
    }

    /// The key for a tag name: a system variant for k6's names, else `Custom`.
    pub fn parse(s: &str) -> TagKey {
        match s {
            "scenario" => TagKey::Scenario,
            "name" => TagKey::Name,
            "method" => TagKey::Method,
            "status" => TagKey::Status,
            "expected_response" => TagKey::ExpectedResponse,
            "error_code" => TagKey::ErrorCode,
            "check" => TagKey::Check,
            "group" => TagKey::Group,
            "proto" => TagKey::Proto,
            other => TagKey::Custom(Arc::from(other)),
        }
    }
}

impl fmt::Display for TagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of tags, sorted by key with one value per key, so equal sets compare
/// and hash equal whatever order they were built in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TagSet(Vec<(TagKey, Arc<str>)>);

impl TagSet {
    /// Build from pairs in any order; for a repeated key the later value wins.
    pub fn new(pairs: impl IntoIterator<Item = (TagKey, Arc<str>)>) -> TagSet {
        let mut v: Vec<(TagKey, Arc<str>)> = Vec::new();
        for (k, val) in pairs {
            match v.iter_mut().find(|(k2, _)| *k2 == k) {
                Some(slot) => slot.1 = val,
                None => v.push((k, val)),
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        TagSet(v)
    }

    /// The value of a tag, if present.
    pub fn get(&self, key: &TagKey) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The pairs, sorted by key.
    pub fn pairs(&self) -> &[(TagKey, Arc<str>)] {
        &self.0
    }

    /// The pairs as `(key, value)` string views, sorted by key.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&TagKey, &str)> {
        self.0.iter().map(|(k, v)| (k, &**v))
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every tag of `filter` is present here with the same value.
    pub fn matches(&self, filter: &TagFilter) -> bool {
        filter
            .0
            .iter()
            .all(|(k, v)| self.get(k) == Some(v.as_str()))
    }
}

/// k6 sub-metric selection (`metric{tag:value,...}`): a series matches when
/// every listed tag is present with exactly that value; other tags are
/// ignored. The empty filter matches every series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TagFilter(pub Vec<(TagKey, String)>);

impl TagFilter {
    /// The filter that matches everything.
    pub fn new() -> TagFilter {
        TagFilter::default()
    }

    /// This filter plus one required tag.
    pub fn with(mut self, key: TagKey, value: impl Into<String>) -> TagFilter {
        self.0.push((key, value.into()));
        self
    }

    /// Whether the filter matches everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Index of an interned tag set: the tag half of a series key.
///
/// Only meaningful for the [`TagInterner`] that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagSetId(pub u32);

#[derive(Debug, Default)]
struct Inner {
    sets: Vec<TagSet>,
    ids: HashMap<TagSet, TagSetId>,
}

/// Interns tag sets into [`TagSetId`]s; one per run, shared by all workers.
///
/// This is a handle: clones share the same table. Every call takes a mutex,
/// so callers should cache the ids they use and only intern when a new tag
/// combination appears (per step and status, not per request).
#[derive(Debug, Default, Clone)]
pub struct TagInterner(Arc<Mutex<Inner>>);

impl TagInterner {
    /// A new, empty interner.
    pub fn new() -> TagInterner {
        TagInterner::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave the table
        // half-updated in a way that matters (push then insert), so keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The id of a tag set, interning it if it is new. Ids are dense, from 0.
    pub fn intern(&self, set: TagSet) -> TagSetId {
        let mut g = self.lock();
        if let Some(id) = g.ids.get(&set) {
            return *id;
        }
        // 4 billion distinct tag sets cannot fit in memory; saturate rather than panic.
        let id = TagSetId(u32::try_from(g.sets.len()).unwrap_or(u32::MAX));
        g.sets.push(set.clone());
        g.ids.insert(set, id);
        id
    }

    /// The tag set of an id (the empty set for an id this interner did not issue).
    pub fn resolve(&self, id: TagSetId) -> TagSet {
        self.lock()
            .sets
            .get(id.0 as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// Run `f` over the interned sets (indexed by id) under one lock: used to
    /// match many series against a filter without cloning tag sets.
    pub(crate) fn with_sets<R>(&self, f: impl FnOnce(&[TagSet]) -> R) -> R {
        f(&self.lock().sets)
    }

    /// How many distinct tag sets were interned.
    pub fn len(&self) -> usize {
        self.lock().sets.len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(TagKey, &str)]) -> TagSet {
        TagSet::new(pairs.iter().map(|(k, v)| (k.clone(), Arc::from(*v))))
    }

    #[test]
    fn order_does_not_matter_and_later_values_win() {
        let a = set(&[(TagKey::Status, "200"), (TagKey::Name, "x")]);
        let b = set(&[
            (TagKey::Name, "y"),
            (TagKey::Status, "200"),
            (TagKey::Name, "x"),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.get(&TagKey::Name), Some("x"));
        assert_eq!(a.get(&TagKey::Method), None);
        let i = TagInterner::new();
        assert_eq!(i.intern(a.clone()), i.intern(b));
        assert_eq!(i.len(), 1);
        assert_eq!(i.resolve(TagSetId(0)), a);
        assert!(i.resolve(TagSetId(9)).is_empty());
    }

    #[test]
    fn system_names_parse_to_system_keys() {
        for k in [
            TagKey::Scenario,
            TagKey::Name,
            TagKey::Method,
            TagKey::Status,
            TagKey::ExpectedResponse,
            TagKey::ErrorCode,
            TagKey::Check,
            TagKey::Group,
            TagKey::Proto,
        ] {
            assert_eq!(TagKey::parse(k.as_str()), k);
        }
        assert_eq!(TagKey::parse("region"), TagKey::Custom(Arc::from("region")));
    }

    #[test]
    fn filters_need_every_tag() {
        let s = set(&[(TagKey::Status, "200"), (TagKey::Name, "x")]);
        assert!(s.matches(&TagFilter::new()));
        assert!(s.matches(&TagFilter::new().with(TagKey::Name, "x")));
        assert!(
            !s.matches(
                &TagFilter::new()
                    .with(TagKey::Name, "x")
                    .with(TagKey::Status, "500")
            )
        );
        assert!(!s.matches(&TagFilter::new().with(TagKey::Method, "GET")));
    }
}
