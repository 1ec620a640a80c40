//! Tags: every component carries the pipeline's tags, the provider's default tags and
//! `unifiedetl:pipeline = <name>`, which is how import and drift detection find a pipeline's
//! components.

use std::collections::BTreeMap;

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

/// What to change to go from `current` tags to `wanted` tags.
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
            .filter(|k| !wanted.contains_key(*k))
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
