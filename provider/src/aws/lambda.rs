//! The persist function and its Kinesis event source mapping.
//!
//! Finders, create/update/delete and waiters for both. A function accepts one code or
//! configuration update at a time (LastUpdateStatus InProgress → Successful), and a freshly
//! created role may not be assumable yet, so creation retries the IAM-propagation errors.
//!
//! Every create and update of the function publishes a version, and the mapping invokes that
//! version (its qualified ARN), not `$LATEST`: a mapping keeps invoking the code and
//! configuration it was made for while another mapping, made for a new configuration, takes
//! over — the old one never hands its records to a function changed under it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    ApplicationLogLevel, Architecture, DeadLetterConfig, DestinationConfig, Environment,
    EphemeralStorage, EventSourcePosition, FileSystemConfig, FunctionCode, FunctionConfiguration,
    FunctionResponseType, LastUpdateStatus, LogFormat, LoggingConfig, OnFailure, Runtime, State,
    TracingConfigResponse, VpcConfigResponse,
};
use aws_sdk_lambda::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult};
use crate::wait;

/// What errors call this service's component.
const COMPONENT: &str = "Lambda function";
/// What errors call a function's event source mapping.
const MAPPING: &str = "Kinesis event source mapping of Lambda function";

/// The settings the function should have.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub name: String,
    pub role_arn: String,
    pub architecture: String,
    pub memory_size: i32,
    pub timeout: i32,
    /// The deployment package (a zip holding `bootstrap`).
    pub zip: Arc<Vec<u8>>,
    /// Base64 SHA-256 of `zip`, as Lambda reports `CodeSha256`.
    pub code_sha256: String,
    pub environment: BTreeMap<String, String>,
    /// The function's log format and level; `None`: left as it is.
    pub logging: Option<Logging>,
    pub tags: BTreeMap<String, String>,
}

/// A function's logging controls (`LoggingConfig`): `Text` or `JSON`, and with `JSON` the
/// level of the application's logs Lambda keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Logging {
    pub format: String,
    pub level: Option<String>,
}

impl Logging {
    fn config(&self) -> LoggingConfig {
        LoggingConfig::builder()
            .log_format(LogFormat::from(self.format.as_str()))
            .set_application_log_level(self.level.as_deref().map(ApplicationLogLevel::from))
            .build()
    }
}

/// A function as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    pub architecture: String,
    pub memory_size: i32,
    pub timeout: i32,
    pub code_sha256: String,
    /// `provided.al2023` with handler `bootstrap` for the persist function; a function made
    /// elsewhere (and adopted by an import) may run another runtime.
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub logging: Logging,
    pub tags: BTreeMap<String, String>,
    state: Option<State>,
    last_update: Option<LastUpdateStatus>,
}

/// The persist function's handler: the `bootstrap` binary of its package (custom runtime).
const HANDLER: &str = "bootstrap";

/// A function brought to its spec, and the version that snapshot was published as.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub function: Function,
    /// The version number (`"1"`, `"2"`, …) holding the function's code and configuration.
    pub version: String,
}

/// The function name and the qualifier (a version or an alias; `None` for `$LATEST`) of a
/// function ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
pub fn function_of(arn: &str) -> (&str, Option<&str>) {
    let rest = arn.split_once(":function:").map_or(arn, |(_, rest)| rest);
    match rest.split_once(':') {
        Some((name, "$LATEST")) => (name, None),
        Some((name, qualifier)) => (name, Some(qualifier)),
        None => (rest, None),
    }
}

