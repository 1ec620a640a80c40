//! Optional: every output row the engine writes is also put on a Kinesis stream (the pipeline's
//! enriched stream), for other consumers.
//!
//! A written row is published as the row itself, one JSON object per record (numbers with
//! their exact text), partitioned by the sink's partition key so that one key's rows stay in
//! order on one shard; a deleted row as its key attributes plus `"_deleted": true`. Delivery
//! is at least once: Lambda retrying a batch publishes its rows again.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use tokio::time::Instant;

use crate::decode::{Item, KeySchema};
use crate::sink::Backoff;

/// The stream (name or ARN) the rows are published to.
pub const ENRICHED_STREAM: &str = "ENRICHED_STREAM";
/// PutRecords takes at most 500 records.
const MAX_RECORDS: usize = 500;

/// An output row as written to the sink.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Put: the whole row.
    Row(Item),
    /// Deleted: the row's key.
    Deleted(Item),
}

/// Publishes rows to one stream.
#[derive(Clone, Debug)]
pub struct Publisher {
    client: aws_sdk_kinesis::Client,
    stream: String,
}

impl Publisher {
    pub fn new(client: aws_sdk_kinesis::Client, stream: String) -> Publisher {
        Publisher { client, stream }
    }

    /// Puts every row on the stream, retrying what fails until `budget_end`.
    pub async fn publish(
        &self,
        rows: &[Output],
        keys: &KeySchema,
        budget_end: Instant,
    ) -> Result<(), String> {
        let mut pending: Vec<PutRecordsRequestEntry> = rows
            .iter()
            .map(|row| entry(row, keys))
            .collect::<Result<_, _>>()?;
        let mut backoff = Backoff::new(budget_end);
        while !pending.is_empty() {
            let batch: Vec<PutRecordsRequestEntry> =
                pending.drain(..pending.len().min(MAX_RECORDS)).collect();
            let mut request = self.client.put_records().set_records(Some(batch.clone()));
            request = if self.stream.starts_with("arn:") {
                request.stream_arn(&self.stream)
            } else {
                request.stream_name(&self.stream)
            };
            let error = match request.send().await {
                Ok(output) if output.failed_record_count().unwrap_or(0) == 0 => continue,
                Ok(output) => {
                    // Entries come back in request order: keep the failed ones.
                    let failed: Vec<PutRecordsRequestEntry> = output
                        .records()
                        .iter()
                        .zip(batch)
                        .filter(|(result, _)| result.error_code().is_some())
                        .map(|(_, entry)| entry)
                        .collect();
                    let message = format!("{} records not accepted", failed.len());
                    pending.extend(failed);
                    message
                }
                Err(err) => {
                    let retryable = err.code().is_none_or(|code| {
                        matches!(
                            code,
                            "ProvisionedThroughputExceededException"
                                | "LimitExceededException"
                                | "InternalFailure"
                                | "ServiceUnavailable"
                                | "KMSThrottlingException"
                        )
                    });
                    let message = DisplayErrorContext(&err).to_string();
                    if !retryable {
                        return Err(format!("publishing to {}: {message}", self.stream));
                    }
                    pending.extend(batch);
                    message
                }
            };
            match backoff.next_delay() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(format!(
                        "publishing to {}: out of time: {error}",
                        self.stream
                    ))
                }
            }
        }
        Ok(())
    }
}

fn entry(row: &Output, keys: &KeySchema) -> Result<PutRecordsRequestEntry, String> {
    let (item, deleted) = match row {
        Output::Row(item) => (item, false),
        Output::Deleted(key) => (key, true),
    };
    let partition = item
        .get(&keys.partition.name)
        .map(plain_text)
        .unwrap_or_default();
    let mut json = to_json(item);
    if deleted {
        json.pop();
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str("\"_deleted\":true}");
    }
    PutRecordsRequestEntry::builder()
        .data(Blob::new(json.into_bytes()))
        .partition_key(if partition.is_empty() {
            "-".to_string()
        } else {
            partition.chars().take(256).collect()
        })
        .build()
        .map_err(|err| err.to_string())
}

fn plain_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// An item as a JSON object, numbers with their exact text, attributes sorted by name.
pub fn to_json(item: &Item) -> String {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    let fields: Vec<String> = names
        .into_iter()
        .map(|name| {
            format!(
                "{}:{}",
                serde_json::Value::String(name.clone()),
                value_json(&item[name])
            )
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

fn value_json(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(text) => serde_json::Value::String(text.clone()).to_string(),
        AttributeValue::N(text) => text.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null(_) => "null".to_string(),
        AttributeValue::M(map) => to_json(map),
        AttributeValue::L(list) => format!(
            "[{}]",
            list.iter().map(value_json).collect::<Vec<_>>().join(",")
        ),
        _ => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, KeyAttribute, KeyType};

    #[test]
    fn rows_round_trip_through_the_persist_decoder_with_exact_numbers() {
        let keys = KeySchema {
            partition: KeyAttribute {
                name: "orderId".into(),
                key_type: KeyType::N,
            },
            sort: None,
        };
        let payload = br#"{"orderId": 10000001, "orderAmount": 300.10, "name": "caf\u00e9 \"q\"",
            "ok": true, "none": null, "tags": ["a", 1.50, {"x": []}]}"#;
        let row = decode(payload, &keys).unwrap();
        let text = to_json(&row.item);
        assert!(text.contains(r#""orderAmount":300.10"#), "{text}");
        assert_eq!(decode(text.as_bytes(), &keys).unwrap(), row);
        let entry = entry(
            &Output::Deleted(Item::from([(
                "orderId".to_string(),
                AttributeValue::N("10000001".into()),
            )])),
            &keys,
        )
        .unwrap();
        assert_eq!(entry.partition_key(), Some("10000001"));
        assert_eq!(
            std::str::from_utf8(entry.data().as_ref()).unwrap(),
            r#"{"orderId":10000001,"_deleted":true}"#
        );
    }
}
