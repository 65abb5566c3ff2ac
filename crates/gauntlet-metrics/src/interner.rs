//! Tag sets, interned to small ids so series keys are two integers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A tag name: k6's system tags, typed; anything else is `Custom`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TagKey {
    /// Scenario name.
    Scenario,
    /// Request (step) name.
    Name,
    /// HTTP method.
    Method,
    /// Response status.
    Status,
    /// Whether the status was expected.
    ExpectedResponse,
    /// Error kind.
    ErrorCode,
    /// Check name.
    Check,
    /// Operation (group) name.
    Group,
    /// Protocol (`HTTP/1.1`, `HTTP/2`).
    Proto,
    /// A user-defined tag.
    Custom(Arc<str>),
}

impl TagKey {
    /// The tag's name as users write it.
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

    /// Parse a tag name.
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

/// A set of tags, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TagSet(Vec<(TagKey, Arc<str>)>);

impl TagSet {
    /// Build from pairs (later duplicates win).
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

    /// The value of a tag.
    pub fn get(&self, key: &TagKey) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// The pairs.
    pub fn pairs(&self) -> &[(TagKey, Arc<str>)] {
        &self.0
    }
}

/// Index of an interned tag set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagSetId(pub u32);

#[derive(Debug, Default)]
struct Inner {
    sets: Vec<TagSet>,
    ids: HashMap<TagSet, TagSetId>,
}

/// Interns tag sets; shared by all workers of a run. It is only locked when
/// a new combination appears; callers cache the ids they use.
#[derive(Debug, Default, Clone)]
pub struct TagInterner(Arc<Mutex<Inner>>);

impl TagInterner {
    /// A new interner.
    pub fn new() -> TagInterner {
        TagInterner::default()
    }

    /// The id of a tag set, interning it if new.
    pub fn intern(&self, set: TagSet) -> TagSetId {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = g.ids.get(&set) {
            return *id;
        }
        let id = TagSetId(g.sets.len() as u32);
        g.sets.push(set.clone());
        g.ids.insert(set, id);
        id
    }

    /// The tag set of an id (empty for an unknown id).
    pub fn resolve(&self, id: TagSetId) -> TagSet {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.sets.get(id.0 as usize).cloned().unwrap_or_default()
    }
}
