//! Dead letters, the I/O part: writing poison records to S3 so that they never hold back their
//! shard. The document and its key are built in [`crate::poison`].
//!
//! A poison record is done only once its dead letter is stored; if the PutObject fails, the
//! record goes back to Lambda in `batchItemFailures`, so nothing is ever lost. The client is
//! built once, at cold start, and only when `DEAD_LETTER_BUCKET` is set: a batch without poison
//! records costs no S3 call.

use aws_lambda_events::event::kinesis::KinesisEventRecord;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use futures::stream::{self, StreamExt};
use thiserror::Error;
use tokio::time::Instant;

use crate::config::DeadLetterConfig;
use crate::poison::{dead_letter_key, DeadLetter, Poison};

/// Writes dead letters to one bucket under one prefix.
#[derive(Clone, Debug)]
pub struct DeadLetterQueue {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    concurrency: usize,
}

/// A dead letter could not be stored.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DeadLetterError {
    /// S3 refused the write, or could not be reached.
    #[error("writing the dead letter to s3://{bucket}/{key}: {cause}")]
    Put {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// The SDK's error with its causes.
        cause: String,
    },
    /// The retry deadline came first.
    #[error("writing the dead letter to s3://{bucket}/{key}: still running at the retry deadline")]
    OutOfTime {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

/// What became of one poison record.
#[derive(Debug)]
pub struct Disposal {
    /// The record.
    pub poison: Poison,
    /// `s3://bucket/key` of its dead letter, or why it could not be stored.
    pub outcome: Result<String, DeadLetterError>,
}

impl DeadLetterQueue {
    /// Writes to `location` with `client` (the SDK's standard retries stay on: every call here
    /// is also bounded by the invocation's retry deadline), at most `concurrency` at once.
    pub fn new(
        client: aws_sdk_s3::Client,
        location: DeadLetterConfig,
        concurrency: usize,
    ) -> DeadLetterQueue {
        DeadLetterQueue {
            client,
            bucket: location.bucket,
            prefix: location.prefix,
            concurrency: concurrency.max(1),
        }
    }

    /// `s3://bucket/prefix`, for logs.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Stores the dead letter of every poison record of a batch (`records` is the whole batch,
    /// indexed by [`Poison::index`]), giving up on whatever is unfinished at `budget_end`.
    pub async fn put_all(
        &self,
        records: &[KinesisEventRecord],
        poison: Vec<Poison>,
        request_id: &str,
        budget_end: Instant,
    ) -> Vec<Disposal> {
        stream::iter(poison)
            .map(|poison| async move {
                let outcome = self
                    .put(&records[poison.index], &poison, request_id, budget_end)
                    .await;
                Disposal { poison, outcome }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    async fn put(
        &self,
        record: &KinesisEventRecord,
        poison: &Poison,
        request_id: &str,
        budget_end: Instant,
    ) -> Result<String, DeadLetterError> {
        let key = dead_letter_key(&self.prefix, record);
        let body = DeadLetter::new(record, poison, request_id, chrono::Utc::now()).to_json();
        let call = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send();
        match tokio::time::timeout_at(budget_end, call).await {
            Ok(Ok(_)) => Ok(format!("s3://{}/{key}", self.bucket)),
            Ok(Err(err)) => Err(DeadLetterError::Put {
                bucket: self.bucket.clone(),
                key,
                cause: DisplayErrorContext(&err).to_string(),
            }),
            Err(_) => Err(DeadLetterError::OutOfTime {
                bucket: self.bucket.clone(),
                key,
            }),
        }
    }
}
