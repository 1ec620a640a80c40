//! Records that can never be written, whatever the number of retries: the payload itself is at
//! fault. They are kept apart from write failures (which a retry may cure): a poison record goes
//! to the dead-letter bucket (see [`crate::dead_letter`]) instead of holding back its shard.
//!
//! This module is the pure part: the reasons, and the dead-letter document and object key built
//! for a poison record.

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::record::SequenceNumber;

/// A Kinesis record that cannot be turned into a DynamoDB item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poison {
    /// The record's position in the batch, to find it (and its payload) again.
    pub index: usize,
    /// The record's Kinesis sequence number.
    pub sequence_number: SequenceNumber,
    /// Why the record cannot be processed.
    pub reason: PoisonReason,
}

/// Why a record cannot be processed. The messages never quote the payload: rows may hold
/// personal data, and logs are read more widely than the table.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PoisonReason {
    /// The payload is not UTF-8 JSON (or has trailing bytes after the value).
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    /// The payload is JSON, but a row must be an object.
    #[error("payload is a JSON {found}, not an object")]
    NotAnObject {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A key attribute is absent (or null).
    #[error("key attribute `{name}` is missing")]
    KeyMissing {
        /// The key attribute's name.
        name: String,
    },
    /// A key attribute has a type the table's key cannot hold.
    #[error("key attribute `{name}` must be {expected}, but is a JSON {found}")]
    KeyWrongType {
        /// The key attribute's name.
        name: String,
        /// What the key schema requires.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A string key attribute is empty or longer than DynamoDB allows.
    #[error("key attribute `{name}` is {len} bytes long; DynamoDB accepts 1 to {max}")]
    KeyLength {
        /// The key attribute's name.
        name: String,
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit for this kind of key.
        max: usize,
    },
    /// A number has more than 38 significant digits or lies outside 1E-130 ..= 9.99E+125.
    #[error("attribute `{attribute}` holds a number DynamoDB cannot store (over 38 significant digits or outside 1E-130..1E+126)")]
    NumberOutOfRange {
        /// The top-level attribute containing the number.
        attribute: String,
    },
    /// Maps and lists nest deeper than DynamoDB's 32 levels.
    #[error("attribute `{attribute}` nests deeper than DynamoDB's {max} levels")]
    TooDeep {
        /// The top-level attribute containing the nesting.
        attribute: String,
        /// DynamoDB's limit.
        max: usize,
    },
    /// The version attribute (`VERSION_ATTRIBUTE`) is absent or null.
    #[error("version attribute `{name}` is missing")]
    VersionMissing {
        /// The version attribute's name.
        name: String,
    },
    /// The version attribute is neither a number nor a string, or not of the configured type.
    #[error("version attribute `{name}` must be {expected}, but is a JSON {found}")]
    VersionWrongType {
        /// The version attribute's name.
        name: String,
        /// What the configuration requires.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// The payload is JSON but not a change record as DMS writes them (analytics engine).
    #[error("{0}")]
    NotCdc(String),
    /// The item would exceed DynamoDB's 400 KB item size limit.
    #[error("item is about {size} bytes, over DynamoDB's {max}-byte item limit")]
    ItemTooLarge {
        /// The item's size as DynamoDB counts it (estimated).
        size: usize,
        /// DynamoDB's limit.
        max: usize,
    },
}

impl PoisonReason {
    /// A stable, machine-friendly name for the reason: the `reason` log field and the
    /// dead letter's `reason.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            PoisonReason::NotJson(_) => "not_json",
            PoisonReason::NotAnObject { .. } => "not_an_object",
            PoisonReason::KeyMissing { .. } => "key_missing",
            PoisonReason::KeyWrongType { .. } => "key_wrong_type",
            PoisonReason::KeyLength { .. } => "key_length",
            PoisonReason::NumberOutOfRange { .. } => "number_out_of_range",
            PoisonReason::TooDeep { .. } => "too_deep",
            PoisonReason::ItemTooLarge { .. } => "item_too_large",
            PoisonReason::VersionMissing { .. } => "version_missing",
            PoisonReason::VersionWrongType { .. } => "version_wrong_type",
            PoisonReason::NotCdc(_) => "not_cdc",
        }
    }
}

