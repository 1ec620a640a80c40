//! Persist (`persist`): the function that writes the enriched rows to the sink, with its IAM
//! role, its event source mapping on the stream it reads, and the dead-letter bucket where the
//! records it gives up on go. Its whole life, in order:
//!
//! 1. validate and plan ([`validate`], [`plan`]): names, the function package's hash, the
//!    mapping's settings, and which ids stay known (the mapping survives while its function,
//!    source and starting position do);
//! 2. desired ([`Persist`], with the function's [`environment`]) and apply: the role with its
//!    policy ([`ensure_role`]; what it may read and write, [`Access`], is what the other blocks
//!    plan), the function ([`ensure_function`]) once its role is up, the dead-letter bucket
//!    ([`ensure_dead_letter_bucket`]), then the mapping ([`ensure_mapping`]) once its stream,
//!    function and bucket are; a renamed function or role goes once the new one is up
//!    ([`remove_renamed`]);
//! 3. refresh ([`find`], [`refreshed`]): the settings on their attributes, the environment
//!    decoded, a policy, runtime or environment changed out of band as an update;
//! 4. import ([`import`], [`import_mapping`]) and the leftovers of a failed apply ([`leftovers`]);
//! 5. destroy ([`refuses_destroy`]: a dead-letter bucket holding records; then
//!    [`destroy_mapping`] before the streams go, and [`destroy`]).

pub mod environment;

use std::collections::BTreeMap;

use crate::schema::{computed, defaulted, group, optional, string_list};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::artifact::{self, Artifact};
use crate::aws::iam::{self, Role};
use crate::aws::kinesis::StreamSpec;
use crate::aws::lambda::{self, Function, FunctionSpec, Mapping, MappingSpec};
use crate::aws::s3::{self, BucketSpec};
use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult, Expect, Identity};
use crate::pipeline::block::{Importing, Ours};
use crate::pipeline::names::default_dead_letter_bucket;
use crate::pipeline::owner::{self as own, Adopted, Owner};
use crate::pipeline::roles::{ensure_service_role, ServiceRole};
use crate::pipeline::state::{PersistBlock, PipelineState, Str, StreamBlock};
use crate::pipeline::values::{
    arn_name, arn_of, derive, in_range, keep, known, missing, name_like, need, one_of, path, pick,
    some, text,
};
use environment::{environment_into, environment_of, settings_into};

/// The block's schema: every attribute, its default and what a change to it does.
pub fn schema() -> NestedBlock {
    group(
        "The bundled function (Rust, `provided.al2023`), its IAM role, and its Kinesis event source mapping: on the enriched stream, or on the CDC stream when it runs the analytics engine (`analytics.engine = \"lambda\"`). `ReportBatchItemFailures` is always on.",
        vec![
            ("function_name", defaulted(AttributeType::String, "Lambda function name. Default `<name>-persist`. Changing it recreates the function and its mapping in place.")),
            ("role_name", defaulted(AttributeType::String, "IAM role name. Default `<name>-persist`. Changing it recreates the role in place.")),
            ("architecture", defaulted(AttributeType::String, "`arm64` (default) or `x86_64`.")),
            ("memory_size", defaulted(AttributeType::Number, "Memory in MB, 128 to 10240 (default `256`).")),
            ("timeout", defaulted(AttributeType::Number, "Timeout in seconds, 1 to 900 (default `60`).")),
            ("artifact", optional(AttributeType::String, "Path to a deployment zip holding `bootstrap`. Default: the function bundled with the provider for `architecture`.")),
            ("artifact_sha256", computed(AttributeType::String, "Base64 SHA-256 of the deployment package (Lambda's `CodeSha256`): a new build shows as an in-place update.")),
            ("batch_size", defaulted(AttributeType::Number, "Records per invocation, 1 to 10000 (default `100`).")),
            ("maximum_batching_window_seconds", defaulted(AttributeType::Number, "How long to gather records before invoking, 0 to 300 seconds (default `0`).")),
            ("parallelization_factor", defaulted(AttributeType::Number, "Concurrent batches per shard, 1 to 10 (default `1`); order per partition key is kept.")),
            ("starting_position", defaulted(AttributeType::String, "`LATEST` (default) or `TRIM_HORIZON`. Changing it recreates the mapping.")),
            ("enabled", defaulted(AttributeType::Bool, "Whether the event source mapping reads the stream (default `true`). `false` pauses it without deleting it: it keeps its place in the stream, and `true` resumes from there — nothing is skipped while records stay within the stream's retention. Updates in place.")),
            ("bisect_batch_on_function_error", defaulted(AttributeType::Bool, "Split a failing batch in two and retry each half (default `true`).")),
            ("maximum_retry_attempts", defaulted(AttributeType::Number, "Retries of a failing batch, -1 (until the record expires, the default) to 10000.")),
            ("maximum_record_age_seconds", defaulted(AttributeType::Number, "Oldest record sent to the function, -1 (no limit, the default) or 60 to 604800.")),
            ("write_concurrency", defaulted(AttributeType::Number, "BatchWriteItem calls (25 items each) in flight at once per invocation, 1 to 64 (default `4`).")),
            ("version_attribute", optional(AttributeType::String, "Stale-replay protection: name of a numeric (or string) attribute that orders versions of a row, e.g. `event_ts`. Writes become conditional PutItem calls that never replace a newer version with an older one; costs one request per distinct key instead of one per 25. Unset by default.")),
            ("dead_letter_bucket", defaulted(AttributeType::String, "S3 bucket for records the function cannot process (with the reason and the original payload) and for batches the event source mapping gives up on. Default: a bucket the pipeline creates, `<name>-dlq-<account id>` (lowercase); name an existing bucket to use it instead (it is then never created or deleted).")),
            ("dead_letter_prefix", defaulted(AttributeType::String, "Key prefix of dead letters in the bucket (default `dead-letter/`).")),
            ("dead_letter_force_destroy", defaulted(AttributeType::Bool, "Whether destroying the pipeline may delete a dead-letter bucket that still holds dead letters (default `false`: destroy stops and says so, so nothing is lost).")),
            ("dead_letter_bucket_arn", computed(AttributeType::String, "The dead-letter bucket's ARN (also the mapping's on-failure destination).")),
            ("function_arn", computed(AttributeType::String, "The function's ARN.")),
            ("role_arn", computed(AttributeType::String, "The role's ARN.")),
            ("event_source_mapping_id", computed(AttributeType::String, "The event source mapping's UUID. It invokes the function's latest published version (every apply that changes the function publishes one), never `$LATEST`.")),
            ("function_version", computed(AttributeType::String, "The function's published version the event source mapping invokes (`\"1\"`, `\"2\"`, …): an apply that changes the function's code or configuration publishes a new one and moves the mapping to it. A mapping pointed out of band at another version, at `$LATEST` or at an alias shows here as an update, and the apply points it back.")),
            ("function_response_types", computed(string_list(), "The mapping's function response types: always `[\"ReportBatchItemFailures\"]` (the function reports the records it could not write, and only those are retried). A mapping made elsewhere (adopted by an import) shows here as an update until the apply turns it on.")),
            ("on_failure_destination_arn", computed(AttributeType::String, "Where the mapping sends the batches it gives up on: the dead-letter bucket (`dead_letter_bucket_arn`). A mapping made elsewhere shows here as an update until the apply sets it.")),
        ],
    )
}

