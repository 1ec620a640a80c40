//! The replication task: finders, create/update/delete, start and stop (with the connection tests
//! DMS wants first), then its waiters (creating → ready, starting → running, stopping → stopped).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_databasemigration::types::{Filter, MigrationTypeValue, StartReplicationTaskTypeValue};
use aws_sdk_databasemigration::Client;

use crate::aws::{context, AwsError, AwsResult};
use crate::wait;

use super::common::{
    disappeared, filter, found, gone, id_variants, is_role_propagation, non_empty, tags_of,
    to_tags, update_tags, ENDPOINT, TASK,
};
use super::documents::{json_equal, settings_match};

/// The settings a replication task should have.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub identifier: String,
    pub instance_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    /// `cdc`, `full-load-and-cdc` or `full-load`.
    pub migration_type: String,
    /// The table mappings document (JSON).
    pub table_mappings: String,
    /// Task settings (JSON): only the keys given are managed, DMS fills in the rest.
    pub settings: Option<String>,
    /// Whether the task should run. `false` never stops a running task: stopping replication
    /// is an operator's decision, not a side effect of a plan.
    pub start: bool,
    pub tags: BTreeMap<String, String>,
}

/// A replication task as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub identifier: String,
    pub arn: String,
    pub status: String,
    pub instance_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    pub migration_type: String,
    /// As returned (compare with [`json_equal`]).
    pub table_mappings: String,
    /// As returned: DMS's full settings document (compare with [`settings_match`]).
    pub settings: Option<String>,
    /// The task was started at least once (it has a start date), so a later start resumes it.
    pub has_run: bool,
    pub tags: BTreeMap<String, String>,
    /// Why the task stopped or failed, as DMS says it (LastFailureMessage, else StopReason).
    failure: Option<String>,
}

/// Describes the replication task `id`, with its settings and tags; `None` if it does not
/// exist.
pub async fn find_task_by_id(client: &Client, id: &str) -> AwsResult<Option<Task>> {
    let Some(task) = describe_task_by_id(client, id).await? else {
        return Ok(None);
    };
    Ok(Some(with_task_tags(client, task).await?))
}

/// Describes the replication task `id` with its settings, without its tags (a refresh does
/// not compare them).
pub async fn describe_task_by_id(client: &Client, id: &str) -> AwsResult<Option<Task>> {
    for id in id_variants(id) {
        if let Some(task) = describe_task(client, filter("replication-task-id", &id)).await? {
            return Ok(Some(task));
        }
    }
    Ok(None)
}

/// The tasks that run on the replication instance `instance_arn`, with their tags.
pub async fn find_tasks_by_instance(client: &Client, instance_arn: &str) -> AwsResult<Vec<Task>> {
    let mut tasks = Vec::new();
    for task in describe_tasks(
        client,
        filter("replication-instance-arn", instance_arn),
        true,
    )
    .await?
    {
        tasks.push(with_task_tags(client, task).await?);
    }
    Ok(tasks)
}

async fn find_task_by_arn(client: &Client, arn: &str) -> AwsResult<Option<Task>> {
    let Some(task) = describe_task(client, filter("replication-task-arn", arn)).await? else {
        return Ok(None);
    };
    Ok(Some(with_task_tags(client, task).await?))
}

async fn with_task_tags(client: &Client, task: Task) -> AwsResult<Task> {
    let tags = tags_of(client, &task.arn).await?;
    Ok(Task { tags, ..task })
}

/// The task matching `by`, with its settings and without tags (what the waiters poll).
async fn describe_task(client: &Client, by: Filter) -> AwsResult<Option<Task>> {
    Ok(describe_tasks(client, by, true).await?.into_iter().next())
}

/// Every task matching `by`, without tags.
pub(super) async fn describe_tasks(
    client: &Client,
    by: Filter,
    with_settings: bool,
) -> AwsResult<Vec<Task>> {
    let mut tasks = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = found(
            client
                .describe_replication_tasks()
                .filters(by.clone())
                .without_settings(!with_settings)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(AwsError::from),
        )?;
        let Some(out) = out else {
            return Ok(tasks);
        };
        tasks.extend(
            out.replication_tasks
                .unwrap_or_default()
                .into_iter()
                .map(flatten_task),
        );
        marker = out.marker.filter(|m| !m.is_empty());
        if marker.is_none() {
            return Ok(tasks);
        }
    }
}