/// The object key of a poison record's dead letter:
/// `<prefix><yyyy>/<mm>/<dd>/<shardId>/<sequenceNumber>.json`, dated by the record's arrival in
/// Kinesis (UTC). The key depends on the record alone, so a record dead-lettered again (when
/// Lambda replays its batch) overwrites its own dead letter instead of adding a second one.
pub fn dead_letter_key(prefix: &str, record: &KinesisEventRecord) -> String {
    let arrival = record.kinesis.approximate_arrival_timestamp.0;
    format!(
        "{prefix}{}/{}/{}.json",
        arrival.format("%Y/%m/%d"),
        key_segment(shard_id(record), "unknown-shard"),
        key_segment(Some(&record.kinesis.sequence_number), "unknown-sequence"),
    )
}

/// The shard a record came from: Lambda's `eventID` is `<shardId>:<sequenceNumber>`.
pub fn shard_id(record: &KinesisEventRecord) -> Option<&str> {
    let event_id = record.event_id.as_deref()?;
    event_id
        .split_once(':')
        .map_or(Some(event_id), |(shard, _)| Some(shard))
        .filter(|shard| !shard.is_empty())
}

/// A key segment as Kinesis spells shard ids and sequence numbers, or `fallback` for anything
/// else (a `/` would change the key's layout).
fn key_segment<'a>(value: Option<&'a str>, fallback: &'a str) -> &'a str {
    value
        .filter(|v| {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && !v.starts_with('.')
        })
        .unwrap_or(fallback)
}

/// The JSON document written for a poison record: why it failed, where it came from, and the
/// original payload (base64, and as text when it is UTF-8), enough to fix and replay it.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    /// Bumped if a field changes meaning or goes away.
    pub schema_version: u32,
    /// Why the record could not be written.
    pub reason: DeadLetterReason,
    /// The record's Kinesis sequence number.
    pub sequence_number: &'a str,
    /// The record's Kinesis partition key.
    pub partition_key: &'a str,
    /// The stream's ARN.
    pub event_source_arn: Option<&'a str>,
    /// The shard the record was read from.
    pub shard_id: Option<&'a str>,
    /// When the record reached Kinesis (RFC 3339, UTC).
    pub approximate_arrival_timestamp: String,
    /// The Lambda request id of the invocation that dead-lettered it, to find its logs.
    pub request_id: &'a str,
    /// When the dead letter was written (RFC 3339, UTC).
    pub dead_lettered_at: String,
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    /// The payload as text, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_text: Option<&'a str>,
}

/// [`DeadLetter::reason`].
#[derive(Debug, Serialize)]
pub struct DeadLetterReason {
    /// [`PoisonReason::kind`].
    pub kind: &'static str,
    /// The reason's message.
    pub message: String,
}

