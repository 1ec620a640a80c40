//! The pipeline's persist function: writes the rows of a Kinesis batch to DynamoDB and tells
//! Lambda, through the partial batch response, which records to retry.
//!
//! One invocation runs:
//! 1. [`decode`] each record (pure) into a row, or classify it as [`poison`];
//! 2. [`plan`] the writes (pure): last change (or highest [`version`]) per key;
//! 3. [`sink`] them to DynamoDB, retrying within the invocation's deadline, while the poison
//!    records go to the [`dead_letter`] bucket;
//! 4. report the earliest sequence number of every failed write, and every poison record that
//!    could not be dead-lettered, in `batchItemFailures`;
//! 5. print the invocation's [`metrics`].

pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod engine;
pub mod metrics;
pub mod plan;
pub mod poison;
pub mod record;
pub mod sink;
pub mod version;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::dead_letter::DeadLetterQueue;
use crate::decode::{KeySchema, Row};
use crate::metrics::BatchMetrics;
use crate::plan::{EmptySequenceNumber, SequenceNumber};
use crate::poison::Poison;
use crate::sink::{DescribeError, Sink};
use crate::version::VersionAttribute;

/// The function's state, built once per execution environment.
#[derive(Clone, Debug)]
pub struct Function {
    keys: KeySchema,
    version: Option<VersionAttribute>,
    sink: Sink,
    dead_letters: Option<DeadLetterQueue>,
    deadline_margin: Duration,
    function_name: String,
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
    /// The analytics engine's reference data could not be loaded.
    #[error(transparent)]
    Reference(#[from] engine::reference::ReferenceError),
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
    /// Builds the function from its configuration and the shared SDK configuration: a DynamoDB
    /// client (see [`sink::client_config`]) and, only when a dead-letter bucket is configured,
    /// an S3 client. Asks DynamoDB for the key schema if the configuration lacks it.
    pub async fn new(
        config: Config,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Function, InitError> {
        let client = aws_sdk_dynamodb::Client::from_conf(sink::client_config(sdk_config));
        let (keys, source) = match config.keys {
            Some(keys) => (keys, "environment"),
            None => (
                sink::describe_keys(&client, &config.table).await?,
                "DescribeTable",
            ),
        };
        if let Some(version) = &config.version {
            config::check_version_is_not_a_key(version, &keys)?;
        }
        let dead_letters = config.dead_letter.map(|location| {
            DeadLetterQueue::new(
                aws_sdk_s3::Client::new(sdk_config),
                location,
                config.write_concurrency,
            )
        });
        if dead_letters.is_none() {
            tracing::warn!(
                "{} is not set: poison records are reported as batch item failures and hold back \
                 their shard until the event source mapping gives up on them",
                config::DEAD_LETTER_BUCKET
            );
        }
        tracing::info!(
            table = %config.table,
            partition_key = %keys.partition.name,
            sort_key = keys.sort.as_ref().map(|sort| sort.name.as_str()),
            key_schema_from = source,
            write_concurrency = config.write_concurrency,
            version_attribute = config.version.as_ref().map(|v| v.name.as_str()),
            dead_letters = dead_letters.as_ref().map(DeadLetterQueue::location),
            "persist function ready"
        );
        Ok(Function {
            sink: Sink::new(
                client,
                config.table,
                keys.clone(),
                config.write_concurrency,
                config.version.clone(),
            ),
            keys,
            version: config.version,
            dead_letters,
            deadline_margin: config.deadline_margin,
            function_name: config.function_name,
        })
    }

    /// Handles one Kinesis batch.
    pub async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<KinesisEventResponse, HandlerError> {
        let started = std::time::Instant::now();
        let budget_end = retry_deadline(event.context.deadline(), self.deadline_margin);
        let request_id = event.context.request_id;
        let records = event.payload.records;
        let (rows, poison) = decode_batch(&records, &self.keys, self.version.as_ref());

        let writes = match &self.version {
            Some(version) => plan::collapse_versions(rows, version),
            None => plan::collapse(rows),
        };
        let write_count = writes.len();
        let poison_count = poison.len();
        // Dead letters and table writes do not depend on each other: both at once.
        let (written, undisposed) = tokio::join!(
            self.sink.write(writes, budget_end),
            self.dispose(&records, poison, &request_id, budget_end),
        );
        // One line for all of them: a missing table fails every write of the batch.
        if let Some(earliest) = written
            .failed
            .iter()
            .min_by(|a, b| a.first_sequence.cmp(&b.first_sequence))
        {
            tracing::error!(
                failed_writes = written.failed.len(),
                earliest_sequence_number = %earliest.first_sequence,
                error = %earliest.error,
                "writes failed; reporting the earliest record of each as a batch item failure"
            );
        }

        let dead_lettered = poison_count - undisposed.len();
        let response = plan::batch_response(
            undisposed.into_iter().chain(
                written
                    .failed
                    .iter()
                    .map(|failure| failure.first_sequence.clone()),
            ),
        );
        let metrics = BatchMetrics {
            records_in: records.len(),
            records_written: written.written,
            records_stale: written.stale,
            records_retried: written.retried,
            records_dead_lettered: dead_lettered,
            records_failed: match &response {
                Ok(response) => response.batch_item_failures.len(),
                // The whole batch fails.
                Err(_) => records.len(),
            },
            records_ignored: 0,
            batch_duration: started.elapsed(),
        };
        tracing::info!(
            records = records.len(),
            poison = poison_count,
            dead_lettered = metrics.records_dead_lettered,
            writes = write_count,
            written = metrics.records_written,
            stale = metrics.records_stale,
            retried = metrics.records_retried,
            failed_writes = written.failed.len(),
            reported = metrics.records_failed,
            "batch processed"
        );
        metrics.emit(&self.function_name, &request_id);
        Ok(response?)
    }

    /// Sends poison records to the dead-letter bucket; returns the sequence numbers of those
    /// that must be reported to Lambda instead (all of them when no bucket is configured).
    async fn dispose(
        &self,
        records: &[KinesisEventRecord],
        poison: Vec<Poison>,
        request_id: &str,
        budget_end: tokio::time::Instant,
    ) -> Vec<SequenceNumber> {
        dispose_poison(
            self.dead_letters.as_ref(),
            records,
            poison,
            request_id,
            budget_end,
        )
        .await
    }
}

/// Sends poison records to the dead-letter bucket (if there is one) and logs each; returns the
/// sequence numbers of those that must be reported to Lambda instead.
pub(crate) async fn dispose_poison(
    queue: Option<&DeadLetterQueue>,
    records: &[KinesisEventRecord],
    poison: Vec<Poison>,
    request_id: &str,
    budget_end: tokio::time::Instant,
) -> Vec<SequenceNumber> {
    if poison.is_empty() {
        return Vec::new();
    }
    let Some(queue) = queue else {
        return poison
            .into_iter()
            .map(|poison| {
                log_poison(&poison, &records[poison.index], None);
                poison.sequence_number
            })
            .collect();
    };
    let mut undisposed = Vec::new();
    for disposal in queue.put_all(records, poison, request_id, budget_end).await {
        let record = &records[disposal.poison.index];
        log_poison(&disposal.poison, record, Some(&disposal.outcome));
        if disposal.outcome.is_err() {
            undisposed.push(disposal.poison.sequence_number);
        }
    }
    undisposed
}

/// Decodes every record of a batch, keeping Kinesis order; the pure first step of
/// [`Function::handle`], without a version attribute.
pub fn decode_records(
    records: &[KinesisEventRecord],
    keys: &KeySchema,
) -> (Vec<(SequenceNumber, Row)>, Vec<Poison>) {
    decode_batch(records, keys, None)
}

/// Decodes every record of a batch, keeping Kinesis order; with `version`, a row without a
/// usable version is poison too.
pub fn decode_batch(
    records: &[KinesisEventRecord],
    keys: &KeySchema,
    version: Option<&VersionAttribute>,
) -> (Vec<(SequenceNumber, Row)>, Vec<Poison>) {
    let mut rows = Vec::with_capacity(records.len());
    let mut poison = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let sequence_number = SequenceNumber::new(record.kinesis.sequence_number.clone());
        let decoded = decode::decode(&record.kinesis.data.0, keys).and_then(|row| match version {
            Some(version) => version.check(&row.item).map(|()| row),
            None => Ok(row),
        });
        match decoded {
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

/// Logs a poison record and what became of it: dead-lettered (`Some(Ok(location))`), or
/// reported to Lambda because the dead letter failed (`Some(Err(_))`) or there is no
/// dead-letter bucket (`None`). The payload itself is logged only at debug level, and cut
/// short: rows may carry personal data.
fn log_poison(
    poison: &Poison,
    record: &KinesisEventRecord,
    dead_letter: Option<&Result<String, dead_letter::DeadLetterError>>,
) {
    const PREVIEW: usize = 1024;
    let data = &record.kinesis.data.0;
    match dead_letter {
        Some(Ok(location)) => tracing::warn!(
            sequence_number = %poison.sequence_number,
            partition_key = %record.kinesis.partition_key,
            bytes = data.len(),
            reason = poison.reason.kind(),
            error = %poison.reason,
            dead_letter = %location,
            "record cannot be processed; stored it in the dead-letter bucket"
        ),
        Some(Err(dead_letter_error)) => tracing::error!(
            sequence_number = %poison.sequence_number,
            partition_key = %record.kinesis.partition_key,
            bytes = data.len(),
            reason = poison.reason.kind(),
            error = %poison.reason,
            dead_letter_error = %dead_letter_error,
            "record cannot be processed and its dead letter could not be stored; reporting it \
             as a batch item failure"
        ),
        None => tracing::error!(
            sequence_number = %poison.sequence_number,
            partition_key = %record.kinesis.partition_key,
            bytes = data.len(),
            reason = poison.reason.kind(),
            error = %poison.reason,
            "record cannot be processed; reporting it as a batch item failure"
        ),
    }
    tracing::debug!(
        sequence_number = %poison.sequence_number,
        payload = %String::from_utf8_lossy(&data[..data.len().min(PREVIEW)]),
        truncated = data.len() > PREVIEW,
        "poison record payload"
    );
}

/// When retries must stop: the invocation deadline less the safety margin, as a tokio instant.
pub(crate) fn retry_deadline(deadline: SystemTime, margin: Duration) -> tokio::time::Instant {
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

    #[test]
    fn with_a_version_attribute_rows_without_a_usable_version_are_poison() {
        let keys = KeySchema {
            partition: KeyAttribute {
                name: "id".into(),
                key_type: KeyType::N,
            },
            sort: None,
        };
        let version = VersionAttribute {
            name: "ts".into(),
            value_type: KeyType::N,
        };
        let records = [
            record("1", r#"{"id": 1, "ts": 5}"#),
            record("2", r#"{"id": 2}"#),
            record("3", r#"{"id": 3, "ts": "5"}"#),
            record("4", r#"{"id": 4, "ts": null}"#),
        ];
        let (rows, poison) = decode_batch(&records, &keys, Some(&version));
        assert_eq!(rows.len(), 1);
        let poison: Vec<_> = poison
            .iter()
            .map(|p| (p.sequence_number.as_str(), p.reason.kind()))
            .collect();
        assert_eq!(
            poison,
            [
                ("2", "version_missing"),
                ("3", "version_wrong_type"),
                ("4", "version_missing")
            ]
        );
        let (rows, poison) = decode_records(&records, &keys);
        assert_eq!((rows.len(), poison.len()), (4, 0), "no version attribute");
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