/// Describes the function `name` with its tags; `None` if it does not exist.
pub async fn find_function_by_name(client: &Client, name: &str) -> AwsResult<Option<Function>> {
    let out = found(
        client
            .get_function()
            .function_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    let Some(out) = out else { return Ok(None) };
    let Some(config) = out.configuration else {
        return Ok(None);
    };
    Ok(Some(Function {
        name: config
            .function_name
            .clone()
            .unwrap_or_else(|| name.to_string()),
        arn: config.function_arn.clone().unwrap_or_default(),
        role_arn: config.role.clone().unwrap_or_default(),
        architecture: config
            .architectures()
            .first()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| "x86_64".to_string()),
        memory_size: config.memory_size.unwrap_or_default(),
        timeout: config.timeout.unwrap_or_default(),
        code_sha256: config.code_sha256.clone().unwrap_or_default(),
        runtime: config.runtime.as_ref().map(|r| r.as_str().to_string()),
        handler: config.handler.clone(),
        environment: config
            .environment
            .as_ref()
            .and_then(|e| e.variables.clone())
            .unwrap_or_default()
            .into_iter()
            .collect(),
        logging: config
            .logging_config
            .as_ref()
            .map(|l| {
                let format = l.log_format().map_or("Text", |f| f.as_str()).to_string();
                Logging {
                    level: l
                        .application_log_level()
                        .filter(|_| format == "JSON")
                        .map(|a| a.as_str().to_string()),
                    format,
                }
            })
            .unwrap_or_else(|| Logging {
                format: "Text".into(),
                level: None,
            }),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
        state: config.state.clone(),
        last_update: config.last_update_status.clone(),
    }))
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(
            spec.environment
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        ))
        .build()
}

/// IAM has not propagated the new role (or its policy) to Lambda yet.
fn is_role_propagation(err: &AwsError) -> bool {
    err.code_is("InvalidParameterValueException")
        && (err.message.contains("cannot be assumed")
            || err.message.contains("role")
            || err.message.contains("permission")
            || err.message.contains("not authorized"))
}

/// The function is still settling (Pending after create, or an update in progress): 409
/// ResourceConflictException, waited out.
fn is_settling(err: &AwsError) -> bool {
    err.code_is("ResourceConflictException")
}

fn is_role_propagation_or_settling(err: &AwsError) -> bool {
    is_role_propagation(err) || is_settling(err)
}

/// Creates the function, publishing its first version, and waits for it to be Active.
pub async fn create_function(client: &Client, spec: &FunctionSpec) -> AwsResult<Published> {
    let (owned_client, owned_spec) = (client.clone(), spec.clone());
    let created = on_own_task(async move {
        let (client, spec) = (&owned_client, &owned_spec);
        wait::retry_while(is_role_propagation, || {
            client
                .create_function()
                .function_name(&spec.name)
                .runtime(Runtime::Providedal2023)
                .handler(HANDLER)
                .role(&spec.role_arn)
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(spec.zip.as_slice()))
                        .build(),
                )
                .architectures(Architecture::from(spec.architecture.as_str()))
                .memory_size(spec.memory_size)
                .timeout(spec.timeout)
                .environment(environment(spec))
                .set_logging_config(spec.logging.as_ref().map(Logging::config))
                .description("unifiedetl persist function: Kinesis batches to DynamoDB")
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .publish(true)
                .send()
        })
        .await
        .map_err(|e| context("creating", COMPONENT, &spec.name, e))
    })
    .await?;
    let function = wait_function_ready(client, &spec.name).await?;
    let version = match created.version() {
        Some(v) if v != "$LATEST" => v.to_string(),
        // Published as it was created; asked for again should the answer not say which.
        _ => publish_version(client, &spec.name, &function.code_sha256).await?,
    };
    Ok(Published { function, version })
}

/// Publishes the function's code and configuration as a version and returns its number; with
/// nothing changed since the last one, Lambda publishes nothing and answers that one.
/// `code_sha256` guards against publishing code another tool uploaded meanwhile.
pub async fn publish_version(client: &Client, name: &str, code_sha256: &str) -> AwsResult<String> {
    let out = wait::retry_while(is_settling, || {
        client
            .publish_version()
            .function_name(name)
            .code_sha256(code_sha256)
            .send()
    })
    .await
    .map_err(|e| context("publishing a version of", COMPONENT, name, e))?;
    Ok(out.version().unwrap_or_default().to_string())
}