/// The IAM policy name of the persist role.
pub const POLICY_NAME: &str = "unifiedetl-persist";

pub fn validate(p: &PersistBlock, diags: &mut Diagnostics) {
    name_like(
        "persist",
        "function_name",
        &p.function_name,
        64,
        "_-",
        "a Lambda function name",
        diags,
    );
    name_like(
        "persist",
        "role_name",
        &p.role_name,
        64,
        "_+=,.@-",
        "an IAM role name",
        diags,
    );
    one_of(
        "persist",
        "architecture",
        &p.architecture,
        &artifact::ARCHITECTURES,
        diags,
    );
    in_range("persist", "memory_size", &p.memory_size, 128, 10240, diags);
    in_range("persist", "timeout", &p.timeout, 1, 900, diags);
    in_range("persist", "batch_size", &p.batch_size, 1, 10000, diags);
    in_range(
        "persist",
        "maximum_batching_window_seconds",
        &p.maximum_batching_window_seconds,
        0,
        300,
        diags,
    );
    in_range(
        "persist",
        "parallelization_factor",
        &p.parallelization_factor,
        1,
        10,
        diags,
    );
    one_of(
        "persist",
        "starting_position",
        &p.starting_position,
        &["LATEST", "TRIM_HORIZON"],
        diags,
    );
    in_range(
        "persist",
        "maximum_retry_attempts",
        &p.maximum_retry_attempts,
        -1,
        10000,
        diags,
    );
    if let Value::Value(age) = p.maximum_record_age_seconds {
        if age != -1 && !(60..=604_800).contains(&age) {
            diags.error(
                "invalid persist.maximum_record_age_seconds",
                format!("`persist.maximum_record_age_seconds` must be -1 (no limit) or between 60 and 604800 (got {age})"),
                path("persist", "maximum_record_age_seconds"),
            );
        }
    }
}

