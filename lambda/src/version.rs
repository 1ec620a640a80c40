//! Stale-replay protection, the pure part: which version of a row is newer, and the condition
//! that makes DynamoDB refuse to replace a newer version with an older one.
//!
//! Versions compare as DynamoDB compares them, so that the choice made within a batch (keep the
//! highest version per key) and the one DynamoDB makes against the stored item agree: numbers
//! by value (`10` > `9.5`, `1.0` = `1`), strings by their UTF-8 bytes (`"2024-05-01T…"` ISO
//! timestamps sort correctly; `"10"` < `"9"` does too, which is why numbers should be numbers).
//! A number and a string never compare: DynamoDB's `<` is false across types.

use std::cmp::Ordering;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decode::{Decimal, Item, KeyType};
use crate::poison::PoisonReason;

/// The condition of every versioned put: write if the item is new, or was written without a
/// version (before versioning was turned on), or holds an older version. An equal version is
/// not newer, so a replay is a no-op.
pub const CONDITION: &str = "attribute_not_exists(#pk) OR attribute_not_exists(#v) OR #v < :v";

/// The attribute that orders the versions of a row (`VERSION_ATTRIBUTE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionAttribute {
    /// Attribute name, top level.
    pub name: String,
    /// `N` or `S` when configured with a type; otherwise either is accepted.
    pub value_type: KeyType,
}

impl VersionAttribute {
    /// Checks that a decoded item carries a usable version: present, not null, and a number or
    /// string (of the configured type, if one is configured).
    pub fn check(&self, item: &Item) -> Result<(), PoisonReason> {
        let found = match item.get(&self.name) {
            None | Some(AttributeValue::Null(_)) => {
                return Err(PoisonReason::VersionMissing {
                    name: self.name.clone(),
                })
            }
            Some(value) => value,
        };
        let expected = match (found, self.value_type) {
            (AttributeValue::N(_), KeyType::N | KeyType::StringOrNumber)
            | (AttributeValue::S(_), KeyType::S | KeyType::StringOrNumber) => return Ok(()),
            (_, KeyType::N) => "a number",
            (_, KeyType::S) => "a string",
            (_, KeyType::StringOrNumber) => "a number or a string",
        };
        Err(PoisonReason::VersionWrongType {
            name: self.name.clone(),
            expected,
            found: match found {
                AttributeValue::S(_) => "string",
                AttributeValue::N(_) => "number",
                AttributeValue::Bool(_) => "boolean",
                AttributeValue::M(_) => "object",
                AttributeValue::L(_) => "array",
                _ => "other",
            },
        })
    }

    /// The version held by `item`, if it has one (it has after [`VersionAttribute::check`]).
    pub fn of<'a>(&self, item: &'a Item) -> Option<&'a AttributeValue> {
        item.get(&self.name)
    }

    /// The names and values that go with [`CONDITION`] for a put of a row whose version is
    /// `version`, on a table whose partition key is `partition_key`.
    pub fn condition_parameters(
        &self,
        partition_key: &str,
        version: &AttributeValue,
    ) -> (HashMap<String, String>, HashMap<String, AttributeValue>) {
        // Placeholders for both names: either may be a DynamoDB reserved word (`version` is).
        let names = HashMap::from([
            ("#pk".to_string(), partition_key.to_string()),
            ("#v".to_string(), self.name.clone()),
        ]);
        let values = HashMap::from([(":v".to_string(), version.clone())]);
        (names, values)
    }
}

/// Compares two versions as DynamoDB does; `None` when they cannot be compared (a number and a
/// string, or anything else).
pub fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::N(a), AttributeValue::N(b)) => {
            Some(Decimal::parse(a)?.cmp(&Decimal::parse(b)?))
        }
        (AttributeValue::S(a), AttributeValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    }
}

