//! DynamoDB I/O: learning the key schema at cold start, and writing planned writes, retrying
//! what can be retried until the invocation runs out of time.
//!
//! Two ways to write, chosen by the configuration:
//! - **BatchWriteItem** (the default): 25 puts per call, up to `WRITE_CONCURRENCY` calls in
//!   flight; unprocessed items are retried alone.
//! - **Conditional PutItem** (with `VERSION_ATTRIBUTE`): BatchWriteItem takes no conditions, so
//!   each key is one PutItem with [`version::CONDITION`], up to `WRITE_CONCURRENCY` in flight. A
//!   failed condition means the table already holds that version or a newer one: done.
//!
//! The SDK's own retries are switched off for these calls (see [`client_config`]): they know
//! nothing of the invocation deadline, and a retried call would stack on top of the retries
//! here. Backoff is exponential (backon) with full jitter — a random delay between zero and the
//! exponential ceiling, which spreads concurrent writers best under throttling.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    KeyType as DynamoKeyType, PutRequest, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures::stream::{self, StreamExt};
use thiserror::Error;
use tokio::time::Instant;

use crate::decode::{key_of, ItemKey, KeyAttribute, KeySchema, KeyType};
use crate::plan::{self, SequenceNumber, Write};
use crate::version::{self, VersionAttribute};

/// First retry waits up to this long.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The exponential ceiling stops growing here.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The DynamoDB client configuration the sink expects: `sdk_config` with the SDK's retries
/// turned off, because [`Sink`] retries itself within the invocation's deadline.
pub fn client_config(sdk_config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Config {
    aws_sdk_dynamodb::config::Builder::from(sdk_config)
        .retry_config(RetryConfig::disabled())
        .build()
}

/// DescribeTable failed, or the table's key cannot be fed from JSON rows.
#[derive(Debug, Error)]
pub enum DescribeError {
    /// The table does not exist (or is not visible to the function's role).
    #[error("DynamoDB table `{table}` was not found: check SINK_TABLE and the function's region")]
    NotFound {
        /// Table name.
        table: String,
    },
    /// The call failed.
    #[error("describing DynamoDB table `{table}` to learn its key schema (set SINK_PARTITION_KEY to skip this call): {cause}")]
    Call {
        /// Table name.
        table: String,
        /// The SDK's error with its causes.
        cause: String,
    },
    /// The table's description is incomplete.
    #[error("DynamoDB table `{table}` reported no partition key attribute")]
    NoPartitionKey {
        /// Table name.
        table: String,
    },
    /// A key attribute is binary, which a JSON row cannot carry.
    #[error("DynamoDB table `{table}` has the binary (B) key attribute `{name}`, which JSON rows cannot carry")]
    BinaryKey {
        /// Table name.
        table: String,
        /// The key attribute.
        name: String,
    },
}

/// Learns the table's key schema with DescribeTable (once, at cold start).
pub async fn describe_keys(client: &Client, table: &str) -> Result<KeySchema, DescribeError> {
    let output = client
        .describe_table()
        .table_name(table)
        .customize()
        // The client's retries are off for the sake of BatchWriteItem; a cold start has no
        // deadline of its own, so the SDK's standard retries are right here.
        .config_override(
            aws_sdk_dynamodb::config::Builder::default().retry_config(RetryConfig::standard()),
        )
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(service) if service.is_resource_not_found_exception() => DescribeError::NotFound {
                table: table.to_string(),
            },
            _ => DescribeError::Call {
                table: table.to_string(),
                cause: DisplayErrorContext(&err).to_string(),
            },
        })?;
    let description = output.table.ok_or_else(|| DescribeError::NoPartitionKey {
        table: table.to_string(),
    })?;
    let attribute = |name: &str| -> Result<KeyAttribute, DescribeError> {
        let scalar = description
            .attribute_definitions()
            .iter()
            .find(|definition| definition.attribute_name() == name)
            .map(|definition| definition.attribute_type().clone());
        let key_type = match scalar {
            Some(ScalarAttributeType::S) => KeyType::S,
            Some(ScalarAttributeType::N) => KeyType::N,
            Some(ScalarAttributeType::B) => {
                return Err(DescribeError::BinaryKey {
                    table: table.to_string(),
                    name: name.to_string(),
                })
            }
            // Missing or a type newer than this SDK: let DynamoDB judge each value.
            _ => KeyType::StringOrNumber,
        };
        Ok(KeyAttribute {
            name: name.to_string(),
            key_type,
        })
    };
    let key_named = |wanted: DynamoKeyType| {
        description
            .key_schema()
            .iter()
            .find(|element| element.key_type() == &wanted)
            .map(|element| attribute(element.attribute_name()))
            .transpose()
    };
    let partition =
        key_named(DynamoKeyType::Hash)?.ok_or_else(|| DescribeError::NoPartitionKey {
            table: table.to_string(),
        })?;
    let sort = key_named(DynamoKeyType::Range)?;
    Ok(KeySchema { partition, sort })
}