pub fn plan(
    config: &PersistBlock,
    prior: Option<&PersistBlock>,
    name: &Str,
    source: &StreamBlock,
    source_changed: bool,
    identity: &Identity,
    diags: &mut Diagnostics,
) -> PersistBlock {
    let dead_letter_bucket = pick(
        &config.dead_letter_bucket,
        name.as_ref()
            .map(|n| default_dead_letter_bucket(n, &identity.account)),
    );
    let dead_letter_bucket_arn = dead_letter_bucket
        .as_ref()
        .map(|b| format!("arn:{}:s3:::{b}", identity.partition));
    let function_name = pick(&config.function_name, derive(name, "persist"));
    let role_name = pick(&config.role_name, derive(name, "persist"));
    let architecture = pick(&config.architecture, text("arm64"));
    let starting_position = pick(&config.starting_position, text("LATEST"));
    let artifact_sha256 = match (&config.artifact, &architecture) {
        (Value::Value(path), _) => hash_artifact(std::path::Path::new(path), false, diags),
        (Value::Null, Value::Value(arch)) => {
            hash_artifact(&artifact::bundled_path(arch), true, diags)
        }
        _ => Value::Unknown,
    };
    // The mapping survives as long as its function, its source stream and its starting
    // position do; anything else recreates it.
    let mapping_kept = prior.is_some_and(|p| {
        p.function_name == function_name && p.starting_position == starting_position
    }) && source.arn.is_value()
        && !source_changed;
    PersistBlock {
        function_arn: arn_of(
            prior.map(|p| (&p.function_name, &p.function_arn)),
            &function_name,
            |n| identity.arn("lambda", true, &format!("function:{n}")),
        ),
        role_arn: arn_of(
            prior.map(|p| (&p.role_name, &p.role_arn)),
            &role_name,
            |n| identity.arn("iam", false, &format!("role/{n}")),
        ),
        event_source_mapping_id: match prior {
            Some(p) if mapping_kept => keep(
                Some((&p.function_name, &p.event_source_mapping_id)),
                &function_name,
            ),
            _ => Value::Unknown,
        },
        function_name,
        role_name,
        architecture,
        memory_size: pick(&config.memory_size, Value::Value(256)),
        timeout: pick(&config.timeout, Value::Value(60)),
        artifact: config.artifact.clone(),
        artifact_sha256,
        batch_size: pick(&config.batch_size, Value::Value(100)),
        maximum_batching_window_seconds: pick(
            &config.maximum_batching_window_seconds,
            Value::Value(0),
        ),
        parallelization_factor: pick(&config.parallelization_factor, Value::Value(1)),
        starting_position,
        bisect_batch_on_function_error: pick(
            &config.bisect_batch_on_function_error,
            Value::Value(true),
        ),
        enabled: pick(&config.enabled, Value::Value(true)),
        maximum_retry_attempts: pick(&config.maximum_retry_attempts, Value::Value(-1)),
        maximum_record_age_seconds: pick(&config.maximum_record_age_seconds, Value::Value(-1)),
        write_concurrency: pick(&config.write_concurrency, Value::Value(4)),
        version_attribute: config.version_attribute.clone(),
        dead_letter_bucket,
        dead_letter_prefix: pick(&config.dead_letter_prefix, text("dead-letter/")),
        dead_letter_force_destroy: pick(&config.dead_letter_force_destroy, Value::Value(false)),
        on_failure_destination_arn: dead_letter_bucket_arn.clone(),
        function_response_types: Value::Value(vec![text("ReportBatchItemFailures")]),
        // Known once the whole state is planned: [`plan_version`].
        function_version: Value::Unknown,
        dead_letter_bucket_arn,
    }
}

/// The function's version after the apply: the one the mapping invokes while nothing the
/// function is made from changes (publishing again answers that one); otherwise a new one,
/// known after the apply. Needs the whole planned state: the environment and the logging
/// come from other blocks.
pub fn plan_version(prior: Option<&PipelineState>, planned: &mut PipelineState) {
    let kept = prior.filter(|p| {
        let (was, will) = (&p.persist, &planned.persist);
        known(&was.function_version)
            && known(&will.function_arn)
            && was.function_arn == will.function_arn
            && was.role_arn == will.role_arn
            && was.architecture == will.architecture
            && was.memory_size == will.memory_size
            && was.timeout == will.timeout
            && was.artifact_sha256 == will.artifact_sha256
            && matches!(
                (environment_of(p), environment_of(planned)),
                (Ok(was), Ok(will)) if was == will
            )
            && super::monitoring::logging(p) == super::monitoring::logging(planned)
    });
    planned.persist.function_version =
        kept.map_or(Value::Unknown, |p| p.persist.function_version.clone());
}

fn hash_artifact(file: &std::path::Path, bundled: bool, diags: &mut Diagnostics) -> Str {
    match artifact::load(file) {
        Ok(a) => Value::Value(a.sha256),
        Err(err) => {
            let detail = if bundled {
                format!("the function bundled with the provider is missing ({}: {err}): reinstall the provider with `make install`, or set `persist.artifact` to a deployment zip", file.display())
            } else {
                format!("`persist.artifact` cannot be read ({}: {err}): give the path of a deployment zip holding `bootstrap`, e.g. `artifact = \"${{path.module}}/bootstrap.zip\"`", file.display())
            };
            diags.error(
                "invalid persist.artifact",
                detail,
                path("persist", "artifact"),
            );
            Value::Unknown
        }
    }
}

/// The block as the planned state (fully known) asks for it.
pub struct Persist {
    pub role_name: String,
    pub function_name: String,
    pub architecture: String,
    pub memory_size: i32,
    pub timeout: i32,
    pub artifact: Artifact,
    pub mapping: MappingSettings,
    pub dead_letter: DeadLetter,
    /// The function's environment (see [`environment`]).
    pub environment: BTreeMap<String, String>,
    /// Its log format and level, as the `monitoring` block sets them (`None`: no block, so
    /// left as they are).
    pub logging: Option<lambda::Logging>,
}