/// Whether a row with version `candidate`, later in Kinesis order, replaces the one kept so far
/// (version `kept`) when a batch is collapsed: yes unless it is older. Ties go to the later
/// record, as without versions; so do versions that cannot be compared (mixed types, only
/// possible with an untyped `VERSION_ATTRIBUTE`), leaving DynamoDB's condition to judge.
pub fn replaces(kept: Option<&AttributeValue>, candidate: Option<&AttributeValue>) -> bool {
    match (kept, candidate) {
        (Some(kept), Some(candidate)) => compare(candidate, kept) != Some(Ordering::Less),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> AttributeValue {
        AttributeValue::N(text.to_string())
    }

    fn s(text: &str) -> AttributeValue {
        AttributeValue::S(text.to_string())
    }

    fn attribute(value_type: KeyType) -> VersionAttribute {
        VersionAttribute {
            name: "version".into(),
            value_type,
        }
    }

    fn item(version: Option<AttributeValue>) -> Item {
        let mut item = Item::from([("id".to_string(), n("1"))]);
        if let Some(version) = version {
            item.insert("version".into(), version);
        }
        item
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(compare(&n("10"), &n("9.5")), Some(Ordering::Greater));
        assert_eq!(compare(&n("1.0"), &n("1")), Some(Ordering::Equal));
        assert_eq!(compare(&n("10E-1"), &n("1.00")), Some(Ordering::Equal));
        assert_eq!(compare(&n("-2"), &n("-10")), Some(Ordering::Greater));
        assert_eq!(compare(&n("-0.5"), &n("0")), Some(Ordering::Less));
        assert_eq!(compare(&n("0"), &n("-0.0")), Some(Ordering::Equal));
        assert_eq!(compare(&n("1.51"), &n("1.5")), Some(Ordering::Greater));
        assert_eq!(compare(&n("1.9"), &n("2")), Some(Ordering::Less));
        assert_eq!(
            compare(
                &n("1700000000123456789012345678901234567"),
                &n("1700000000123456789012345678901234566")
            ),
            Some(Ordering::Greater),
            "beyond f64 precision"
        );
        assert_eq!(compare(&n("1e-130"), &n("0")), Some(Ordering::Greater));
    }

    #[test]
    fn strings_compare_by_utf8_bytes() {
        assert_eq!(
            compare(&s("2024-05-01T17:11:49.973Z"), &s("2024-05-01T09:00:00Z")),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&s("10"), &s("9")), Some(Ordering::Less));
        assert_eq!(compare(&s("Z"), &s("a")), Some(Ordering::Less));
        assert_eq!(compare(&s("é"), &s("z")), Some(Ordering::Greater));
        assert_eq!(compare(&s("a"), &s("a")), Some(Ordering::Equal));
    }

    #[test]
    fn numbers_and_strings_do_not_compare() {
        assert_eq!(compare(&n("1"), &s("1")), None);
        assert_eq!(compare(&AttributeValue::Bool(true), &n("1")), None);
    }

    #[test]
    fn later_rows_replace_unless_older() {
        assert!(replaces(Some(&n("1")), Some(&n("2"))));
        assert!(replaces(Some(&n("2")), Some(&n("2"))), "ties: last wins");
        assert!(!replaces(Some(&n("3")), Some(&n("2"))));
        assert!(replaces(Some(&n("3")), Some(&s("2"))), "incomparable");
        assert!(replaces(None, Some(&n("2"))));
    }

    #[test]
    fn a_missing_or_null_version_is_poison() {
        for version in [None, Some(AttributeValue::Null(true))] {
            assert_eq!(
                attribute(KeyType::StringOrNumber).check(&item(version)),
                Err(PoisonReason::VersionMissing {
                    name: "version".into()
                })
            );
        }
    }

    #[test]
    fn versions_of_the_wrong_type_are_poison() {
        let untyped = attribute(KeyType::StringOrNumber);
        untyped.check(&item(Some(n("3")))).unwrap();
        untyped.check(&item(Some(s("2024")))).unwrap();
        for bad in [
            AttributeValue::Bool(true),
            AttributeValue::M(Default::default()),
            AttributeValue::L(vec![]),
        ] {
            assert_eq!(
                untyped.check(&item(Some(bad))).unwrap_err().kind(),
                "version_wrong_type"
            );
        }
        assert_eq!(
            attribute(KeyType::N).check(&item(Some(s("3")))),
            Err(PoisonReason::VersionWrongType {
                name: "version".into(),
                expected: "a number",
                found: "string"
            })
        );
        assert_eq!(
            attribute(KeyType::S)
                .check(&item(Some(n("3"))))
                .unwrap_err()
                .kind(),
            "version_wrong_type"
        );
    }

    #[test]
    fn the_condition_names_both_attributes_through_placeholders() {
        let (names, values) = attribute(KeyType::N).condition_parameters("orderId", &n("42"));
        assert_eq!(names["#pk"], "orderId");
        assert_eq!(names["#v"], "version");
        assert_eq!(values[":v"], n("42"));
        for placeholder in ["#pk", "#v", ":v"] {
            assert!(CONDITION.contains(placeholder), "{placeholder}");
        }
        assert_eq!(names.len(), 2);
        assert_eq!(values.len(), 1);
    }
}