/// Why a planned write did not happen.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    /// DynamoDB refused the call in a way retrying cannot fix (validation, access, missing
    /// table).
    #[error("DynamoDB rejected the write: {0}")]
    Rejected(String),
    /// The write was still failing, retryably, when the retry budget ran out.
    #[error("gave up retrying before the invocation deadline; last error: {0}")]
    OutOfTime(String),
}

/// A planned write that did not happen.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedWrite {
    /// The key of the item not written.
    pub key: ItemKey,
    /// The earliest record merged into the write: what the batch response reports.
    pub first_sequence: SequenceNumber,
    /// Why.
    pub error: WriteError,
}

/// What became of the writes of one invocation. Counts are of Kinesis records (a collapsed
/// write counts every record merged into it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteReport {
    /// The writes that did not happen.
    pub failed: Vec<FailedWrite>,
    /// Records whose row is now in the table.
    pub written: usize,
    /// Records whose conditional put found the same or a newer version already stored.
    pub stale: usize,
    /// Records whose write was retried at least once, whatever the outcome.
    pub retried: usize,
}

impl WriteReport {
    fn merge(mut self, other: WriteReport) -> WriteReport {
        self.failed.extend(other.failed);
        self.written += other.written;
        self.stale += other.stale;
        self.retried += other.retried;
        self
    }

    /// Accounts for a write that is finished, one way or another.
    fn settle(&mut self, pending: Pending, outcome: Settled) {
        if pending.retried {
            self.retried += pending.write.records;
        }
        match outcome {
            Settled::Written => self.written += pending.write.records,
            Settled::Stale => self.stale += pending.write.records,
            Settled::Failed(error) => self.failed.push(FailedWrite {
                key: pending.write.key,
                first_sequence: pending.write.first_sequence,
                error,
            }),
        }
    }
}

enum Settled {
    Written,
    Stale,
    Failed(WriteError),
}

/// A write still to be done, and whether it has been retried.
struct Pending {
    write: Write,
    retried: bool,
}

/// How the sink writes.
#[derive(Clone, Debug)]
enum Mode {
    /// BatchWriteItem, 25 puts per call.
    Batch,
    /// One PutItem per key, conditional on the version.
    Versioned(VersionAttribute),
}

/// Writes items to one table.
#[derive(Clone, Debug)]
pub struct Sink {
    client: Client,
    table: String,
    keys: KeySchema,
    concurrency: usize,
    mode: Mode,
}

/// The outcome of one call.
enum Attempt {
    /// Everything was written.
    Done,
    /// The condition failed: the stored version is the same or newer (PutItem only).
    Stale,
    /// Some items came back unprocessed (throttling or internal limits; BatchWriteItem only).
    Unprocessed(Vec<WriteRequest>),
    /// The call failed in a way a retry may cure.
    Retryable(String),
    /// The call failed for good.
    Fatal(String),
}

/// Exponential backoff with full jitter, bounded by the retry deadline.
pub(crate) struct Backoff {
    ceilings: ExponentialBackoff,
    budget_end: Instant,
    /// Attempts made so far.
    attempts: u32,
}

impl Backoff {
    pub(crate) fn new(budget_end: Instant) -> Backoff {
        Backoff {
            ceilings: ExponentialBuilder::new()
                .with_min_delay(MIN_BACKOFF)
                .with_max_delay(MAX_BACKOFF)
                .without_max_times()
                .build(),
            budget_end,
            attempts: 1,
        }
    }

    /// The delay before the next attempt, or `None` if that attempt would start after the
    /// deadline.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        let ceiling = self.ceilings.next().unwrap_or(MAX_BACKOFF);
        let delay = ceiling.mul_f64(fastrand::f64());
        if Instant::now() + delay >= self.budget_end {
            return None;
        }
        self.attempts += 1;
        Some(delay)
    }
}

impl Sink {
    /// A sink writing to `table`, whose key schema is `keys`, with at most `concurrency` calls
    /// in flight; with BatchWriteItem, or with conditional PutItem when `version` is given.
    /// `client` should be built with [`client_config`].
    pub fn new(
        client: Client,
        table: String,
        keys: KeySchema,
        concurrency: usize,
        version: Option<VersionAttribute>,
    ) -> Sink {
        Sink {
            client,
            table,
            keys,
            concurrency: concurrency.max(1),
            mode: version.map_or(Mode::Batch, Mode::Versioned),
        }
    }