/// The function's latest published version (the highest number) when it holds what `$LATEST`
/// holds, so that publishing again answers that one; `None` when `$LATEST` has changed since
/// (the next publish makes a new version), none is published, or the function does not exist.
pub async fn current_version(client: &Client, name: &str) -> AwsResult<Option<String>> {
    let mut pages = client
        .list_versions_by_function()
        .function_name(name)
        .into_paginator()
        .send();
    let mut latest: Option<FunctionConfiguration> = None;
    let mut newest: Option<(u64, FunctionConfiguration)> = None;
    while let Some(page) = pages.next().await {
        let Some(page) = found(page.map_err(AwsError::from))? else {
            return Ok(None);
        };
        for config in page.versions.unwrap_or_default() {
            match config.version.as_deref() {
                Some("$LATEST") => latest = Some(config),
                Some(v) => {
                    if let Ok(n) = v.parse::<u64>() {
                        if newest.as_ref().is_none_or(|(m, _)| n > *m) {
                            newest = Some((n, config));
                        }
                    }
                }
                None => {}
            }
        }
    }
    Ok(match (latest, newest) {
        (Some(latest), Some((n, version)))
            if published_part(&latest) == published_part(&version) =>
        {
            Some(n.to_string())
        }
        _ => None,
    })
}

/// What a version of a function snapshots of its `$LATEST`: its code and configuration.
#[derive(PartialEq)]
struct Snapshot<'a> {
    code_sha256: Option<&'a str>,
    role: Option<&'a str>,
    memory_size: Option<i32>,
    timeout: Option<i32>,
    environment: Option<&'a HashMap<String, String>>,
    runtime: Option<&'a Runtime>,
    handler: Option<&'a str>,
    description: Option<&'a str>,
    layers: Vec<Option<&'a str>>,
    logging: Option<&'a LoggingConfig>,
    architectures: &'a [Architecture],
    vpc: Option<&'a VpcConfigResponse>,
    dead_letter: Option<&'a DeadLetterConfig>,
    kms_key_arn: Option<&'a str>,
    tracing: Option<&'a TracingConfigResponse>,
    file_systems: &'a [FileSystemConfig],
    ephemeral_storage: Option<&'a EphemeralStorage>,
}

fn published_part(c: &FunctionConfiguration) -> Snapshot<'_> {
    Snapshot {
        code_sha256: c.code_sha256(),
        role: c.role(),
        memory_size: c.memory_size(),
        timeout: c.timeout(),
        environment: c.environment().and_then(|e| e.variables()),
        runtime: c.runtime(),
        handler: c.handler(),
        description: c.description(),
        layers: c.layers().iter().map(|l| l.arn()).collect(),
        logging: c.logging_config(),
        architectures: c.architectures(),
        vpc: c.vpc_config(),
        dead_letter: c.dead_letter_config(),
        kms_key_arn: c.kms_key_arn(),
        tracing: c.tracing_config(),
        file_systems: c.file_system_configs(),
        ephemeral_storage: c.ephemeral_storage(),
    }
}

/// Deletes one version of the function (one no mapping invokes any longer); not-found is
/// success.
pub async fn delete_version(client: &Client, name: &str, version: &str) -> AwsResult<()> {
    gone(
        client
            .delete_function()
            .function_name(name)
            .qualifier(version)
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from),
    )
    .map_err(|e| {
        context(
            &format!("deleting version {version} of"),
            COMPONENT,
            name,
            e,
        )
    })
}