impl Persist {
    /// `dead_letter_managed`: the configuration names no dead-letter bucket, so the pipeline
    /// owns the one it planned.
    pub fn from_state(s: &PipelineState, dead_letter_managed: bool) -> Result<Persist, String> {
        let p = &s.persist;
        let architecture = need(&p.architecture, "persist.architecture")?;
        let artifact_path = match p.artifact.as_ref_option() {
            Some(path) => std::path::PathBuf::from(path),
            None => artifact::bundled_path(&architecture),
        };
        let artifact = artifact::load(&artifact_path).map_err(|e| {
            format!(
                "reading the function package {}: {e}",
                artifact_path.display()
            )
        })?;
        Ok(Persist {
            role_name: need(&p.role_name, "persist.role_name")?,
            function_name: need(&p.function_name, "persist.function_name")?,
            architecture,
            memory_size: need(&p.memory_size, "persist.memory_size")? as i32,
            timeout: need(&p.timeout, "persist.timeout")? as i32,
            artifact,
            mapping: MappingSettings {
                starting_position: need(&p.starting_position, "persist.starting_position")?,
                batch_size: need(&p.batch_size, "persist.batch_size")? as i32,
                batching_window: need(
                    &p.maximum_batching_window_seconds,
                    "persist.maximum_batching_window_seconds",
                )? as i32,
                parallelization_factor: need(
                    &p.parallelization_factor,
                    "persist.parallelization_factor",
                )? as i32,
                bisect_on_error: need(
                    &p.bisect_batch_on_function_error,
                    "persist.bisect_batch_on_function_error",
                )?,
                maximum_retry_attempts: need(
                    &p.maximum_retry_attempts,
                    "persist.maximum_retry_attempts",
                )? as i32,
                maximum_record_age: need(
                    &p.maximum_record_age_seconds,
                    "persist.maximum_record_age_seconds",
                )? as i32,
                enabled: need(&p.enabled, "persist.enabled")?,
            },
            dead_letter: DeadLetter {
                bucket: need(&p.dead_letter_bucket, "persist.dead_letter_bucket")?,
                bucket_arn: need(&p.dead_letter_bucket_arn, "persist.dead_letter_bucket_arn")?,
                prefix: need(&p.dead_letter_prefix, "persist.dead_letter_prefix")?,
                managed: dead_letter_managed,
            },
            environment: environment_of(s)?,
            logging: super::monitoring::logging(s),
        })
    }
}

/// What the function may read and write, planned by the other blocks: the role's policy names
/// them by their deterministic ARNs, so the role does not wait for them.
pub struct Access<'a> {
    /// The stream the mapping reads (the CDC stream with the `lambda` engine).
    pub source: &'a StreamSpec,
    pub table: &'a str,
    pub enriched: &'a StreamSpec,
    pub engine: Option<EngineAccess<'a>>,
}

/// What the `lambda` engine adds to the function's scope.
pub struct EngineAccess<'a> {
    pub state_table: &'a str,
    pub reference_bucket_arn: &'a str,
    /// It publishes the rows to the enriched stream too.
    pub publish: bool,
}

/// What an apply brought up: each id, `None` where it could not (the errors say why).
#[derive(Default)]
pub struct Recorded {
    pub role_arn: Option<String>,
    pub function_arn: Option<String>,
    /// The version the function's code and configuration were published as.
    pub function_version: Option<String>,
    pub mapping_uuid: Option<String>,
    pub dead_letter_arn: Option<String>,
    /// The function's version the mapping invoked before the apply moved it to a new one:
    /// deleted once the apply is done.
    pub retired_version: Option<String>,
}

/// The mapping an apply brought up, and the version of the function it stopped invoking.
#[derive(Debug, Clone)]
pub struct MappingUp {
    pub uuid: String,
    pub retired_version: Option<String>,
}

impl Recorded {
    pub fn record(&self, p: &mut PersistBlock) {
        let id = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Value);
        p.role_arn = id(&self.role_arn);
        p.function_arn = id(&self.function_arn);
        p.function_version = id(&self.function_version);
        p.event_source_mapping_id = id(&self.mapping_uuid);
        p.dead_letter_bucket_arn = id(&self.dead_letter_arn);
    }
}

/// Where records that cannot be processed go.
pub struct DeadLetter {
    pub bucket: String,
    pub bucket_arn: String,
    pub prefix: String,
    /// The pipeline created the bucket (none was named), so it also deletes it.
    pub managed: bool,
}

pub struct MappingSettings {
    pub starting_position: String,
    pub batch_size: i32,
    pub batching_window: i32,
    pub parallelization_factor: i32,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: i32,
    pub maximum_record_age: i32,
    pub enabled: bool,
}

/// The dead-letter bucket: created (private, encrypted) when the pipeline owns it; a named
/// bucket must exist already.
pub async fn ensure_dead_letter_bucket(
    aws: &Aws,
    want: &Persist,
    ours: bool,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let dl = &want.dead_letter;
    let expect = Expect::from_ours(ours || !dl.managed);
    let found = s3::find(&aws.s3, &dl.bucket, expect).await?;
    if !dl.managed {
        return match found {
            Some(_) => Ok(dl.bucket_arn.clone()),
            None => Err(AwsError::other(format!(
                "the dead-letter bucket ({}) named by `persist.dead_letter_bucket` does not exist: create it, or leave the attribute unset for the pipeline to create one",
                dl.bucket
            ))),
        };
    }
    let spec = BucketSpec {
        name: dl.bucket.clone(),
        region: aws.region.clone(),
        tags: tags.clone(),
    };
    match found {
        None => s3::create(&aws.s3, &spec).await?,
        Some(current) => {
            if !ours {
                owner.check(own::BUCKET, &spec.name, &current.tags)?;
            }
            s3::update(&aws.s3, &current, &spec).await?
        }
    };
    Ok(dl.bucket_arn.clone())
}

