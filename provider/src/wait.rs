//! Polling and bounded retries shared by the components' waiters.
//!
//! AWS resources settle asynchronously (streams and tables go CREATING → ACTIVE, functions
//! Pending → Active), reads lag behind writes (a table just created may be "not found" for a
//! moment), a resource refuses a change while the previous one settles (ResourceInUse, 409
//! conflicts), and IAM roles take seconds to propagate: every component waits through the
//! same helpers so timeouts and back-off behave alike everywhere.
//!
//! Budgets (the hashicorp AWS provider's, where it has one):
//! - a waiter polls for at most its timeout: [`DEFAULT_TIMEOUT`], or less when the
//!   `timeouts` block of the operation under way ([`with_deadline`]) ends sooner;
//! - a component just created or changed may read as not found for [`NOT_FOUND_GRACE`]
//!   before a waiter says it disappeared;
//! - a call refused while IAM propagates, or while the resource settles, is retried for
//!   [`PROPAGATION_BUDGET`] (bounded by the same deadline);
//! - an interrupted Terraform (Ctrl-C, [`stop`]) ends every wait and retry at once: the apply
//!   returns what exists, and Terraform saves it.

use std::future::Future;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use backon::{ExponentialBuilder, Retryable};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::aws::{AwsError, AwsResult};

/// How long a waiter polls before giving up, unless the operation's deadline comes first.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long a component just created or changed may read as not found: AWS's reads lag
/// behind its writes (DescribeTable right after CreateTable, GetFunction right after
/// CreateFunction). The hashicorp provider allows 20 not-found polls, about two minutes.
pub const NOT_FOUND_GRACE: Duration = Duration::from_secs(2 * 60);

/// How long a call refused because a role is still propagating (or because the resource is
/// still settling from the previous change) is retried: IAM changes reach Lambda, Firehose,
/// DMS and Kinesis Analytics within seconds usually, within minutes at worst.
pub const PROPAGATION_BUDGET: Duration = Duration::from_secs(5 * 60);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Set once the user has interrupted Terraform (Ctrl-C): every wait and retry ends at once.
struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    const fn new() -> Stop {
        Stop {
            stopped: AtomicBool::new(false),
            notify: Notify::const_new(),
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once [`Stop::stop`] has been called.
    async fn stopped(&self) {
        let notified = self.notify.notified();
        if self.is_stopped() {
            return;
        }
        notified.await;
    }
}

static STOP: Stop = Stop::new();

/// Ends every wait and retry, now and from now on (Terraform was interrupted): the apply in
/// progress returns what exists, for Terraform to save.
pub fn stop() {
    STOP.stop();
}

fn interrupted(what: &str) -> AwsError {
    AwsError::other(format!(
        "interrupted while waiting for {what}: what exists so far is saved in the state, and the next apply carries on from there"
    ))
}

/// Runs `fut` with every wait and retry inside it ending by `timeout` from now (the
/// `timeouts` block's value for the operation under way). Work moved to another task keeps
/// the deadline when it is started through [`spawn`].
pub async fn with_deadline<F: Future>(timeout: Duration, fut: F) -> F::Output {
    DEADLINE.scope(Instant::now() + timeout, fut).await
}

/// `tokio::spawn`, keeping the current operation's deadline.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match DEADLINE.try_with(|d| *d) {
        Ok(deadline) => tokio::spawn(DEADLINE.scope(deadline, fut)),
        Err(_) => tokio::spawn(fut),
    }
}

/// The end of a wait of at most `timeout` that starts now, and of the operation's deadline.
fn deadline_for(timeout: Duration) -> (Instant, Duration) {
    let own = Instant::now() + timeout;
    match DEADLINE.try_with(|d| *d) {
        Ok(deadline) if deadline < own => {
            (deadline, deadline.saturating_duration_since(Instant::now()))
        }
        _ => (own, timeout),
    }
}

/// Polls `check` until it yields `Some`, with exponential back-off from 100 ms to 5 s and
/// jitter (backon), for at most `timeout` (or until the operation's deadline). `what` names the state waited for, for
/// the timeout message.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, check: F) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Option<T>>>,
{
    until_or_stopped(&STOP, what, timeout, check).await
}