/// Runs `call` (one carrying the deployment package) on a task of its own, so on another
/// worker thread when one is free: the package goes out as megabytes of base64 in JSON, hashed
/// whole for the signature (and encrypted, on TLS). On the pipeline's one task that work held
/// up the other components' calls (a DMS endpoint's create waited ~25 ms behind it in the
/// provider benchmark's log).
async fn on_own_task<T: Send + 'static>(
    call: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    match wait::spawn(call).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Brings an existing function to `spec`: code (when the package's SHA-256 or the
/// architecture differ), configuration, a version of them (the one published already when
/// neither changed), tags.
pub async fn update_function(
    client: &Client,
    current: &Function,
    spec: &FunctionSpec,
) -> AwsResult<Published> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("updating", COMPONENT, name, e);
    if current.code_sha256 != spec.code_sha256 || current.architecture != spec.architecture {
        let request = client
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(spec.zip.as_slice()))
            .architectures(Architecture::from(spec.architecture.as_str()));
        on_own_task(async move { wait::retry_while(is_settling, || request.clone().send()).await })
            .await
            .map_err(err)?;
        wait_function_ready(client, name).await?;
    }
    let runtime_differs = current.runtime.as_deref() != Some(Runtime::Providedal2023.as_str())
        || current.handler.as_deref() != Some(HANDLER);
    if runtime_differs
        || current.role_arn != spec.role_arn
        || current.memory_size != spec.memory_size
        || current.timeout != spec.timeout
        || current.environment != spec.environment
        || spec.logging.as_ref().is_some_and(|l| *l != current.logging)
    {
        wait::retry_while(is_role_propagation_or_settling, || {
            client
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::Providedal2023)
                .handler(HANDLER)
                .role(&spec.role_arn)
                .memory_size(spec.memory_size)
                .timeout(spec.timeout)
                .environment(environment(spec))
                .set_logging_config(spec.logging.as_ref().map(Logging::config))
                .send()
        })
        .await
        .map_err(err)?;
        wait_function_ready(client, name).await?;
    }
    let version = publish_version(client, name, &spec.code_sha256).await?;
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    if !remove.is_empty() {
        client
            .untag_resource()
            .resource(&current.arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    if !set.is_empty() {
        client
            .tag_resource()
            .resource(&current.arn)
            .set_tags(Some(set.into_iter().collect()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    let function = wait_function_ready(client, name).await?;
    Ok(Published { function, version })
}

/// Deletes the function with all its versions; not-found is success.
pub async fn delete_function(client: &Client, name: &str) -> AwsResult<()> {
    gone(
        client
            .delete_function()
            .function_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from),
    )
    .map_err(|e| context("deleting", COMPONENT, name, e))
}

/// Waits until the function is Active with no update in progress.
pub async fn wait_function_ready(client: &Client, name: &str) -> AwsResult<Function> {
    wait::settled(
        &format!("Lambda function ({name})"),
        "Active",
        wait::DEFAULT_TIMEOUT,
        || async {
            let Some(f) = find_function_by_name(client, name).await? else {
                return Ok(wait::Seen::Missing);
            };
            if matches!(f.state, Some(State::Failed))
                || matches!(f.last_update, Some(LastUpdateStatus::Failed))
            {
                return Err(AwsError::other(format!(
                    "Lambda function ({name}) is in a Failed state"
                )));
            }
            let settled = matches!(f.state, None | Some(State::Active | State::Inactive))
                && !matches!(f.last_update, Some(LastUpdateStatus::InProgress));
            Ok(if settled {
                wait::Seen::Settled(f)
            } else {
                wait::Seen::Settling
            })
        },
    )
    .await
}

/// The settings the Kinesis event source mapping should have.
/// `ReportBatchItemFailures` is always on: the function reports partial failures.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    pub function_name: String,
    /// The function's version the mapping invokes.
    pub version: String,
    pub source_arn: String,
    pub starting_position: String,
    pub batch_size: i32,
    pub batching_window: i32,
    pub parallelization_factor: i32,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: i32,
    pub maximum_record_age: i32,
    /// Where Lambda sends the records of a batch it gives up on (an S3 bucket ARN).
    pub on_failure: Option<String>,
    /// Whether the mapping reads: disabled, it keeps its place in the stream and resumes from
    /// there when enabled again.
    pub enabled: bool,
}

/// A mapping as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub uuid: String,
    pub function_arn: String,
    pub source_arn: String,
    pub starting_position: String,
    pub batch_size: i32,
    pub batching_window: i32,
    pub parallelization_factor: i32,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: i32,
    pub maximum_record_age: i32,
    pub reports_batch_item_failures: bool,
    pub on_failure: Option<String>,
    pub state: String,
}

impl MappingSpec {
    /// The function as the mapping names it: `<name>:<version>`.
    fn qualified(&self) -> String {
        format!("{}:{}", self.function_name, self.version)
    }
}

impl Mapping {
    /// Whether the mapping invokes the function `name` (any version of it).
    pub fn invokes(&self, name: &str) -> bool {
        function_of(&self.function_arn).0 == name
    }

    /// The version of the function it invokes; `None`: `$LATEST` (or an alias).
    pub fn version(&self) -> Option<&str> {
        function_of(&self.function_arn)
            .1
            .filter(|q| q.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Whether the mapping reads (or is about to); `None` while an update hides it.
    pub fn enabled(&self) -> Option<bool> {
        match self.state.as_str() {
            "Enabled" | "Enabling" | "Creating" => Some(true),
            "Disabled" | "Disabling" => Some(false),
            _ => None,
        }
    }
}

fn flatten_mapping(
    m: &aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput,
) -> Mapping {
    Mapping {
        uuid: m.uuid().unwrap_or_default().to_string(),
        function_arn: m.function_arn().unwrap_or_default().to_string(),
        source_arn: m.event_source_arn().unwrap_or_default().to_string(),
        starting_position: m
            .starting_position()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        batch_size: m.batch_size().unwrap_or_default(),
        batching_window: m.maximum_batching_window_in_seconds().unwrap_or_default(),
        parallelization_factor: m.parallelization_factor().unwrap_or(1),
        bisect_on_error: m.bisect_batch_on_function_error().unwrap_or_default(),
        maximum_retry_attempts: m.maximum_retry_attempts().unwrap_or(-1),
        maximum_record_age: m.maximum_record_age_in_seconds().unwrap_or(-1),
        reports_batch_item_failures: m
            .function_response_types()
            .contains(&FunctionResponseType::ReportBatchItemFailures),
        on_failure: m
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination())
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        state: m.state().unwrap_or_default().to_string(),
    }
}

fn destination(on_failure: &Option<String>) -> DestinationConfig {
    DestinationConfig::builder()
        .on_failure(
            OnFailure::builder()
                .set_destination(on_failure.clone())
                .build(),
        )
        .build()
}

/// Describes the mapping `uuid`; `None` if it does not exist (or is being deleted).
pub async fn find_mapping_by_uuid(client: &Client, uuid: &str) -> AwsResult<Option<Mapping>> {
    let out = found(
        client
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    Ok(out
        .map(|o| flatten_mapping(&o))
        .filter(|m| m.state != "Deleting"))
}

/// Finds the mapping from `source_arn` to the function `function_name` (any version of it),
/// if there is one (used to adopt a mapping whose creation was interrupted before its id
/// reached the state, or one an import finds). Listed by stream: a filter on the function
/// matches one qualifier only.
pub async fn find_mapping_by_function_and_source(
    client: &Client,
    function_name: &str,
    source_arn: &str,
) -> AwsResult<Option<Mapping>> {
    let out = found(
        client
            .list_event_source_mappings()
            .event_source_arn(source_arn)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    let Some(uuid) = out
        .as_ref()
        .and_then(|o| {
            o.event_source_mappings().iter().find(|m| {
                m.function_arn()
                    .is_some_and(|arn| function_of(arn).0 == function_name)
            })
        })
        .and_then(|m| m.uuid())
    else {
        return Ok(None);
    };
    find_mapping_by_uuid(client, uuid).await
}

/// The function's role may not be able to read the stream yet (IAM propagation).
fn is_mapping_propagation(err: &AwsError) -> bool {
    err.code_is("InvalidParameterValueException")
        && (err.message.contains("permission")
            || err.message.contains("not authorized")
            || err.message.contains("role"))
}

/// The mapping is still Creating or Updating: ResourceInUseException, waited out.
fn is_mapping_busy(err: &AwsError) -> bool {
    err.code_is("ResourceInUseException")
}

/// Creates the mapping and waits until it is enabled.
pub async fn create_mapping(client: &Client, spec: &MappingSpec) -> AwsResult<Mapping> {
    let err = |e: AwsError| context("creating", MAPPING, &spec.function_name, e);
    let uuid = wait::retry_while(is_mapping_propagation, || async {
        let out = client
            .create_event_source_mapping()
            .event_source_arn(&spec.source_arn)
            .function_name(spec.qualified())
            .starting_position(EventSourcePosition::from(spec.starting_position.as_str()))
            .batch_size(spec.batch_size)
            .maximum_batching_window_in_seconds(spec.batching_window)
            .parallelization_factor(spec.parallelization_factor)
            .bisect_batch_on_function_error(spec.bisect_on_error)
            .maximum_retry_attempts(spec.maximum_retry_attempts)
            .maximum_record_age_in_seconds(spec.maximum_record_age)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .destination_config(destination(&spec.on_failure))
            .enabled(spec.enabled)
            .send()
            .await?;
        AwsResult::Ok(out.uuid().unwrap_or_default().to_string())
    })
    .await
    .map_err(err)?;
    wait_mapping_settled(client, &uuid).await.map_err(err)
}

/// Brings an existing mapping to `spec`. The source and the starting position cannot change
/// in place: the caller recreates the mapping for those.
pub async fn update_mapping(
    client: &Client,
    current: &Mapping,
    spec: &MappingSpec,
) -> AwsResult<Mapping> {
    let unchanged = current.batch_size == spec.batch_size
        && current.batching_window == spec.batching_window
        && current.parallelization_factor == spec.parallelization_factor
        && current.bisect_on_error == spec.bisect_on_error
        && current.maximum_retry_attempts == spec.maximum_retry_attempts
        && current.maximum_record_age == spec.maximum_record_age
        && current.on_failure == spec.on_failure
        && current.reports_batch_item_failures
        && current.enabled() == Some(spec.enabled)
        && current.version() == Some(spec.version.as_str());
    if unchanged {
        return Ok(current.clone());
    }
    wait::retry_while(is_mapping_busy, || {
        client
            .update_event_source_mapping()
            .uuid(&current.uuid)
            .function_name(spec.qualified())
            .batch_size(spec.batch_size)
            .maximum_batching_window_in_seconds(spec.batching_window)
            .parallelization_factor(spec.parallelization_factor)
            .bisect_batch_on_function_error(spec.bisect_on_error)
            .maximum_retry_attempts(spec.maximum_retry_attempts)
            .maximum_record_age_in_seconds(spec.maximum_record_age)
            .function_response_types(FunctionResponseType::ReportBatchItemFailures)
            .destination_config(destination(&spec.on_failure))
            .enabled(spec.enabled)
            .send()
    })
    .await
    .map_err(|e| context("updating", MAPPING, &spec.function_name, e))?;
    wait_mapping_settled(client, &current.uuid)
        .await
        .map_err(|e| context("updating", MAPPING, &spec.function_name, e))
}

/// Deletes the mapping and waits until it is gone; not-found is success.
pub async fn delete_mapping(client: &Client, uuid: &str) -> AwsResult<()> {
    gone(
        wait::retry_while(is_mapping_busy, || {
            client.delete_event_source_mapping().uuid(uuid).send()
        })
        .await
        .map(|_| ()),
    )?;
    wait::until(
        &format!("event source mapping ({uuid}) to be deleted"),
        wait::DEFAULT_TIMEOUT,
        || async {
            Ok(find_mapping_by_uuid(client, uuid)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
}

async fn wait_mapping_settled(client: &Client, uuid: &str) -> AwsResult<Mapping> {
    wait::settled(
        &format!("event source mapping ({uuid})"),
        "Enabled (or Disabled)",
        wait::DEFAULT_TIMEOUT,
        || async {
            let Some(m) = find_mapping_by_uuid(client, uuid).await? else {
                return Ok(wait::Seen::Missing);
            };
            // Creating, Enabling, Updating, Disabling are transitions; anything else is settled.
            let transient = matches!(
                m.state.as_str(),
                "Creating" | "Enabling" | "Updating" | "Disabling"
            );
            Ok(if transient {
                wait::Seen::Settling
            } else {
                wait::Seen::Settled(m)
            })
        },
    )
    .await
}
