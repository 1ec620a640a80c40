//! Planning the writes of one batch, and the partial batch response that reports what failed;
//! pure, so every rule here is unit-tested without DynamoDB.
//!
//! - **Collapse**: BatchWriteItem rejects a whole call that touches one key twice, and only the
//!   last change of a key within a batch matters, so the batch is reduced to the last row per
//!   key in Kinesis order — or, with a version attribute, to the row with the highest version
//!   (ties: the last). Each write remembers the earliest record merged into it.
//! - **Chunk**: at most 25 writes per call. 25 items of at most 400 KB stay below the 16 MB
//!   request limit, so the count is the only bound needed.
//! - **Respond**: Lambda checkpoints at the lowest sequence number reported and replays
//!   everything from there, so a failed write is reported with its earliest record's sequence
//!   number: reporting the last one would let Lambda skip the earlier changes of that key.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::event::streams::KinesisEventResponse;
use thiserror::Error;

use crate::decode::{Item, ItemKey, Row};
pub use crate::record::SequenceNumber;
use crate::version::{self, VersionAttribute};

/// BatchWriteItem's limit on requests per call.
pub const BATCH_WRITE_LIMIT: usize = 25;

/// One put, standing for every record of the batch with its key.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    /// The item's key.
    pub key: ItemKey,
    /// The item of the last record with this key.
    pub item: Item,
    /// The earliest record merged into this write: what to report if it fails.
    pub first_sequence: SequenceNumber,
    /// The record whose row is written.
    pub last_sequence: SequenceNumber,
    /// How many records of the batch this write stands for (for the metrics).
    pub records: usize,
}

/// Reduces decoded rows (in Kinesis order) to one write per key holding the last row, in order
/// of each key's first appearance.
pub fn collapse(rows: impl IntoIterator<Item = (SequenceNumber, Row)>) -> Vec<Write> {
    collapse_by(rows, |_, _| true)
}

/// Like [`collapse`], but each key keeps the row with the highest version (ties: the last in
/// Kinesis order); see [`version::replaces`]. Rows must have passed
/// [`VersionAttribute::check`].
pub fn collapse_versions(
    rows: impl IntoIterator<Item = (SequenceNumber, Row)>,
    version: &VersionAttribute,
) -> Vec<Write> {
    collapse_by(rows, |kept, candidate| {
        version::replaces(version.of(kept), version.of(candidate))
    })
}

/// One write per key; a later row replaces the kept one when `replaces(kept, later)`.
fn collapse_by(
    rows: impl IntoIterator<Item = (SequenceNumber, Row)>,
    replaces: impl Fn(&Item, &Item) -> bool,
) -> Vec<Write> {
    let rows = rows.into_iter();
    let mut index: HashMap<ItemKey, usize> = HashMap::with_capacity(rows.size_hint().0);
    let mut writes: Vec<Write> = Vec::with_capacity(rows.size_hint().0);
    for (sequence, row) in rows {
        match index.get(&row.key) {
            Some(&at) => {
                let write = &mut writes[at];
                write.records += 1;
                if sequence < write.first_sequence {
                    write.first_sequence = sequence.clone();
                }
                if replaces(&write.item, &row.item) {
                    write.item = row.item;
                    write.last_sequence = sequence;
                }
            }
            None => {
                index.insert(row.key.clone(), writes.len());
                writes.push(Write {
                    key: row.key,
                    item: row.item,
                    first_sequence: sequence.clone(),
                    last_sequence: sequence,
                    records: 1,
                });
            }
        }
    }
    writes
}

/// Splits writes into BatchWriteItem calls of at most `size` writes each.
pub fn chunk(writes: Vec<Write>, size: usize) -> Vec<Vec<Write>> {
    let size = size.max(1);
    let mut chunks = Vec::with_capacity(writes.len().div_ceil(size));
    let mut writes = writes.into_iter().peekable();
    while writes.peek().is_some() {
        chunks.push(writes.by_ref().take(size).collect());
    }
    chunks
}

/// A failure to report has no sequence number. Lambda would fail the whole batch for an empty
/// identifier anyway; saying so explicitly gives the reason in the logs.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a record that failed has an empty sequence number, so its failure cannot be reported item by item; failing the whole batch")]
pub struct EmptySequenceNumber;