impl<'a> DeadLetter<'a> {
    /// The dead letter of `record`, found to be `poison` by the invocation `request_id`.
    pub fn new(
        record: &'a KinesisEventRecord,
        poison: &Poison,
        request_id: &'a str,
        now: DateTime<Utc>,
    ) -> DeadLetter<'a> {
        let data = &record.kinesis.data.0;
        let rfc3339 = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Millis, true);
        DeadLetter {
            schema_version: 1,
            reason: DeadLetterReason {
                kind: poison.reason.kind(),
                message: poison.reason.to_string(),
            },
            sequence_number: &record.kinesis.sequence_number,
            partition_key: &record.kinesis.partition_key,
            event_source_arn: record.event_source_arn.as_deref(),
            shard_id: shard_id(record),
            approximate_arrival_timestamp: rfc3339(record.kinesis.approximate_arrival_timestamp.0),
            request_id,
            dead_lettered_at: rfc3339(now),
            payload: base64::engine::general_purpose::STANDARD.encode(data),
            payload_text: std::str::from_utf8(data).ok(),
        }
    }

    /// The document's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Only strings and numbers: serialising cannot fail.
        serde_json::to_vec(self).expect("a dead letter serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(data: &[u8]) -> KinesisEventRecord {
        let mut record = KinesisEventRecord::default();
        record.event_id = Some(
            "shardId-000000000003:49590338271490256608559692538361571095921575989136588001".into(),
        );
        record.event_source_arn =
            Some("arn:aws:kinesis:us-east-1:123456789012:stream/order-enriched".into());
        record.kinesis.sequence_number =
            "49590338271490256608559692538361571095921575989136588001".into();
        record.kinesis.partition_key = "10000001".into();
        record.kinesis.data.0 = data.to_vec();
        record.kinesis.approximate_arrival_timestamp.0 =
            Utc.timestamp_millis_opt(1_714_583_509_973).unwrap();
        record
    }

    fn poison(record: &KinesisEventRecord, reason: PoisonReason) -> Poison {
        Poison {
            index: 0,
            sequence_number: SequenceNumber::new(record.kinesis.sequence_number.clone()),
            reason,
        }
    }

    #[test]
    fn the_key_is_dated_by_arrival_and_named_by_shard_and_sequence_number() {
        let record = record(b"{}");
        assert_eq!(
            dead_letter_key("dead-letter/", &record),
            "dead-letter/2024/05/01/shardId-000000000003/\
             49590338271490256608559692538361571095921575989136588001.json"
        );
        assert_eq!(
            dead_letter_key("", &record),
            "2024/05/01/shardId-000000000003/\
             49590338271490256608559692538361571095921575989136588001.json"
        );
    }

    #[test]
    fn odd_shard_ids_and_sequence_numbers_cannot_change_the_key_layout() {
        let mut odd = record(b"{}");
        odd.event_id = Some("../x/y:1".into());
        odd.kinesis.sequence_number = "1/2".into();
        assert_eq!(
            dead_letter_key("dl/", &odd),
            "dl/2024/05/01/unknown-shard/unknown-sequence.json"
        );
        odd.event_id = None;
        assert_eq!(shard_id(&odd), None);
        odd.event_id = Some("shardId-000000000001".into());
        assert_eq!(shard_id(&odd), Some("shardId-000000000001"));
    }

    #[test]
    fn the_document_carries_reason_origin_and_payload() {
        let record = record(br#"{"orderId": "10000001"}"#);
        let poison = poison(
            &record,
            PoisonReason::KeyWrongType {
                name: "orderId".into(),
                expected: "a number",
                found: "string",
            },
        );
        let now = Utc.timestamp_millis_opt(1_714_600_000_000).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&DeadLetter::new(&record, &poison, "req-1", now).to_json())
                .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schema_version": 1,
                "reason": {
                    "kind": "key_wrong_type",
                    "message": "key attribute `orderId` must be a number, but is a JSON string",
                },
                "sequence_number": "49590338271490256608559692538361571095921575989136588001",
                "partition_key": "10000001",
                "event_source_arn": "arn:aws:kinesis:us-east-1:123456789012:stream/order-enriched",
                "shard_id": "shardId-000000000003",
                "approximate_arrival_timestamp": "2024-05-01T17:11:49.973Z",
                "request_id": "req-1",
                "dead_lettered_at": "2024-05-01T21:46:40.000Z",
                "payload": "eyJvcmRlcklkIjogIjEwMDAwMDAxIn0=",
                "payload_text": "{\"orderId\": \"10000001\"}",
            })
        );
    }

    #[test]
    fn payloads_that_are_not_utf8_are_kept_in_base64_only() {
        let record = record(b"\xff\xfe{");
        let poison = poison(&record, PoisonReason::NotJson("not UTF-8".into()));
        let json: serde_json::Value = serde_json::from_slice(
            &DeadLetter::new(&record, &poison, "req-2", Utc::now()).to_json(),
        )
        .unwrap();
        assert_eq!(json["payload"], "//57");
        assert!(json.get("payload_text").is_none(), "{json}");
        assert_eq!(json["reason"]["kind"], "not_json");
    }
}