/// Role first (its ARN gives the account), then its policy naming the pipeline's ARNs.
pub async fn ensure_role(
    aws: &Aws,
    want: &Persist,
    access: &Access<'_>,
    ours: bool,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let policy = |role_arn: &str| {
        let account = account_of(role_arn).unwrap_or_default();
        let partition = partition_of(role_arn);
        let arn = |service: &str, kind: &str, name: &str| {
            format!(
                "arn:{partition}:{service}:{}:{account}:{kind}/{name}",
                aws.region
            )
        };
        let source = access.source;
        let stream_arn = arn("kinesis", "stream", &source.name);
        let table_arn = arn("dynamodb", "table", access.table);
        let enriched_arn = arn("kinesis", "stream", &access.enriched.name);
        let state_table_arn = access
            .engine
            .as_ref()
            .map(|e| arn("dynamodb", "table", e.state_table));
        iam::persist_policy(&iam::PersistScope {
            partition,
            region: &aws.region,
            account,
            function_name: &want.function_name,
            stream_arn: &stream_arn,
            table_arn: &table_arn,
            stream_kms_key: source.kms_key_id.as_deref(),
            dead_letter_bucket_arn: &want.dead_letter.bucket_arn,
            dead_letter_prefix: &want.dead_letter.prefix,
            engine: access.engine.as_ref().zip(state_table_arn.as_deref()).map(
                |(engine, state_table_arn)| iam::EngineScope {
                    state_table_arn,
                    reference_bucket_arn: engine.reference_bucket_arn,
                    publish_to: engine.publish.then_some(enriched_arn.as_str()),
                    publish_kms_key: access.enriched.kms_key_id.as_deref(),
                },
            ),
        })
    };
    ensure_service_role(
        aws,
        ServiceRole {
            name: &want.role_name,
            services: vec!["lambda.amazonaws.com".to_string()],
            policy_name: "unifiedetl-persist",
        },
        policy,
        ours,
        owner,
        tags,
    )
    .await
}

/// Brings the function to `want`, given what its finder found (`found`, looked up while the
/// role was brought up: it needs only the name), and publishes that as a version.
pub async fn ensure_function(
    aws: &Aws,
    want: &Persist,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    role_arn: &str,
    ours: bool,
    found: Option<lambda::Function>,
) -> AwsResult<lambda::Published> {
    let spec = FunctionSpec {
        name: want.function_name.clone(),
        role_arn: role_arn.to_string(),
        architecture: want.architecture.clone(),
        memory_size: want.memory_size,
        timeout: want.timeout,
        zip: want.artifact.zip.clone(),
        code_sha256: want.artifact.sha256.clone(),
        environment: want.environment.clone(),
        logging: want.logging.clone(),
        tags: tags.clone(),
    };
    match found {
        None => lambda::create_function(&aws.lambda, &spec).await,
        Some(current) => {
            if !ours {
                owner.check(own::FUNCTION, &spec.name, &current.tags)?;
            }
            lambda::update_function(&aws.lambda, &current, &spec).await
        }
    }
}

/// Brings the mapping to `want`, invoking the function's `version`.
pub async fn ensure_mapping(
    aws: &Aws,
    want: &Persist,
    source_arn: &str,
    version: &str,
    prior_uuid: Option<&str>,
) -> AwsResult<MappingUp> {
    let m = &want.mapping;
    let spec = MappingSpec {
        function_name: want.function_name.clone(),
        version: version.to_string(),
        source_arn: source_arn.to_string(),
        starting_position: m.starting_position.clone(),
        batch_size: m.batch_size,
        batching_window: m.batching_window,
        parallelization_factor: m.parallelization_factor,
        bisect_on_error: m.bisect_on_error,
        maximum_retry_attempts: m.maximum_retry_attempts,
        maximum_record_age: m.maximum_record_age,
        on_failure: Some(want.dead_letter.bucket_arn.clone()),
        enabled: m.enabled,
    };
    let current = match prior_uuid {
        Some(uuid) => lambda::find_mapping_by_uuid(&aws.lambda, uuid).await?,
        None => None,
    };
    let current = match current {
        Some(c) => Some(c),
        None => {
            lambda::find_mapping_by_function_and_source(
                &aws.lambda,
                &spec.function_name,
                source_arn,
            )
            .await?
        }
    };
    let same_pair = |c: &Mapping| c.source_arn == source_arn && c.invokes(&spec.function_name);
    // The version the mapping invoked, when it is one of this function's and no longer the one
    // to invoke: nothing invokes it once the mapping has moved on.
    let retired = |c: &Mapping| {
        c.version()
            .filter(|v| c.invokes(&spec.function_name) && *v != version)
            .map(str::to_string)
    };
    let up = |uuid: String, retired_version: Option<String>| MappingUp {
        uuid,
        retired_version,
    };
    match current {
        // The same stream and function: updated in place, moving to the new version if there
        // is one (Lambda keeps the mapping's place in the stream).
        Some(c) if same_pair(&c) && c.starting_position == spec.starting_position => Ok(up(
            lambda::update_mapping(&aws.lambda, &c, &spec).await?.uuid,
            retired(&c),
        )),
        // A stream and a function have one mapping at most: a new starting position (a choice
        // to re-read the stream, or to skip what it holds) replaces it.
        Some(c) if same_pair(&c) => {
            lambda::delete_mapping(&aws.lambda, &c.uuid).await?;
            Ok(up(
                lambda::create_mapping(&aws.lambda, &spec).await?.uuid,
                retired(&c),
            ))
        }
        // Another function or stream (a renamed function, the engine turned on or off): the new
        // mapping first, then the old one goes, so that a record arriving meanwhile is read by
        // both (and written twice, the same row) rather than by neither. Each invokes its own
        // version meanwhile, so the old one still hands its records to the configuration that
        // can use them.
        Some(c) => {
            let new = match lambda::find_mapping_by_function_and_source(
                &aws.lambda,
                &spec.function_name,
                source_arn,
            )
            .await?
            {
                Some(made) => lambda::update_mapping(&aws.lambda, &made, &spec).await?,
                None => lambda::create_mapping(&aws.lambda, &spec).await?,
            };
            lambda::delete_mapping(&aws.lambda, &c.uuid).await?;
            Ok(up(new.uuid, retired(&c)))
        }
        None => Ok(up(
            lambda::create_mapping(&aws.lambda, &spec).await?.uuid,
            None,
        )),
    }
}

