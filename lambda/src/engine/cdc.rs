//! One DMS record (MessageFormat json) → the change it describes, in the correlation's terms.
//!
//! `{"data": {...row...}, "metadata": {"operation": "insert", "table-name": "order", ...}}`.
//! Control records (`record-type` control, or a `control` object) and changes to tables or
//! schemas outside the correlation are ignored; so are operations this engine does not know
//! (counted, never an error: DMS adds operations over time). Everything else that cannot be
//! used is poison, with its reason.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::decode::{self, Decimal, Item, KeyValue};
use crate::engine::spec::Correlation;
use crate::poison::PoisonReason;

/// Which table of the correlation a change belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Parent,
    /// Index into the correlation's `children`.
    Child(usize),
}

/// What happened to the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `load`, `insert` or `update`: the row now has this image.
    Upsert,
    /// `delete`: the row is gone (the image is its last one).
    Delete,
}

/// One change to a row of the correlation.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub role: Role,
    pub operation: Operation,
    /// The parent key's value (the correlation group).
    pub parent_key: KeyValue,
    /// The child key's value (children only).
    pub child_key: Option<KeyValue>,
    /// The row image.
    pub row: Item,
    /// Orders the changes of one row: see [`version`].
    pub version: String,
}

/// What a record turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    Change(Change),
    /// A control record, another table or schema, or an unknown operation: skipped.
    Ignored(&'static str),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    control: Option<&'a RawValue>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    operation: Option<String>,
    #[serde(rename = "record-type", default)]
    record_type: Option<String>,
    #[serde(rename = "schema-name", default)]
    schema_name: Option<String>,
    #[serde(rename = "table-name", default)]
    table_name: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "commit-timestamp", default)]
    commit_timestamp: Option<String>,
}

/// Parses one record's payload; `sequence_number` is the record's Kinesis sequence number.
pub fn parse(
    payload: &[u8],
    sequence_number: &str,
    correlation: &Correlation,
) -> Result<Parsed, PoisonReason> {
    let text = std::str::from_utf8(payload)
        .map_err(|err| PoisonReason::NotJson(format!("not UTF-8: {err}")))?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|err| {
        if text.trim_start().starts_with('{') {
            PoisonReason::NotCdc(format!("not a DMS record: {err}"))
        } else {
            PoisonReason::NotJson(err.to_string())
        }
    })?;
    let metadata = envelope
        .metadata
        .ok_or_else(|| PoisonReason::NotCdc("not a DMS record: `metadata` is missing".into()))?;
    if envelope.control.is_some() || metadata.record_type.as_deref() == Some("control") {
        return Ok(Parsed::Ignored("control"));
    }
    if let (Some(wanted), Some(schema)) = (&correlation.schema, &metadata.schema_name) {
        if wanted != schema {
            return Ok(Parsed::Ignored("other_schema"));
        }
    }
    let Some(table) = metadata.table_name.as_deref() else {
        return Err(PoisonReason::NotCdc(
            "not a DMS record: `metadata.table-name` is missing".into(),
        ));
    };
    let role = if table == correlation.parent.table {
        Role::Parent
    } else if let Some(index) = correlation.children.iter().position(|c| c.table == table) {
        Role::Child(index)
    } else {
        return Ok(Parsed::Ignored("other_table"));
    };
    let operation = match metadata.operation.as_deref() {
        Some("load" | "insert" | "update") => Operation::Upsert,
        Some("delete") => Operation::Delete,
        _ => return Ok(Parsed::Ignored("unknown_operation")),
    };
    let data = envelope
        .data
        .ok_or_else(|| PoisonReason::NotCdc("not a DMS record: `data` is missing".into()))?;
    let row = decode::object_item(data.get())?;

    let (parent_column, child_column) = match role {
        Role::Parent => (correlation.parent.key.as_str(), None),
        Role::Child(index) => {
            let child = &correlation.children[index];
            (child.parent_key.as_str(), Some(child.key.as_str()))
        }
    };
    let parent_key = key_value(&row, parent_column)?;
    let child_key = child_column
        .map(|column| key_value(&row, column))
        .transpose()?;
    let committed = metadata
        .commit_timestamp
        .as_deref()
        .or(metadata.timestamp.as_deref());
    Ok(Parsed::Change(Change {
        role,
        operation,
        parent_key,
        child_key,
        row,
        version: version(committed, sequence_number)?,
    }))
}

/// A key column's value, as a key: a number (canonical, so `1` and `1.0` are one key) or a
/// string. DECIMAL columns may come as either, so a numeric string stays a string key: the
/// producer is consistent with itself.
pub fn key_value(row: &Item, column: &str) -> Result<KeyValue, PoisonReason> {
    match row.get(column) {
        Some(AttributeValue::N(text)) => Decimal::parse(text)
            .map(|number| KeyValue::N(number.canonical()))
            .ok_or_else(|| PoisonReason::KeyWrongType {
                name: column.to_string(),
                expected: "a number or a string",
                found: "number",
            }),
        Some(AttributeValue::S(text)) if !text.is_empty() => Ok(KeyValue::S(text.clone())),
        None | Some(AttributeValue::Null(_)) => Err(PoisonReason::KeyMissing {
            name: column.to_string(),
        }),
        Some(_) => Err(PoisonReason::KeyWrongType {
            name: column.to_string(),
            expected: "a number or a string",
            found: "other",
        }),
    }
}