fn flatten_task(t: aws_sdk_databasemigration::types::ReplicationTask) -> Task {
    let status = t.status.unwrap_or_default();
    let stats = t.replication_task_stats.as_ref();
    let has_run = t.replication_task_start_date.is_some()
        || stats.is_some_and(|s| s.start_date.is_some() || s.fresh_start_date.is_some())
        || matches!(status.as_str(), "running" | "stopping");
    Task {
        identifier: t.replication_task_identifier.unwrap_or_default(),
        arn: t.replication_task_arn.unwrap_or_default(),
        instance_arn: t.replication_instance_arn.unwrap_or_default(),
        source_arn: t.source_endpoint_arn.unwrap_or_default(),
        target_arn: t.target_endpoint_arn.unwrap_or_default(),
        migration_type: t
            .migration_type
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        table_mappings: t.table_mappings.unwrap_or_default(),
        settings: non_empty(t.replication_task_settings),
        has_run,
        tags: BTreeMap::new(),
        failure: non_empty(t.last_failure_message).or_else(|| non_empty(t.stop_reason)),
        status,
    }
}

/// Creates the task and waits for it to be ready; then, if `spec.start`, starts it and waits
/// for it to run.
pub async fn create_task(client: &Client, spec: &TaskSpec, timeout: Duration) -> AwsResult<Task> {
    let err = |e: AwsError| context("creating", TASK, &spec.identifier, e);
    let out = client
        .create_replication_task()
        .replication_task_identifier(&spec.identifier)
        .replication_instance_arn(&spec.instance_arn)
        .source_endpoint_arn(&spec.source_arn)
        .target_endpoint_arn(&spec.target_arn)
        .migration_type(MigrationTypeValue::from(spec.migration_type.as_str()))
        .table_mappings(&spec.table_mappings)
        .set_replication_task_settings(spec.settings.clone())
        .set_tags(to_tags(&spec.tags))
        .send()
        .await
        .map_err(|e| err(e.into()))?;
    let task = out
        .replication_task
        .map(flatten_task)
        .ok_or_else(|| err(disappeared("created")))?;
    let task = wait_task_ready(client, &task, timeout).await.map_err(err)?;
    let task = if spec.start {
        start_task(client, &task, timeout).await.map_err(err)?
    } else {
        task
    };
    Ok(Task {
        tags: spec.tags.clone(),
        ..task
    })
}

/// Whether going from `current` to `spec` needs a new task: DMS cannot move a task to another
/// instance or other endpoints.
pub fn task_needs_replacement(current: &Task, spec: &TaskSpec) -> bool {
    current.instance_arn != spec.instance_arn
        || current.source_arn != spec.source_arn
        || current.target_arn != spec.target_arn
}