pub fn function_renamed(prior: &PipelineState, want: &Persist) -> bool {
    known(&prior.persist.function_arn)
        && prior
            .persist
            .function_name
            .as_ref_option()
            .is_some_and(|old| *old != want.function_name)
}

/// After an update: the function's version the mapping no longer invokes goes; after one that
/// renamed the function or the role, the old one goes once the new one is up (the old
/// function's mapping first). Errors into `errors`.
pub async fn remove_renamed(
    aws: &Aws,
    prior: &PipelineState,
    want: &Persist,
    done: &Recorded,
    prior_uuid: Option<&str>,
    errors: &mut Vec<String>,
) {
    let p = &prior.persist;
    let mut take = |r: AwsResult<()>| {
        if let Err(e) = r {
            errors.push(e.message);
        }
    };
    if let (Some(version), false) = (&done.retired_version, function_renamed(prior, want)) {
        take(lambda::delete_version(&aws.lambda, &want.function_name, version).await);
    }
    if let (Some(old), true) = (
        p.function_name.as_ref_option(),
        function_renamed(prior, want),
    ) {
        if let Some(uuid) = prior_uuid {
            if done.mapping_uuid.as_deref() != Some(uuid) {
                take(lambda::delete_mapping(&aws.lambda, uuid).await);
            }
        }
        take(lambda::delete_function(&aws.lambda, old).await);
    }
    if let Some(old) = p.role_name.as_ref_option() {
        if *old != want.role_name && known(&p.role_arn) && done.function_arn.is_some() {
            take(iam::delete(&aws.iam, old).await);
        }
    }
}

/// What AWS reports for the block's components; `None` (or false) where one is gone.
pub struct Seen {
    pub role: Option<Role>,
    pub function: Option<Function>,
    /// The function's latest published version, when it holds the function's current code and
    /// configuration.
    pub current_version: Option<String>,
    pub mapping: Option<Mapping>,
    /// Whether the dead-letter bucket exists.
    pub bucket: bool,
}

impl Seen {
    pub fn any(&self) -> bool {
        self.role.is_some() || self.function.is_some() || self.mapping.is_some() || self.bucket
    }
}

/// Reads the components the state names, at once.
pub async fn find(aws: &Aws, p: &PersistBlock) -> AwsResult<Seen> {
    let (role, (function, current_version), mapping, bucket) = tokio::join!(
        async {
            match &p.role_name {
                Value::Value(name) => iam::find_by_name(&aws.iam, name, POLICY_NAME).await,
                _ => Ok(None),
            }
        },
        async {
            match &p.function_name {
                Value::Value(name) => tokio::join!(
                    lambda::find_function_by_name(&aws.lambda, name),
                    lambda::current_version(&aws.lambda, name)
                ),
                _ => (Ok(None), Ok(None)),
            }
        },
        async {
            match &p.event_source_mapping_id {
                Value::Value(uuid) => lambda::find_mapping_by_uuid(&aws.lambda, uuid).await,
                _ => Ok(None),
            }
        },
        async {
            match &p.dead_letter_bucket {
                Value::Value(name) => s3::exists(&aws.s3, name).await,
                _ => Ok(false),
            }
        },
    );
    Ok(Seen {
        role: role?,
        function: function?,
        current_version: current_version?,
        mapping: mapping?,
        bucket: bucket?,
    })
}