/// The version of a change: its commit time (DMS `commit-timestamp` with transaction details,
/// else `timestamp`) in microseconds, then the Kinesis sequence number, both zero-padded so that
/// versions compare as strings. One row's changes are committed in order and land on one shard
/// in that order, so a later change always has a greater version; a full-load image read after
/// a change was committed carries the later time and wins over that change's CDC record.
pub fn version(committed: Option<&str>, sequence_number: &str) -> Result<String, PoisonReason> {
    let micros = match committed {
        None => 0,
        Some(text) => parse_timestamp(text).ok_or_else(|| {
            PoisonReason::NotCdc(format!(
                "metadata timestamp {:?} is not an ISO-8601 time",
                text.chars().take(40).collect::<String>()
            ))
        })?,
    };
    if sequence_number.is_empty()
        || sequence_number.len() > 128
        || !sequence_number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(PoisonReason::NotCdc(
            "the Kinesis sequence number is not a decimal number".into(),
        ));
    }
    Ok(format!("{micros:020}.{sequence_number:0>128}"))
}

/// Microseconds since the epoch of `2020-05-01T17:11:49.973456Z` (or with an offset; DMS
/// without a zone is read as UTC, as DMS writes UTC).
fn parse_timestamp(text: &str) -> Option<u64> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&format!("{text}Z")))
        .ok()?;
    u64::try_from(parsed.timestamp_micros()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correlation() -> Correlation {
        serde_json::from_str(
            r#"{"schema": "orders",
                "parent": {"table": "order", "key": "orderId"},
                "children": [{"table": "order_item", "parent_key": "orderId", "key": "itemId"}],
                "columns": []}"#,
        )
        .unwrap()
    }

    fn record(operation: &str, table: &str, data: &str) -> String {
        format!(
            r#"{{"data": {data}, "metadata": {{"timestamp": "2024-05-01T09:00:13.137000Z",
                "record-type": "data", "operation": "{operation}", "partition-key-type": "primary-key",
                "schema-name": "orders", "table-name": "{table}", "transaction-id": 8589934605}}}}"#
        )
    }

    #[test]
    fn inserts_updates_loads_and_deletes() {
        let item = record(
            "insert",
            "order_item",
            r#"{"orderId": 10000001, "itemId": 999900001, "itemQuantity": 10, "itemAmount": 100.00}"#,
        );
        let Parsed::Change(change) = parse(item.as_bytes(), "49", &correlation()).unwrap() else {
            panic!("not a change");
        };
        assert_eq!(change.role, Role::Child(0));
        assert_eq!(change.operation, Operation::Upsert);
        assert_eq!(change.parent_key, KeyValue::N("10000001E7".into()));
        assert_eq!(change.child_key, Some(KeyValue::N("999900001E8".into())));
        assert_eq!(change.row["itemAmount"], AttributeValue::N("100.00".into()));
        assert!(change.version.starts_with("00001714554013137000."));
        for (operation, expected) in [
            ("load", Operation::Upsert),
            ("update", Operation::Upsert),
            ("delete", Operation::Delete),
        ] {
            let order = record(operation, "order", r#"{"orderId": 10000001}"#);
            let Parsed::Change(change) = parse(order.as_bytes(), "1", &correlation()).unwrap()
            else {
                panic!("{operation}");
            };
            assert_eq!((change.role, change.operation), (Role::Parent, expected));
        }
    }

    #[test]
    fn control_records_other_tables_and_unknown_operations_are_ignored() {
        let c = correlation();
        let control = r#"{"control": {"table-def": {}}, "metadata": {"record-type": "control",
            "operation": "create-table", "schema-name": "orders", "table-name": "order"}}"#;
        assert_eq!(
            parse(control.as_bytes(), "1", &c).unwrap(),
            Parsed::Ignored("control")
        );
        let other = record("insert", "order_detail", r#"{"orderId": 1}"#);
        assert_eq!(
            parse(other.as_bytes(), "1", &c).unwrap(),
            Parsed::Ignored("other_table")
        );
        let renamed = record("rename-column", "order", r#"{"orderId": 1}"#);
        assert_eq!(
            parse(renamed.as_bytes(), "1", &c).unwrap(),
            Parsed::Ignored("unknown_operation")
        );
        let schema =
            record("insert", "order", r#"{"orderId": 1}"#).replace("\"orders\"", "\"other\"");
        assert_eq!(
            parse(schema.as_bytes(), "1", &c).unwrap(),
            Parsed::Ignored("other_schema")
        );
    }

    #[test]
    fn unusable_records_are_poison_with_a_reason() {
        let c = correlation();
        assert_eq!(parse(b"nope", "1", &c).unwrap_err().kind(), "not_json");
        assert_eq!(parse(b"{\"a\": 1}", "1", &c).unwrap_err().kind(), "not_cdc");
        let no_key = record("insert", "order_item", r#"{"orderId": 1}"#);
        assert_eq!(
            parse(no_key.as_bytes(), "1", &c).unwrap_err(),
            PoisonReason::KeyMissing {
                name: "itemId".into()
            }
        );
        let bad_time = record("insert", "order", r#"{"orderId": 1}"#).replace("2024-05-01T", "x");
        assert_eq!(
            parse(bad_time.as_bytes(), "1", &c).unwrap_err().kind(),
            "not_cdc"
        );
    }

    #[test]
    fn versions_order_by_commit_time_then_sequence_number() {
        let v = |time: &str, seq: &str| version(Some(time), seq).unwrap();
        assert!(v("2024-05-01T09:00:00.000001Z", "9") > v("2024-05-01T09:00:00Z", "10"));
        assert!(v("2024-05-01T09:00:00Z", "10") > v("2024-05-01T09:00:00Z", "9"));
        assert_eq!(
            v("2024-05-01T09:00:00Z", "7"),
            v("2024-05-01T09:00:00.000Z", "7")
        );
        assert!(version(None, "").is_err());
    }
}