    /// Writes every planned write, retrying until `budget_end`.
    pub async fn write(&self, writes: Vec<Write>, budget_end: Instant) -> WriteReport {
        match &self.mode {
            Mode::Batch => {
                stream::iter(plan::chunk(writes, plan::BATCH_WRITE_LIMIT))
                    .map(|chunk| self.write_chunk(chunk, budget_end))
                    .buffer_unordered(self.concurrency)
                    .fold(WriteReport::default(), |all, one| async { all.merge(one) })
                    .await
            }
            Mode::Versioned(version) => {
                stream::iter(writes)
                    .map(|write| self.put_versioned(write, version, budget_end))
                    .buffer_unordered(self.concurrency)
                    .fold(WriteReport::default(), |all, one| async { all.merge(one) })
                    .await
            }
        }
    }

    /// Makes one call, abandoning it at the retry deadline.
    async fn attempt(
        &self,
        budget_end: Instant,
        send: impl std::future::Future<Output = Attempt>,
    ) -> Attempt {
        match tokio::time::timeout_at(budget_end, send).await {
            Ok(outcome) => outcome,
            Err(_) => Attempt::Retryable("the call was still running at the retry deadline".into()),
        }
    }

    async fn write_chunk(&self, chunk: Vec<Write>, budget_end: Instant) -> WriteReport {
        let mut report = WriteReport::default();
        let mut pending: Vec<Pending> = chunk
            .into_iter()
            .map(|write| Pending {
                write,
                retried: false,
            })
            .collect();
        let mut backoff = Backoff::new(budget_end);
        loop {
            let last_error = match self.attempt(budget_end, self.send_batch(&pending)).await {
                Attempt::Done | Attempt::Stale => {
                    for done in pending {
                        report.settle(done, Settled::Written);
                    }
                    return report;
                }
                Attempt::Fatal(cause) => {
                    tracing::error!(table = %self.table, items = pending.len(), error = %cause, "BatchWriteItem failed and cannot be retried");
                    for failed in pending {
                        report.settle(failed, Settled::Failed(WriteError::Rejected(cause.clone())));
                    }
                    return report;
                }
                Attempt::Retryable(cause) => cause,
                Attempt::Unprocessed(unprocessed) => {
                    let count = unprocessed.len();
                    for done in self.take_processed(&mut pending, &unprocessed) {
                        report.settle(done, Settled::Written);
                    }
                    format!("{count} items unprocessed (throttled or over internal limits)")
                }
            };
            let Some(delay) = backoff.next_delay() else {
                tracing::error!(table = %self.table, items = pending.len(), attempts = backoff.attempts, error = %last_error, "out of time retrying BatchWriteItem");
                for failed in pending {
                    report.settle(
                        failed,
                        Settled::Failed(WriteError::OutOfTime(last_error.clone())),
                    );
                }
                return report;
            };
            tracing::warn!(table = %self.table, items = pending.len(), next_attempt = backoff.attempts, delay_ms = delay.as_millis() as u64, error = %last_error, "retrying BatchWriteItem");
            for write in &mut pending {
                write.retried = true;
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_batch(&self, pending: &[Pending]) -> Attempt {
        let requests: Result<Vec<WriteRequest>, _> = pending
            .iter()
            .map(|pending| {
                PutRequest::builder()
                    .set_item(Some(pending.write.item.clone()))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect();
        let requests = match requests {
            Ok(requests) => requests,
            Err(err) => return Attempt::Fatal(DisplayErrorContext(&err).to_string()),
        };
        match self
            .client
            .batch_write_item()
            .request_items(&self.table, requests)
            .send()
            .await
        {
            Ok(output) => {
                // Every call writes to one table, so whatever comes back belongs to this chunk,
                // whichever spelling (name or ARN) DynamoDB keys it by.
                let unprocessed: Vec<WriteRequest> = output
                    .unprocessed_items
                    .unwrap_or_default()
                    .into_values()
                    .flatten()
                    .collect();
                if unprocessed.is_empty() {
                    Attempt::Done
                } else {
                    Attempt::Unprocessed(unprocessed)
                }
            }
            Err(err) if is_retryable(&err) => {
                Attempt::Retryable(DisplayErrorContext(&err).to_string())
            }
            Err(err) => Attempt::Fatal(DisplayErrorContext(&err).to_string()),
        }
    }

    /// Narrows `pending` to the writes DynamoDB returned unprocessed, matched by key, and
    /// returns the others (written). If an unprocessed item cannot be matched, everything stays
    /// pending: rewriting an item is harmless, losing one is not.
    fn take_processed(
        &self,
        pending: &mut Vec<Pending>,
        unprocessed: &[WriteRequest],
    ) -> Vec<Pending> {
        let keys: Option<HashSet<ItemKey>> = unprocessed
            .iter()
            .map(|request| {
                request
                    .put_request()
                    .and_then(|put| key_of(put.item(), &self.keys).ok())
            })
            .collect();
        let Some(keys) = keys else {
            return Vec::new();
        };
        let (still, processed) = std::mem::take(pending)
            .into_iter()
            .partition(|pending| keys.contains(&pending.write.key));
        *pending = still;
        processed
    }

    async fn put_versioned(
        &self,
        write: Write,
        version: &VersionAttribute,
        budget_end: Instant,
    ) -> WriteReport {
        let mut report = WriteReport::default();
        let mut pending = Pending {
            write,
            retried: false,
        };
        let mut backoff = Backoff::new(budget_end);
        loop {
            let last_error = match self
                .attempt(budget_end, self.send_put(&pending.write, version))
                .await
            {
                Attempt::Done | Attempt::Unprocessed(_) => {
                    report.settle(pending, Settled::Written);
                    return report;
                }
                Attempt::Stale => {
                    tracing::debug!(table = %self.table, sequence_number = %pending.write.last_sequence, "the table holds this version or a newer one; write skipped");
                    report.settle(pending, Settled::Stale);
                    return report;
                }
                Attempt::Fatal(cause) => {
                    tracing::error!(table = %self.table, sequence_number = %pending.write.last_sequence, error = %cause, "PutItem failed and cannot be retried");
                    report.settle(pending, Settled::Failed(WriteError::Rejected(cause)));
                    return report;
                }
                Attempt::Retryable(cause) => cause,
            };
            let Some(delay) = backoff.next_delay() else {
                // Under a throttling storm every key ends here: the handler logs one line for all.
                tracing::debug!(table = %self.table, sequence_number = %pending.write.last_sequence, attempts = backoff.attempts, error = %last_error, "out of time retrying PutItem");
                report.settle(pending, Settled::Failed(WriteError::OutOfTime(last_error)));
                return report;
            };
            // One line per key and retry would flood the log under throttling; the metrics and
            // the final error carry the story.
            tracing::debug!(table = %self.table, next_attempt = backoff.attempts, delay_ms = delay.as_millis() as u64, error = %last_error, "retrying PutItem");
            pending.retried = true;
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_put(&self, write: &Write, version: &VersionAttribute) -> Attempt {
        let Some(value) = version.of(&write.item) else {
            // Decoding checks every row for its version; this is a bug, not bad data.
            return Attempt::Fatal(format!(
                "the row has no version attribute `{}`",
                version.name
            ));
        };
        let (names, values) = version.condition_parameters(&self.keys.partition.name, value);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(write.item.clone()))
            .condition_expression(version::CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Attempt::Done,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|service| service.is_conditional_check_failed_exception()) =>
            {
                Attempt::Stale
            }
            Err(err) if is_retryable(&err) => {
                Attempt::Retryable(DisplayErrorContext(&err).to_string())
            }
            Err(err) => Attempt::Fatal(DisplayErrorContext(&err).to_string()),
        }
    }
}

pub(crate) fn is_retryable<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        // The request may or may not have reached DynamoDB; puts are idempotent (and a versioned
        // put that did land finds its own version on the retry: stale, which counts as done).
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            is_retryable_service_error(service.err().code(), service.raw().status().as_u16())
        }
        _ => false,
    }
}

/// Throttling, capacity, conflict and server-side errors are worth retrying; validation, access
/// and not-found errors are not.
fn is_retryable_service_error(code: Option<&str>, status: u16) -> bool {
    status >= 500
        || status == 429
        || matches!(
            code,
            Some(
                "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "InternalServerError"
                    | "ReplicatedWriteConflictException"
                    | "TransactionConflictException"
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_retried() {
        for code in [
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "ThrottlingException",
            "InternalServerError",
            "TransactionConflictException",
        ] {
            assert!(is_retryable_service_error(Some(code), 400), "{code}");
        }
        assert!(is_retryable_service_error(None, 500));
        assert!(is_retryable_service_error(None, 503));
        assert!(is_retryable_service_error(None, 429));
    }

    #[test]
    fn client_errors_are_not_retried() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "ConditionalCheckFailedException",
        ] {
            assert!(!is_retryable_service_error(Some(code), 400), "{code}");
        }
    }
}
