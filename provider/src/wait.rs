//! Polling and bounded retries shared by the components' waiters.
//!
//! AWS resources settle asynchronously (streams and tables go CREATING → ACTIVE, functions
//! Pending → Active), and IAM roles take seconds to propagate: every component waits through the
//! same two helpers so timeouts and back-off behave alike everywhere.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::aws::{AwsError, AwsResult};

/// How long a waiter polls before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Polls `check` until it yields `Some`, with exponential back-off from 100 ms to 5 s, for at
/// most `timeout`. `what` names the state waited for, for the timeout message.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() + delay > deadline {
            return Err(AwsError::other(format!(
                "timed out after {timeout:?} waiting for {what}"
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Retries `op` while `transient` says its error is one that goes away by itself (IAM
/// propagation, a resource still settling), for about two minutes at most.
pub async fn retry_while<T, F, Fut>(transient: fn(&AwsError) -> bool, op: F) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<T>>,
{
    op.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(20)
            .with_total_delay(Some(Duration::from_secs(120)))
            .with_jitter(),
    )
    .when(transient)
    .await
}