/// Writes what was seen into `state` (the streams already refreshed: the mapping is compared
/// with the ARN of the one it should read).
pub fn refreshed(state: &mut PipelineState, seen: Seen) {
    let persist = &mut state.persist;
    match seen.role {
        None => persist.role_arn = Value::Null,
        // A policy or trust changed out of band shows as the role needing an update.
        Some(r) if r.policy.is_none() || r.trust.is_none() => persist.role_arn = Value::Null,
        Some(r) => {
            persist.role_name = some(r.name);
            persist.role_arn = some(r.arn);
        }
    }
    match seen.function {
        None => persist.function_arn = Value::Null,
        Some(f) => {
            persist.function_name = some(f.name);
            persist.architecture = some(f.architecture);
            persist.memory_size = some(f.memory_size as i64);
            persist.timeout = some(f.timeout as i64);
            persist.artifact_sha256 = some(f.code_sha256);
            persist.function_arn = some(f.arn);
            // The settings the environment holds show on their attributes; anything else in
            // it changed out of band (the table or bucket names, a variable of its own) shows
            // as the function needing an update.
            environment_into(state, &f.environment);
            // A function made elsewhere (adopted by an import) may run another runtime: it
            // becomes the persist function, so that is an update too.
            let runtime_differs = f.runtime.as_deref() != Some("provided.al2023")
                || f.handler.as_deref() != Some("bootstrap");
            if runtime_differs
                || environment_of(state)
                    .ok()
                    .is_some_and(|env| env != f.environment)
            {
                state.persist.function_arn = Value::Null;
            }
        }
    }
    if !seen.bucket {
        state.persist.dead_letter_bucket_arn = Value::Null;
    }
    // With the analytics engine the function reads the CDC stream, else the enriched one.
    let source = source_of(state).arn.as_ref_option().cloned();
    let persist = &mut state.persist;
    let function_arn = persist.function_arn.as_ref_option().cloned();
    let function_name = persist.function_name.as_ref_option().cloned();
    match seen.mapping {
        // A mapping reading another stream (or invoking another function) reads the wrong
        // records: it is replaced, shown by its id becoming unknown. One that lost (or never
        // had: a mapping made elsewhere, adopted by an import) ReportBatchItemFailures or its
        // on-failure destination shows on those attributes, updated in place.
        Some(m)
            if source.as_deref() == Some(m.source_arn.as_str())
                && (function_arn.as_deref() == Some(m.function_arn.as_str())
                    || function_name.as_ref().is_some_and(|n| m.invokes(n))) =>
        {
            let enabled = m.enabled();
            // A mapping pointed at another version, `$LATEST` or an alias shows as an update.
            persist.function_version = match (m.version(), seen.current_version) {
                (Some(invoked), Some(current)) if invoked == current => some(current),
                _ => Value::Null,
            };
            persist.function_response_types = some(if m.reports_batch_item_failures {
                vec![some("ReportBatchItemFailures".to_string())]
            } else {
                Vec::new()
            });
            persist.on_failure_destination_arn = m.on_failure.clone().map_or(Value::Null, some);
            persist.batch_size = some(m.batch_size as i64);
            persist.maximum_batching_window_seconds = some(m.batching_window as i64);
            persist.parallelization_factor = some(m.parallelization_factor as i64);
            persist.starting_position = some(m.starting_position);
            persist.bisect_batch_on_function_error = some(m.bisect_on_error);
            persist.maximum_retry_attempts = some(m.maximum_retry_attempts as i64);
            persist.maximum_record_age_seconds = some(m.maximum_record_age as i64);
            if let Some(enabled) = enabled {
                persist.enabled = some(enabled);
            }
            persist.event_source_mapping_id = some(m.uuid);
        }
        // The mapping made again invokes the version publishing answers.
        _ => {
            persist.function_version = seen.current_version.map_or(Value::Null, some);
            persist.event_source_mapping_id = Value::Null;
        }
    }
}

/// The stream the function reads: the CDC stream with the `lambda` engine (it enriches what
/// DMS writes), else the enriched stream.
pub fn source_of(state: &PipelineState) -> &StreamBlock {
    if state.analytics.lambda_engine() {
        &state.cdc_stream
    } else {
        &state.enriched_stream
    }
}

/// An import: the function found (`function`), its role (named in the map, else the
/// function's), its dead-letter bucket and the settings its environment holds. Returns the
/// environment, where the analytics engine's correlation is.
pub fn import(
    importing: &Importing<'_>,
    state: &mut PipelineState,
    function_name: String,
    function: Option<&Function>,
) -> BTreeMap<String, String> {
    let (id, identity) = (importing.id, importing.identity);
    let name = &id.name;
    let environment = function.map(|f| f.environment.clone()).unwrap_or_default();
    let p = &mut state.persist;
    p.function_name = some(function_name);
    p.function_arn = function.map_or(Value::Null, |f| some(f.arn.clone()));
    p.dead_letter_force_destroy = some(false);
    p.role_name = some(match (id.components.get("role"), function) {
        (Some(role), _) => role.clone(),
        (None, Some(f)) => arn_name(&f.role_arn),
        (None, None) => format!("{name}-persist"),
    });
    p.dead_letter_bucket = some(
        match (
            id.components.get("dead_letter_bucket"),
            environment.get("DEAD_LETTER_BUCKET"),
        ) {
            (Some(b), _) | (None, Some(b)) => b.clone(),
            (None, None) => default_dead_letter_bucket(name, &identity.account),
        },
    );
    p.dead_letter_bucket_arn = p
        .dead_letter_bucket
        .as_ref()
        .map(|b| format!("arn:{}:s3:::{b}", identity.partition));
    settings_into(p, &environment);
    environment
}

/// An import, once the analytics block is known: the function's mapping on the stream it reads.
pub async fn import_mapping(aws: &Aws, state: &mut PipelineState) -> Result<(), String> {
    let (Some(function), Some(source)) = (
        state
            .persist
            .function_name
            .as_ref_option()
            .filter(|_| state.persist.function_arn.is_value())
            .cloned(),
        source_of(state).arn.as_ref_option().cloned(),
    ) else {
        return Ok(());
    };
    if let Some(m) = lambda::find_mapping_by_function_and_source(&aws.lambda, &function, &source)
        .await
        .map_err(|e| e.message)?
    {
        state.persist.event_source_mapping_id = some(m.uuid);
    }
    Ok(())
}