/// Builds the partial batch response from the sequence numbers of everything that failed (the
/// earliest record of each failed write, and each poison record). Each is listed once, lowest
/// first; Lambda checkpoints at the lowest.
pub fn batch_response(
    failed: impl IntoIterator<Item = SequenceNumber>,
) -> Result<KinesisEventResponse, EmptySequenceNumber> {
    let failed: BTreeSet<SequenceNumber> = failed.into_iter().collect();
    if failed.iter().any(|sequence| sequence.as_str().is_empty()) {
        return Err(EmptySequenceNumber);
    }
    let mut response = KinesisEventResponse::default();
    response.set_failures(
        failed
            .into_iter()
            .map(|sequence| sequence.as_str().to_string()),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::KeyValue;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn seq(n: u64) -> SequenceNumber {
        // Realistic length: Kinesis sequence numbers are 56 digits today.
        SequenceNumber::new(format!("4962{n:052}"))
    }

    fn row(id: &str, version: &str) -> Row {
        Row {
            key: ItemKey {
                partition: KeyValue::N(id.to_string()),
                sort: None,
            },
            item: Item::from([
                ("id".to_string(), AttributeValue::N(id.to_string())),
                ("v".to_string(), AttributeValue::S(version.to_string())),
            ]),
        }
    }

    fn identifiers(response: &KinesisEventResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn collapse_keeps_the_last_row_per_key_and_the_first_sequence_number() {
        let writes = collapse([
            (seq(1), row("1", "a")),
            (seq(2), row("2", "a")),
            (seq(3), row("1", "b")),
            (seq(4), row("1", "c")),
            (seq(5), row("3", "a")),
        ]);
        assert_eq!(writes.len(), 3);
        assert_eq!(writes[0].item["v"], AttributeValue::S("c".into()));
        assert_eq!(writes[0].first_sequence, seq(1));
        assert_eq!(writes[0].last_sequence, seq(4));
        assert_eq!(writes[1].item["v"], AttributeValue::S("a".into()));
        assert_eq!(writes[1].first_sequence, seq(2));
        assert_eq!(writes[2].first_sequence, seq(5));
    }

    fn versioned(id: &str, version: AttributeValue, tag: &str) -> Row {
        let mut row = row(id, tag);
        row.item.insert("ts".to_string(), version);
        row
    }

    fn ts() -> VersionAttribute {
        VersionAttribute {
            name: "ts".into(),
            value_type: crate::decode::KeyType::StringOrNumber,
        }
    }

    #[test]
    fn versioned_collapse_keeps_the_highest_version_and_the_first_sequence_number() {
        let n = |text: &str| AttributeValue::N(text.to_string());
        let writes = collapse_versions(
            [
                (seq(1), versioned("1", n("2"), "b")),
                (seq(2), versioned("1", n("10"), "j")),
                (seq(3), versioned("2", n("7"), "x")),
                (seq(4), versioned("1", n("9.5"), "i")),
                (seq(5), versioned("2", n("7.0"), "y")),
                (seq(6), versioned("3", n("1"), "a")),
            ],
            &ts(),
        );
        assert_eq!(writes.len(), 3);
        assert_eq!(
            writes[0].item["v"],
            AttributeValue::S("j".into()),
            "10 > 9.5"
        );
        assert_eq!(writes[0].first_sequence, seq(1));
        assert_eq!(writes[0].last_sequence, seq(2));
        assert_eq!(writes[0].records, 3);
        assert_eq!(
            writes[1].item["v"],
            AttributeValue::S("y".into()),
            "ties: last"
        );
        assert_eq!(writes[1].last_sequence, seq(5));
        assert_eq!(writes[1].records, 2);
        assert_eq!(writes[2].records, 1);
    }

    #[test]
    fn versioned_collapse_orders_strings_by_bytes() {
        let s = |text: &str| AttributeValue::S(text.to_string());
        let writes = collapse_versions(
            [
                (seq(1), versioned("1", s("2024-05-02T00:00:00Z"), "new")),
                (seq(2), versioned("1", s("2024-05-01T23:59:59Z"), "old")),
            ],
            &ts(),
        );
        assert_eq!(writes[0].item["v"], AttributeValue::S("new".into()));
    }

    #[test]
    fn collapse_counts_the_records_of_each_write() {
        let writes = collapse([
            (seq(1), row("1", "a")),
            (seq(2), row("1", "b")),
            (seq(3), row("2", "a")),
        ]);
        let counts: Vec<usize> = writes.iter().map(|w| w.records).collect();
        assert_eq!(counts, [2, 1]);
    }

    #[test]
    fn collapse_of_distinct_keys_changes_nothing() {
        let rows: Vec<_> = (0..30)
            .map(|n| (seq(n), row(&n.to_string(), "a")))
            .collect();
        let writes = collapse(rows.clone());
        assert_eq!(writes.len(), 30);
        for (write, (sequence, row)) in writes.iter().zip(rows) {
            assert_eq!(write.key, row.key);
            assert_eq!(write.first_sequence, sequence);
        }
    }

    #[test]
    fn chunks_hold_at_most_25_writes_and_lose_none() {
        for count in [0, 1, 24, 25, 26, 50, 51, 500] {
            let writes = collapse((0..count).map(|n| (seq(n), row(&n.to_string(), "a"))));
            let chunks = chunk(writes, BATCH_WRITE_LIMIT);
            assert_eq!(chunks.len(), (count as usize).div_ceil(25), "{count}");
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 25));
            let total: usize = chunks.iter().map(Vec::len).sum();
            assert_eq!(total, count as usize);
        }
    }

    #[test]
    fn sequence_numbers_order_numerically() {
        assert!(SequenceNumber::new("9") < SequenceNumber::new("10"));
        assert!(SequenceNumber::new("123") < SequenceNumber::new("124"));
        assert!(seq(99) < seq(100));
    }

    #[test]
    fn response_lists_each_failure_once_lowest_first() {
        let response = batch_response([seq(30), seq(5), seq(100), seq(5)]).unwrap();
        assert_eq!(
            identifiers(&response),
            vec![seq(5).as_str(), seq(30).as_str(), seq(100).as_str()]
        );
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json["batchItemFailures"][0]["itemIdentifier"],
            seq(5).as_str()
        );
    }

    #[test]
    fn a_failed_collapsed_write_is_reported_at_its_earliest_record() {
        let writes = collapse([
            (seq(7), row("1", "a")),
            (seq(8), row("2", "a")),
            (seq(9), row("1", "b")),
        ]);
        let failed = writes
            .iter()
            .filter(|w| w.key.partition == KeyValue::N("1".into()));
        let response = batch_response(failed.map(|w| w.first_sequence.clone())).unwrap();
        assert_eq!(identifiers(&response), vec![seq(7).as_str()]);
    }

    #[test]
    fn nothing_failed_gives_an_empty_list() {
        let response = batch_response([]).unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"batchItemFailures":[]}"#
        );
    }

    #[test]
    fn an_empty_sequence_number_fails_the_whole_batch() {
        assert_eq!(
            batch_response([seq(1), SequenceNumber::new("")]),
            Err(EmptySequenceNumber)
        );
    }
}
