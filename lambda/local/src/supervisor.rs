//! Every Kinesis event source mapping of one function, each run by [`runner`] for as long as
//! Lambda reads through it: what happens while `terraform apply` replaces a mapping (a renamed
//! function, the analytics engine turned on or off) or moves it to a new version of the
//! function.
//!
//! The mappings are listed every [`runner::POLL_INTERVAL`]. A mapping that appears is started
//! where Lambda starts it: `LATEST` from the moment it was made (its `LastModified`), or the
//! supervisor's start if that is later; `TRIM_HORIZON` from the oldest record. A mapping that is
//! disabled or deleted is stopped (the batches in flight finish; what it had not read yet is
//! not read). A mapping whose function version is deleted before it goes keeps the
//! configuration it read last, or is not started. Each runs the configuration of the function it invokes: a version's is fixed;
//! that of an unqualified mapping (`$LATEST`) is followed as it changes.
//!
//! Where this differs from Lambda: a change is seen up to one poll late (a deleted mapping may
//! read a little longer than Lambda's would); a mapping re-enabled after a pause starts from
//! the moment it was enabled, not from its checkpoint (the runner keeps none across runs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result};
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::runner::{
    self, mappings_of, Fate, FunctionSpec, Mapping, RunStats, RunnerOptions, StartingPosition,
};

/// What to supervise.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// The function's name.
    pub function: String,
    /// The `bootstrap` each mapping's runner runs.
    pub binary: PathBuf,
    /// Environment on top of the function's (the emulator's endpoint and fake credentials).
    pub extra_env: Vec<(String, String)>,
    /// Where the function's metrics go (see [`RunnerOptions::cloudwatch`]).
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// No mapping reads records that arrived before this moment: a mapping made earlier starts
    /// here rather than replaying what it read before the supervisor began.
    pub since: SystemTime,
}

/// One mapping's run, once stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRun {
    pub uuid: String,
    /// The function it invoked when it started (a version's ARN, or the unqualified ARN).
    pub function_arn: String,
    pub source: String,
    pub stats: RunStats,
}

struct Running {
    function_arn: String,
    source: String,
    cancel: watch::Sender<bool>,
    function: watch::Sender<FunctionSpec>,
    task: JoinHandle<Result<RunStats>>,
}

/// Runs every mapping of `options.function` until `cancel` turns true, then stops them all;
/// every record's fate goes to `fates`. Returns each mapping's run, in the order they stopped.
/// Errors: the mappings cannot be listed, a function's configuration cannot be read, or a
/// runner failed (the first such error, once every runner has stopped).
pub async fn supervise(
    lambda: &aws_sdk_lambda::Client,
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    options: SupervisorOptions,
    fates: mpsc::UnboundedSender<Fate>,
    mut cancel: watch::Receiver<bool>,
) -> Result<Vec<MappingRun>> {
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut stopped: Vec<(String, Running)> = Vec::new();
    let watched = async {
        while !*cancel.borrow() {
            let mappings = mappings_of(lambda, &options.function).await?;
            let reading: Vec<&Mapping> = mappings.iter().filter(|m| m.reads()).collect();
            let gone: Vec<String> = running
                .keys()
                .filter(|uuid| !reading.iter().any(|m| &m.uuid == *uuid))
                .cloned()
                .collect();
            for uuid in gone {
                if let Some(run) = running.remove(&uuid) {
                    run.cancel.send_replace(true);
                    stopped.push((uuid, run));
                }
            }
            for mapping in reading {
                let spec = match FunctionSpec::of_function(
                    lambda,
                    &mapping.function_arn,
                    options.binary.clone(),
                    options.extra_env.clone(),
                )
                .await
                {
                    Ok(spec) => spec,
                    // The version it invokes was deleted after the mappings were listed (the
                    // apply that replaced the mapping removes the old version too): the mapping
                    // is going, and the next listing says so.
                    Err(e) if function_gone(&e) => continue,
                    Err(e) => return Err(e),
                };
                match running.get(&mapping.uuid) {
                    Some(run) => {
                        run.function.send_if_modified(|current| {
                            let changed = *current != spec;
                            if changed {
                                *current = spec;
                            }
                            changed
                        });
                    }
                    None => {
                        let run = start(kinesis, s3, &options, mapping, spec, fates.clone());
                        running.insert(mapping.uuid.clone(), run);
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(runner::POLL_INTERVAL) => {}
                _ = cancel.changed() => {}
            }
        }
        anyhow::Ok(())
    }
    .await;
    for (uuid, run) in running.drain() {
        run.cancel.send_replace(true);
        stopped.push((uuid, run));
    }
    let mut runs = Vec::new();
    let mut first_error = watched.err();
    for (uuid, run) in stopped {
        let result = run
            .task
            .await
            .context("a mapping's runner panicked")
            .and_then(|r| r.with_context(|| format!("running event source mapping ({uuid})")));
        match result {
            Ok(stats) => runs.push(MappingRun {
                uuid,
                function_arn: run.function_arn,
                source: run.source,
                stats,
            }),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(runs),
    }
}

/// Whether `error` is Lambda saying the function (or the version) does not exist.
fn function_gone(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<SdkError<GetFunctionConfigurationError>>()
        .and_then(SdkError::as_service_error)
        .is_some_and(GetFunctionConfigurationError::is_resource_not_found_exception)
}

/// Starts the runner of `mapping`, where Lambda would start reading.
fn start(
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    options: &SupervisorOptions,
    mapping: &Mapping,
    spec: FunctionSpec,
    fates: mpsc::UnboundedSender<Fate>,
) -> Running {
    let mut config = mapping.config.clone();
    if config.starting_position == StartingPosition::Latest {
        let made = mapping.last_modified.unwrap_or(options.since);
        config.starting_position = StartingPosition::AtTimestamp(made.max(options.since));
    }
    let (cancel, cancelled) = watch::channel(false);
    let (function, following) = watch::channel(spec.clone());
    let runner_options = RunnerOptions {
        stream: mapping.source.clone(),
        mapping: config,
        function: spec,
        cloudwatch: options.cloudwatch.clone(),
        idle_exit: None,
    };
    let (kinesis, s3) = (kinesis.clone(), s3.clone());
    let task = tokio::spawn(async move {
        runner::run_following(&kinesis, &s3, runner_options, following, fates, cancelled).await
    });
    Running {
        function_arn: mapping.function_arn.clone(),
        source: mapping.source.clone(),
        cancel,
        function,
        task,
    }
}