async fn until_or_stopped<T, F, Fut>(
    stop: &Stop,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Option<T>>>,
{
    /// One look: what was waited for, not yet, or an error that ends the wait.
    enum Look {
        NotYet,
        Failed(AwsError),
    }
    let (_, timeout) = deadline_for(timeout);
    if stop.is_stopped() {
        return Err(interrupted(what));
    }
    let look = || {
        let checked = check();
        async move {
            match checked.await {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(Look::NotYet),
                Err(e) => Err(Look::Failed(e)),
            }
        }
    };
    let polled = look
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(5))
                .with_factor(2.0)
                .with_max_times(usize::MAX)
                .with_total_delay(Some(timeout))
                .with_jitter(),
        )
        .when(|look| matches!(look, Look::NotYet));
    let result = tokio::select! {
        result = polled => result,
        () = stop.stopped() => return Err(interrupted(what)),
    };
    result.map_err(|look| match look {
        Look::Failed(e) => e,
        Look::NotYet => AwsError::other(format!(
            "timed out after {} waiting for {what} (raise the `timeouts` block's value if AWS needs longer)",
            humantime::format_duration(Duration::from_secs(timeout.as_secs().max(1)))
        )),
    })
}

/// What one look at a component being waited on found.
pub enum Seen<T> {
    /// In the state waited for.
    Settled(T),
    /// There, but still changing.
    Settling,
    /// Not found.
    Missing,
}

/// Polls `check` until the component has settled, like [`until`]; a component that reads as
/// not found is waited for during [`NOT_FOUND_GRACE`] (AWS's reads lag behind its writes)
/// before `component` is said to have disappeared.
pub async fn settled<T, F, Fut>(
    component: &str,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AwsResult<Seen<T>>>,
{
    let started = Instant::now();
    until(&format!("{component} to be {what}"), timeout, || {
        let look = check();
        async move {
            match look.await? {
                Seen::Settled(value) => Ok(Some(value)),
                Seen::Settling => Ok(None),
                Seen::Missing if started.elapsed() < NOT_FOUND_GRACE => Ok(None),
                Seen::Missing => Err(AwsError::other(format!(
                    "{component} disappeared while waiting for it to be {what}"
                ))),
            }
        }
    })
    .await
}

/// Retries `op` while `transient` says its error is one that goes away by itself (IAM
/// propagation, a resource still settling from its previous change), with exponential
/// back-off and jitter, for [`PROPAGATION_BUDGET`] at most (or until the operation's
/// deadline). `op` is typically an SDK call's `send()`: its error becomes an [`AwsError`].
pub async fn retry_while<T, E, F, Fut>(transient: fn(&AwsError) -> bool, mut op: F) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    AwsError: From<E>,
{
    let (_, budget) = deadline_for(PROPAGATION_BUDGET);
    let retried = (|| {
        let attempt = op();
        async move { attempt.await.map_err(AwsError::from) }
    })
    .retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(usize::MAX)
            .with_total_delay(Some(budget))
            .with_jitter(),
    )
    .when(transient);
    if STOP.is_stopped() {
        return Err(interrupted("AWS to accept a change"));
    }
    let result = tokio::select! {
        result = retried => result,
        () = STOP.stopped() => return Err(interrupted("AWS to accept a change")),
    };
    // Still refused once the budget is spent: waiting did not cure it, and the user should
    // know it was waited for (a role that never becomes usable, a resource stuck in use).
    result.map_err(|e| {
        if transient(&e) {
            AwsError {
                message: format!(
                    "{} (still refused after retrying for {})",
                    e.message,
                    humantime::format_duration(Duration::from_secs(budget.as_secs().max(1)))
                ),
                ..e
            }
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_component_missing_for_a_moment_is_waited_for() {
        let mut looks = 0;
        let value = settled("thing (t)", "ready", DEFAULT_TIMEOUT, || {
            looks += 1;
            let look = looks;
            async move {
                Ok(match look {
                    1 | 2 => Seen::Missing,
                    3 => Seen::Settling,
                    _ => Seen::Settled(look),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_component_missing_beyond_the_grace_has_disappeared() {
        let err = settled("thing (t)", "ready", DEFAULT_TIMEOUT, || async {
            Ok(Seen::<()>::Missing)
        })
        .await
        .unwrap_err();
        assert_eq!(
            err.message,
            "thing (t) disappeared while waiting for it to be ready"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_wait_at_once() {
        static LOCAL: Stop = Stop::new();
        let started = Instant::now();
        let waiting = tokio::spawn(until_or_stopped(
            &LOCAL,
            "never",
            DEFAULT_TIMEOUT,
            || async { Ok(None::<()>) },
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        LOCAL.stop();
        let err = waiting.await.unwrap().unwrap_err();
        assert!(err
            .message
            .starts_with("interrupted while waiting for never"));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_operations_deadline_ends_a_longer_wait() {
        let started = Instant::now();
        let err = with_deadline(Duration::from_secs(30), async {
            until("never", DEFAULT_TIMEOUT, || async { Ok(None::<()>) }).await
        })
        .await
        .unwrap_err();
        assert!(started.elapsed() <= Duration::from_secs(30));
        assert!(err
            .message
            .starts_with("timed out after 30s waiting for never"));
    }
}
