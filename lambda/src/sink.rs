//! DynamoDB I/O: learning the key schema at cold start, and writing planned chunks with
//! BatchWriteItem, retrying what can be retried until the invocation runs out of time.
//!
//! The SDK's own retries are switched off for BatchWriteItem (see [`client_config`]): they know
//! nothing of the invocation deadline, and a retried call would stack on top of the retries
//! here. Backoff is exponential (backon) with full jitter — a random delay between zero and the
//! exponential ceiling, which spreads concurrent writers best under throttling.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
use aws_sdk_dynamodb::types::{
    KeyType as DynamoKeyType, PutRequest, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::stream::{self, StreamExt};
use thiserror::Error;
use tokio::time::Instant;

use crate::decode::{key_of, ItemKey, KeyAttribute, KeySchema, KeyType};
use crate::plan::{SequenceNumber, Write};

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

/// Writes items to one table.
#[derive(Clone, Debug)]
pub struct Sink {
    client: Client,
    table: String,
    keys: KeySchema,
    concurrency: usize,
}

/// The outcome of one BatchWriteItem call.
enum Attempt {
    /// Everything was written.
    Done,
    /// Some items came back unprocessed (throttling or internal limits).
    Unprocessed(Vec<WriteRequest>),
    /// The call failed in a way a retry may cure.
    Retryable(String),
    /// The call failed for good.
    Fatal(String),
}

impl Sink {
    /// A sink writing to `table`, whose key schema is `keys`, with at most `concurrency`
    /// BatchWriteItem calls in flight. `client` should be built with [`client_config`].
    pub fn new(client: Client, table: String, keys: KeySchema, concurrency: usize) -> Sink {
        Sink {
            client,
            table,
            keys,
            concurrency: concurrency.max(1),
        }
    }

    /// Writes every chunk, retrying until `budget_end`; returns the writes that did not happen.
    pub async fn write(&self, chunks: Vec<Vec<Write>>, budget_end: Instant) -> Vec<FailedWrite> {
        stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, budget_end))
            .buffer_unordered(self.concurrency)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn write_chunk(&self, mut pending: Vec<Write>, budget_end: Instant) -> Vec<FailedWrite> {
        let mut ceilings = ExponentialBuilder::new()
            .with_min_delay(MIN_BACKOFF)
            .with_max_delay(MAX_BACKOFF)
            .without_max_times()
            .build();
        let mut attempt = 1u32;
        loop {
            let outcome = match tokio::time::timeout_at(budget_end, self.send(&pending)).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    Attempt::Retryable("the call was still running at the retry deadline".into())
                }
            };
            let last_error = match outcome {
                Attempt::Done => return Vec::new(),
                Attempt::Fatal(cause) => {
                    tracing::error!(table = %self.table, items = pending.len(), error = %cause, "BatchWriteItem failed and cannot be retried");
                    return fail(pending, WriteError::Rejected(cause));
                }
                Attempt::Retryable(cause) => cause,
                Attempt::Unprocessed(unprocessed) => {
                    let count = unprocessed.len();
                    self.keep_unprocessed(&mut pending, &unprocessed);
                    format!("{count} items unprocessed (throttled or over internal limits)")
                }
            };
            let ceiling = ceilings.next().unwrap_or(MAX_BACKOFF);
            let delay = ceiling.mul_f64(fastrand::f64());
            if Instant::now() + delay >= budget_end {
                tracing::error!(table = %self.table, items = pending.len(), attempts = attempt, error = %last_error, "out of time retrying BatchWriteItem");
                return fail(pending, WriteError::OutOfTime(last_error));
            }
            tracing::warn!(table = %self.table, items = pending.len(), attempt, delay_ms = delay.as_millis() as u64, error = %last_error, "retrying BatchWriteItem");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send(&self, pending: &[Write]) -> Attempt {
        let requests: Result<Vec<WriteRequest>, _> = pending
            .iter()
            .map(|write| {
                PutRequest::builder()
                    .set_item(Some(write.item.clone()))
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

    /// Narrows `pending` to the writes DynamoDB returned unprocessed, matched by key. If an
    /// unprocessed item cannot be matched, everything stays pending: rewriting an item is
    /// harmless, losing one is not.
    fn keep_unprocessed(&self, pending: &mut Vec<Write>, unprocessed: &[WriteRequest]) {
        let keys: Option<HashSet<ItemKey>> = unprocessed
            .iter()
            .map(|request| {
                request
                    .put_request()
                    .and_then(|put| key_of(put.item(), &self.keys).ok())
            })
            .collect();
        if let Some(keys) = keys {
            pending.retain(|write| keys.contains(&write.key));
        }
    }
}

fn fail(pending: Vec<Write>, error: WriteError) -> Vec<FailedWrite> {
    pending
        .into_iter()
        .map(|write| FailedWrite {
            key: write.key,
            first_sequence: write.first_sequence,
            error: error.clone(),
        })
        .collect()
}

fn is_retryable(err: &SdkError<BatchWriteItemError>) -> bool {
    match err {
        // The request may or may not have reached DynamoDB; puts are idempotent, so resend.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            is_retryable_service_error(service.err().code(), service.raw().status().as_u16())
        }
        _ => false,
    }
}

/// Throttling, capacity and server-side errors are worth retrying; validation, access and
/// not-found errors are not.
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
        ] {
            assert!(!is_retryable_service_error(Some(code), 400), "{code}");
        }
    }
}
