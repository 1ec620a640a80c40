//! The pipeline's persist function: writes the rows of a Kinesis batch to DynamoDB and tells
//! Lambda, through the partial batch response, which records to retry.
//!
//! One invocation runs:
//! 1. [`decode`] each record (pure) into a row, or classify it as [`poison`];
//! 2. [`plan`] the writes (pure): last change per key, chunks of 25;
//! 3. [`sink`] them with BatchWriteItem, retrying within the invocation's deadline;
//! 4. report the earliest sequence number of every failed write, and every poison record, in
//!    `batchItemFailures`.

pub mod config;
pub mod decode;
pub mod plan;
pub mod poison;
pub mod sink;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::decode::{KeySchema, Row};
use crate::plan::{EmptySequenceNumber, SequenceNumber};
use crate::poison::Poison;
use crate::sink::{DescribeError, Sink};

/// The function's state, built once per execution environment.
#[derive(Clone, Debug)]
pub struct Function {
    keys: KeySchema,
    sink: Sink,
    deadline_margin: Duration,
}

/// Cold start failed.
#[derive(Debug, Error)]
pub enum InitError {
    /// The environment is misconfigured.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key schema could not be learned from the table.
    #[error(transparent)]
    Describe(#[from] DescribeError),
}

/// An invocation failed as a whole (Lambda retries the whole batch).
#[derive(Debug, Error)]
pub enum HandlerError {
    /// A failure cannot be reported item by item.
    #[error(transparent)]
    EmptySequenceNumber(#[from] EmptySequenceNumber),
}

impl From<HandlerError> for Diagnostic {
    fn from(err: HandlerError) -> Diagnostic {
        let error_type = match err {
            HandlerError::EmptySequenceNumber(_) => "UnifiedEtl.EmptySequenceNumber",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: err.to_string(),
        }
    }
}

impl Function {
    /// Builds the function from its configuration and a DynamoDB client made with
    /// [`sink::client_config`]; asks DynamoDB for the key schema if the configuration lacks it.
    pub async fn new(
        config: Config,
        client: aws_sdk_dynamodb::Client,
    ) -> Result<Function, InitError> {
        let (keys, source) = match config.keys {
            Some(keys) => (keys, "environment"),
            None => (
                sink::describe_keys(&client, &config.table).await?,
                "DescribeTable",
            ),
        };
        tracing::info!(
            table = %config.table,
            partition_key = %keys.partition.name,
            sort_key = keys.sort.as_ref().map(|sort| sort.name.as_str()),
            key_schema_from = source,
            write_concurrency = config.write_concurrency,
            "persist function ready"
        );
        Ok(Function {
            sink: Sink::new(client, config.table, keys.clone(), config.write_concurrency),
            keys,
            deadline_margin: config.deadline_margin,
        })
    }

    /// Handles one Kinesis batch.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, HandlerError> {
        let budget_end = retry_deadline(event.context.deadline(), self.deadline_margin);
        let records = event.payload.records;
        let (rows, poison) = decode_records(&records, &self.keys);
        for poison in &poison {
            report_poison(poison, &records[poison.index]);
        }

        let writes = plan::collapse(rows);
        let write_count = writes.len();
        let chunks = plan::chunk(writes, plan::BATCH_WRITE_LIMIT);
        let failed = self.sink.write(chunks, budget_end).await;
        // One line for all of them: a missing table fails every write of the batch.
        if let Some(earliest) = failed
            .iter()
            .min_by(|a, b| a.first_sequence.cmp(&b.first_sequence))
        {
            tracing::error!(
                failed_writes = failed.len(),
                earliest_sequence_number = %earliest.first_sequence,
                error = %earliest.error,
                "writes failed; reporting the earliest record of each as a batch item failure"
            );
        }

        tracing::info!(
            records = records.len(),
            poison = poison.len(),
            writes = write_count,
            failed_writes = failed.len(),
            "batch processed"
        );
        let response = plan::batch_response(
            poison
                .into_iter()
                .map(|poison| poison.sequence_number)
                .chain(failed.into_iter().map(|failure| failure.first_sequence)),
        )?;
        Ok(response)
    }
}

/// Decodes every record of a batch, keeping Kinesis order; the pure first step of
/// [`Function::handle`].
pub fn decode_records(
    records: &[KinesisEventRecord],
    keys: &KeySchema,
) -> (Vec<(SequenceNumber, Row)>, Vec<Poison>) {
    let mut rows = Vec::with_capacity(records.len());
    let mut poison = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let sequence_number = SequenceNumber::new(record.kinesis.sequence_number.clone());
        match decode::decode(&record.kinesis.data.0, keys) {
            Ok(row) => rows.push((sequence_number, row)),
            Err(reason) => poison.push(Poison {
                index,
                sequence_number,
                reason,
            }),
        }
    }
    (rows, poison)
}

/// Logs a poison record. The payload itself is logged only at debug level, and cut short: rows
/// may carry personal data.
fn report_poison(poison: &Poison, record: &KinesisEventRecord) {
    const PREVIEW: usize = 1024;
    let data = &record.kinesis.data.0;
    tracing::error!(
        sequence_number = %poison.sequence_number,
        partition_key = %record.kinesis.partition_key,
        bytes = data.len(),
        reason = poison.reason.kind(),
        error = %poison.reason,
        "record cannot be processed; reporting it as a batch item failure"
    );
    tracing::debug!(
        sequence_number = %poison.sequence_number,
        payload = %String::from_utf8_lossy(&data[..data.len().min(PREVIEW)]),
        truncated = data.len() > PREVIEW,
        "poison record payload"
    );
}

/// When retries must stop: the invocation deadline less the safety margin, as a tokio instant.
fn retry_deadline(deadline: SystemTime, margin: Duration) -> tokio::time::Instant {
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::time::Instant::now() + remaining.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{KeyAttribute, KeyType};

    fn record(sequence: &str, data: &str) -> KinesisEventRecord {
        let mut record = KinesisEventRecord::default();
        record.kinesis.sequence_number = sequence.to_string();
        record.kinesis.data.0 = data.as_bytes().to_vec();
        record
    }

    #[test]
    fn bad_records_become_poison_and_good_ones_rows_in_order() {
        let keys = KeySchema {
            partition: KeyAttribute {
                name: "id".into(),
                key_type: KeyType::N,
            },
            sort: None,
        };
        let records = [
            record("1", r#"{"id": 1}"#),
            record("2", "garbage"),
            record("3", r#"{"id": "1"}"#),
            record("4", r#"{"id": 2}"#),
        ];
        let (rows, poison) = decode_records(&records, &keys);
        let row_sequences: Vec<_> = rows.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(row_sequences, ["1", "4"]);
        let poison: Vec<_> = poison
            .iter()
            .map(|p| (p.sequence_number.as_str(), p.reason.kind()))
            .collect();
        assert_eq!(poison, [("2", "not_json"), ("3", "key_wrong_type")]);
    }

    #[tokio::test]
    async fn retry_deadline_keeps_the_margin_and_is_never_before_now() {
        let now = tokio::time::Instant::now();
        let deadline = retry_deadline(
            SystemTime::now() + Duration::from_secs(10),
            Duration::from_secs(1),
        );
        let expected = now + Duration::from_secs(9);
        let skew = Duration::from_millis(50);
        assert!(deadline <= expected + skew && deadline + skew >= expected);
        let past = retry_deadline(
            SystemTime::now() - Duration::from_secs(5),
            Duration::from_secs(1),
        );
        assert!(past >= now);
    }
}
