//! Tags: every component carries the pipeline's tags, the provider's default tags and
//! `unifiedetl:pipeline = <name>`, which is how import and drift detection find a pipeline's
//! components.

use std::collections::BTreeMap;
use std::sync::RwLock;

/// The tag key that marks a component as part of a pipeline.
pub const PIPELINE_TAG: &str = "unifiedetl:pipeline";

/// The tags every component gets: provider defaults, then the pipeline's own tags (which win),
/// then the pipeline marker (which always wins).
pub fn effective(
    default_tags: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
    pipeline: &str,
) -> BTreeMap<String, String> {
    let mut all = default_tags.clone();
    all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    all.insert(PIPELINE_TAG.to_string(), pipeline.to_string());
    all
}

/// The provider block's `ignore_tags`: tags other tools manage.
#[derive(Debug, Clone, Default)]
pub struct Ignored {
    pub keys: Vec<String>,
    pub key_prefixes: Vec<String>,
}

static IGNORED: RwLock<Option<Ignored>> = RwLock::new(None);

/// Records `ignore_tags` (at configure time: each provider configuration runs in a plugin
/// process of its own).
pub fn ignore(ignored: Ignored) {
    if let Ok(mut guard) = IGNORED.write() {
        *guard = Some(ignored);
    }
}

/// Whether the tag `key` is one the pipeline leaves alone: AWS's own (`aws:`) or one
/// `ignore_tags` names.
pub fn is_ignored(key: &str) -> bool {
    if key.starts_with("aws:") {
        return true;
    }
    IGNORED.read().ok().is_some_and(|guard| {
        guard.as_ref().is_some_and(|i| {
            i.keys.iter().any(|k| k == key) || i.key_prefixes.iter().any(|p| key.starts_with(p))
        })
    })
}

/// `tags` as read from a component, without the ones the pipeline leaves alone.
pub fn managed(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| !is_ignored(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What to change to go from `current` tags to `wanted` tags (never removing a tag the pipeline
/// leaves alone).
#[derive(Debug, Default, PartialEq)]
pub struct TagDiff {
    /// Tags to add or overwrite.
    pub set: BTreeMap<String, String>,
    /// Tag keys to remove.
    pub remove: Vec<String>,
}

pub fn tag_diff(current: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> TagDiff {
    TagDiff {
        set: wanted
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        remove: current
            .keys()
            .filter(|k| !wanted.contains_key(*k) && !is_ignored(k))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pipeline_tags_override_defaults_and_the_marker_always_wins() {
        let all = effective(
            &map(&[("team", "core"), ("env", "dev")]),
            &map(&[("env", "prod"), (PIPELINE_TAG, "spoofed")]),
            "orders",
        );
        assert_eq!(
            all,
            map(&[("team", "core"), ("env", "prod"), (PIPELINE_TAG, "orders")])
        );
    }

    #[test]
    fn diff_sets_changed_and_removes_dropped_tags() {
        let diff = tag_diff(
            &map(&[("a", "1"), ("b", "2")]),
            &map(&[("a", "1"), ("b", "3"), ("c", "4")]),
        );
        assert_eq!(diff.set, map(&[("b", "3"), ("c", "4")]));
        assert!(diff.remove.is_empty());
        let diff = tag_diff(&map(&[("a", "1"), ("b", "2")]), &map(&[("a", "1")]));
        assert_eq!(diff.remove, vec!["b".to_string()]);
    }
}