/// Brings an existing task to `spec` in place.
///
/// When the migration type, the table mappings or the given settings differ, the task is
/// stopped if it runs (DMS modifies only stopped or ready tasks), modified with just what
/// changed, and started again if it ran before the change — or if `spec.start` asks for a
/// task that never ran. With nothing to modify, a ready or stopped task is started when
/// `spec.start` is true (except a full-load task that has run: it stopped because it
/// finished). `spec.start == false` never stops a running task. A start resumes a task that
/// ran before and starts a fresh replication otherwise. Then tags.
pub async fn update_task(
    client: &Client,
    current: &Task,
    spec: &TaskSpec,
    timeout: Duration,
) -> AwsResult<Task> {
    let err = |e: AwsError| context("updating", TASK, &spec.identifier, e);
    let type_changed = current.migration_type != spec.migration_type;
    let mappings_changed = !json_equal(&current.table_mappings, &spec.table_mappings);
    let settings_changed = spec.settings.as_deref().is_some_and(|given| {
        current
            .settings
            .as_deref()
            .is_none_or(|actual| !settings_match(given, actual))
    });
    let mut task = current.clone();
    if type_changed || mappings_changed || settings_changed {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let was_running = task.status == "running";
        if was_running {
            stop_task(client, &task).await.map_err(err)?;
            task = wait_task_stopped(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let modified = async {
            client
                .modify_replication_task()
                .replication_task_arn(&task.arn)
                .set_migration_type(
                    type_changed.then(|| MigrationTypeValue::from(spec.migration_type.as_str())),
                )
                .set_table_mappings(mappings_changed.then(|| spec.table_mappings.clone()))
                .set_replication_task_settings(
                    settings_changed.then(|| spec.settings.clone()).flatten(),
                )
                .send()
                .await?;
            wait_task_modified(client, &task, timeout).await
        }
        .await;
        match modified {
            Ok(task) => {
                if was_running || (spec.start && !task.has_run) {
                    start_task(client, &task, timeout).await.map_err(err)?;
                }
            }
            // A refused change leaves the task as it was: it goes on replicating meanwhile.
            Err(e) if was_running => {
                return Err(match start_task(client, &task, timeout).await {
                    Ok(_) => err(e),
                    Err(resume) => err(AwsError {
                        message: format!("{}; resuming the task failed too: {resume}", e.message),
                        ..e
                    }),
                });
            }
            Err(e) => return Err(err(e)),
        }
    } else if spec.start && task.status != "running" {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        let finished = task.has_run && task.migration_type == "full-load";
        if task.status == "ready" || (task.status == "stopped" && !finished) {
            start_task(client, &task, timeout).await.map_err(err)?;
        }
    }
    update_tags(client, &current.arn, &current.tags, &spec.tags)
        .await
        .map_err(err)?;
    find_task_by_arn(client, &current.arn)
        .await
        .map_err(err)?
        .ok_or_else(|| err(disappeared("updated")))
}

/// Deletes the task (stopping it first if it runs) and waits until it is gone; not-found is
/// success.
pub async fn delete_task(client: &Client, arn: &str, timeout: Duration) -> AwsResult<()> {
    let Some(mut task) = describe_task(client, filter("replication-task-arn", arn)).await? else {
        return Ok(());
    };
    let id = task.identifier.clone();
    let err = |e: AwsError| context("deleting", TASK, &id, e);
    if task.status != "deleting" {
        if !is_settled(&task) {
            task = wait_task_settled(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        if task.status == "running" {
            stop_task(client, &task).await.map_err(err)?;
            wait_task_stopped(client, &task, timeout)
                .await
                .map_err(err)?;
        }
        gone(
            client
                .delete_replication_task()
                .replication_task_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from),
        )
        .map_err(err)?;
    }
    wait_task_deleted(client, &task, timeout).await.map_err(err)
}

/// Starts a ready, stopped or failed task — resuming it if it ran before — and waits until it
/// runs.
pub(super) async fn start_task(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    let start_type = if task.has_run {
        StartReplicationTaskTypeValue::ResumeProcessing
    } else {
        StartReplicationTaskTypeValue::StartReplication
    };
    // DMS starts (and resumes) a task only once its instance has connected to both endpoints.
    futures::try_join!(
        test_connection(client, &task.instance_arn, &task.source_arn, timeout),
        test_connection(client, &task.instance_arn, &task.target_arn, timeout),
    )?;
    // The target's access role may have been created moments ago.
    wait::retry_while(is_role_propagation, || {
        client
            .start_replication_task()
            .replication_task_arn(&task.arn)
            .start_replication_task_type(start_type.clone())
            .send()
    })
    .await?;
    wait_task_running(client, task, timeout).await
}

/// A connection test of a replication instance with an endpoint, as DMS reports it.
struct Connection {
    status: String,
    failure: Option<String>,
    endpoint: String,
}

async fn find_connection(
    client: &Client,
    instance_arn: &str,
    endpoint_arn: &str,
) -> AwsResult<Option<Connection>> {
    let out = client
        .describe_connections()
        .filters(filter("replication-instance-arn", instance_arn))
        .filters(filter("endpoint-arn", endpoint_arn))
        .send()
        .await;
    let out = match out.map_err(AwsError::from) {
        Ok(out) => out,
        Err(e) if e.code_is("ResourceNotFoundFault") => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(out
        .connections()
        .iter()
        .find(|c| c.endpoint_arn() == Some(endpoint_arn))
        .map(|c| Connection {
            status: c.status().unwrap_or_default().to_string(),
            failure: non_empty(c.last_failure_message().map(str::to_string)),
            endpoint: c.endpoint_identifier().unwrap_or(endpoint_arn).to_string(),
        }))
}

/// Makes sure the instance's connection to the endpoint has tested successful (DMS refuses to
/// start a task otherwise, and again after its endpoint changed): tests it unless it already
/// has, and waits for the result. A failed test is the user's to fix: its message (DMS's own:
/// the host, the port, the driver's error) says what could not be reached.
async fn test_connection(
    client: &Client,
    instance_arn: &str,
    endpoint_arn: &str,
    timeout: Duration,
) -> AwsResult<()> {
    let current = find_connection(client, instance_arn, endpoint_arn).await?;
    if current.as_ref().is_some_and(|c| c.status == "successful") {
        return Ok(());
    }
    if current.as_ref().is_none_or(|c| c.status != "testing") {
        client
            .test_connection()
            .replication_instance_arn(instance_arn)
            .endpoint_arn(endpoint_arn)
            .send()
            .await
            .map_err(|e| {
                let e = AwsError::from(e);
                AwsError {
                    message: format!(
                        "testing the connection to {ENDPOINT} ({endpoint_arn}): {}",
                        e.message
                    ),
                    ..e
                }
            })?;
    }
    let connection = wait::settled(
        &format!("the connection test of {ENDPOINT} ({endpoint_arn})"),
        "finished",
        timeout,
        || async {
            Ok(
                match find_connection(client, instance_arn, endpoint_arn).await? {
                    Some(c) if c.status == "testing" => wait::Seen::Settling,
                    Some(c) => wait::Seen::Settled(c),
                    None => wait::Seen::Missing,
                },
            )
        },
    )
    .await?;
    if connection.status == "successful" {
        return Ok(());
    }
    Err(AwsError::other(format!(
        "the replication instance could not connect to {ENDPOINT} ({}), so the task cannot start: {}. Check the endpoint's server name and port, that the database accepts connections from the instance's subnets and security groups (`source.vpc_security_group_ids`), and the credentials",
        connection.endpoint,
        connection
            .failure
            .unwrap_or_else(|| format!("the test ended {}", connection.status)),
    )))
}

pub(super) async fn stop_task(client: &Client, task: &Task) -> AwsResult<()> {
    client
        .stop_replication_task()
        .replication_task_arn(&task.arn)
        .send()
        .await
        .map(|_| ())
        .map_err(AwsError::from)
}

/// A task in one of these states is not in transition: it can be started, stopped, modified
/// or deleted. Anything else (creating, starting, stopping, modifying, moving, and whatever
/// DMS adds) is waited through.
pub(super) fn is_settled(task: &Task) -> bool {
    matches!(
        task.status.as_str(),
        "ready" | "running" | "stopped" | "failed"
    )
}

/// Polls the task until `done` says it reached the awaited state; a task that disappears is
/// an error, and so is a failed task unless `done` accepts it.
async fn wait_task(
    client: &Client,
    task: &Task,
    state: &str,
    timeout: Duration,
    done: impl Fn(&Task) -> AwsResult<bool>,
) -> AwsResult<Task> {
    let name = task.identifier.as_str();
    wait::until(
        &format!("{TASK} ({name}) to be {state}"),
        timeout,
        || async {
            let Some(now) =
                describe_task(client, filter("replication-task-arn", &task.arn)).await?
            else {
                return Err(AwsError::other(format!(
                    "{TASK} ({name}) disappeared while waiting for it to be {state}"
                )));
            };
            if done(&now)? {
                Ok(Some(now))
            } else if now.status == "failed" {
                Err(failed(&now))
            } else {
                Ok(None)
            }
        },
    )
    .await
}

async fn wait_task_ready(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "ready", timeout, |t| Ok(t.status == "ready")).await
}

pub(super) async fn wait_task_settled(
    client: &Client,
    task: &Task,
    timeout: Duration,
) -> AwsResult<Task> {
    wait_task(client, task, "settled", timeout, |t| Ok(is_settled(t))).await
}

/// After ModifyReplicationTask: the task goes back to ready, stopped or failed.
async fn wait_task_modified(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    wait_task(client, task, "modified", timeout, |t| {
        Ok(matches!(t.status.as_str(), "ready" | "stopped" | "failed"))
    })
    .await
}

pub(super) async fn wait_task_stopped(
    client: &Client,
    task: &Task,
    timeout: Duration,
) -> AwsResult<Task> {
    wait_task(client, task, "stopped", timeout, |t| {
        Ok(matches!(t.status.as_str(), "stopped" | "failed" | "ready"))
    })
    .await
}

/// After StartReplicationTask: waits for running. A task that stops once it has been seen
/// starting either finished (a full-load task) or gave up (anything else: an error with its
/// stop reason); a `stopped` seen before that is the state from before the start.
async fn wait_task_running(client: &Client, task: &Task, timeout: Duration) -> AwsResult<Task> {
    let started = AtomicBool::new(false);
    wait_task(client, task, "running", timeout, |t| {
        match t.status.as_str() {
            "running" => return Ok(true),
            "starting" => started.store(true, Ordering::Relaxed),
            "stopped" if started.load(Ordering::Relaxed) => {
                return if t.migration_type == "full-load" {
                    Ok(true)
                } else {
                    Err(AwsError::other(format!(
                        "{TASK} ({}) stopped instead of running: {}",
                        t.identifier,
                        t.failure.as_deref().unwrap_or("no reason given")
                    )))
                };
            }
            _ => {}
        }
        Ok(false)
    })
    .await
}

async fn wait_task_deleted(client: &Client, task: &Task, timeout: Duration) -> AwsResult<()> {
    let name = task.identifier.as_str();
    wait::until(
        &format!("{TASK} ({name}) to be deleted"),
        timeout,
        || async {
            let now = describe_task(client, filter("replication-task-arn", &task.arn)).await?;
            Ok(now.is_none().then_some(()))
        },
    )
    .await
}

fn failed(task: &Task) -> AwsError {
    AwsError::other(format!(
        "{TASK} ({}) failed: {}",
        task.identifier,
        task.failure.as_deref().unwrap_or("no reason given")
    ))
}