/// After a failed apply: the ids of the function, role, mapping and dead-letter bucket the
/// apply made but could not record, when they are the pipeline's (the mapping, untagged, when
/// its function is).
pub async fn leftovers(
    aws: &Aws,
    identity: &Identity,
    state: &mut PipelineState,
    ours: &Ours<'_>,
) -> AwsResult<()> {
    let p = &mut state.persist;
    let mut function_ours = known(&p.function_arn);
    if let Some(name) = missing(&p.function_name, &p.function_arn) {
        if let Some(found) = lambda::find_function_by_name(&aws.lambda, &name).await? {
            if ours(own::FUNCTION, &name, &found.tags) {
                p.function_arn = Value::Value(found.arn);
                function_ours = true;
            }
        }
    }
    if let Some(name) = missing(&p.role_name, &p.role_arn) {
        if let Some(found) = iam::find_by_name(&aws.iam, &name, POLICY_NAME).await? {
            if ours(own::ROLE, &name, &found.tags) {
                p.role_arn = Value::Value(found.arn);
            }
        }
    }
    let function = p.function_name.as_ref_option().cloned();
    if let (true, Some(function), false) =
        (function_ours, function, known(&p.event_source_mapping_id))
    {
        // The function reads the CDC stream (the engine) or the enriched one: either mapping
        // of the pipeline's function is the pipeline's.
        let sources = [&state.cdc_stream.arn, &state.enriched_stream.arn]
            .into_iter()
            .filter_map(|arn| arn.as_ref_option().cloned())
            .collect::<Vec<_>>();
        for source in sources {
            if let Some(found) =
                lambda::find_mapping_by_function_and_source(&aws.lambda, &function, &source).await?
            {
                state.persist.event_source_mapping_id = Value::Value(found.uuid);
                break;
            }
        }
    }
    let p = &mut state.persist;
    if let Some(name) = missing(&p.dead_letter_bucket, &p.dead_letter_bucket_arn) {
        if let Some(found) = s3::find(&aws.s3, &name, Expect::Present).await? {
            if ours(own::BUCKET, &name, &found.tags) {
                p.dead_letter_bucket_arn =
                    Value::Value(format!("arn:{}:s3:::{name}", identity.partition));
            }
        }
    }
    Ok(())
}

/// The dead-letter bucket the pipeline deletes on destroy: the one it created (the default
/// name) or one an import named; a bucket the configuration names is the user's.
fn managed_dead_letter_bucket(
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Option<String> {
    let p = &state.persist;
    match (&state.name, &p.dead_letter_bucket) {
        (Value::Value(name), Value::Value(bucket))
            if known(&p.dead_letter_bucket_arn)
                && (*bucket == default_dead_letter_bucket(name, &identity.account)
                    || adopted.contains(own::BUCKET, bucket)) =>
        {
            Some(bucket.clone())
        }
        _ => None,
    }
}

/// A destroy stops before anything is deleted when the dead-letter bucket still holds dead
/// letters, unless `dead_letter_force_destroy` allows emptying it.
pub async fn refuses_destroy(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Option<String> {
    let force = matches!(state.persist.dead_letter_force_destroy, Value::Value(true));
    let bucket = managed_dead_letter_bucket(state, identity, adopted).filter(|_| !force)?;
    match s3::holds_objects(&aws.s3, &bucket).await {
        Ok(false) => None,
        Ok(true) => Some(format!(
            "deleting S3 bucket ({bucket}): the dead-letter bucket still holds objects (records the pipeline could not process): inspect them, or set `persist.dead_letter_force_destroy = true` to delete them with the bucket; nothing was deleted"
        )),
        Err(e) => Some(e.message),
    }
}

/// Deletes the mapping (first, so that nothing reads a stream being deleted).
pub async fn destroy_mapping(aws: &Aws, p: &PersistBlock) -> AwsResult<()> {
    match &p.event_source_mapping_id {
        Value::Value(uuid) => lambda::delete_mapping(&aws.lambda, uuid).await,
        _ => Ok(()),
    }
}

/// Deletes the function then its role, and the dead-letter bucket the pipeline owns, at once.
pub async fn destroy(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Vec<String> {
    let p = &state.persist;
    let force = matches!(p.dead_letter_force_destroy, Value::Value(true));
    let bucket = managed_dead_letter_bucket(state, identity, adopted);
    let function_then_role = async {
        if let Some(name) = p
            .function_name
            .as_ref_option()
            .filter(|_| known(&p.function_arn))
        {
            lambda::delete_function(&aws.lambda, name).await?;
        }
        if let Some(name) = p.role_name.as_ref_option().filter(|_| known(&p.role_arn)) {
            iam::delete(&aws.iam, name).await?;
        }
        Ok::<(), AwsError>(())
    };
    let bucket = async {
        match &bucket {
            Some(bucket) => s3::delete(&aws.s3, bucket, force).await,
            None => Ok(()),
        }
    };
    let (a, b) = tokio::join!(function_then_role, bucket);
    [a, b]
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.message)
        .collect()
}
