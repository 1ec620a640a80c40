//! Apply-time orchestration: brings every component to the planned settings, following the
//! dependency graph and running independent components concurrently.
//!
//! ```text
//!   cdc stream ───────────────────────────────────────────────┐
//!   enriched stream ─────────────┐                            │
//!   sink table ──────────────────┤                            ├─▶ done
//!   role + policy ─▶ function ───┴─▶ event source mapping ────┘
//! ```
//! The role's policy names the stream and table by their deterministic ARNs (account from the
//! role's own ARN), so the role and the function do not wait for the stream and the table.

use std::collections::BTreeMap;

use futures::FutureExt;
use tf_provider::value::Value;

use super::block::{Core, Destroying, Record};
use super::blocks::BLOCKS;
use super::environment::environment_of;
use super::names::{default_dead_letter_bucket, default_reference_bucket, reference_key};
use super::owner::{self as own, Adopted, Owner};
use super::roles::{ensure_service_role, ServiceRole};
use super::sql::{self, SqlApp};
use super::state::{AnalyticsBlock, PipelineState, Str};
use super::timeouts::{timeouts, Timeouts};
use super::values::{known, need, opt};
use crate::artifact::{self, Artifact};
use crate::aws::dynamodb::{self, Key, TableSpec};
use crate::aws::iam;
use crate::aws::kinesis::{self, StreamSpec};
use crate::aws::lambda::{self, FunctionSpec, MappingSpec};
use crate::aws::s3::{self, BucketSpec};
use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult, Expect, Identity};

/// Everything the planned state asks for, with every value known.
pub struct Desired {
    /// The pipeline and what an import adopted (see [`super::owner`]).
    pub owner: Owner,
    pub cdc: StreamSpec,
    pub enriched: StreamSpec,
    pub table: TableSpec,
    pub role_name: String,
    pub function_name: String,
    pub architecture: String,
    pub memory_size: i32,
    pub timeout: i32,
    pub artifact: Artifact,
    pub mapping: MappingSettings,
    pub dead_letter: DeadLetter,
    /// The `lambda` analytics engine, when `analytics.engine` asks for it.
    pub engine: Option<Engine>,
    /// The reference data in S3: the `lambda` engine's lookups, or the SQL engine's reference
    /// tables.
    pub reference: Option<ReferenceData>,
    /// The SQL engine's application, when `analytics.engine` asks for it.
    pub sql: Option<SqlApp>,
    /// The function's environment (see [`environment_of`]).
    pub environment: BTreeMap<String, String>,
    pub timeouts: Timeouts,
    pub tags: BTreeMap<String, String>,
}

/// Which buckets the configuration leaves to the pipeline (it names none, so the pipeline
/// creates and deletes them).
pub struct Managed {
    pub dead_letter: bool,
    pub reference: bool,
}

/// The `lambda` analytics engine's own parts: its state table, and whether it publishes.
pub struct Engine {
    pub state_table: TableSpec,
    /// Publish the rows to the enriched stream too.
    pub publish_enriched: bool,
}

/// Reference data uploaded from local files.
pub struct ReferenceData {
    pub bucket: String,
    pub bucket_arn: String,
    /// The pipeline created the bucket (none was named), so it also deletes it.
    pub bucket_managed: bool,
    /// Object key, content, base64 SHA-256, and the local file it comes from.
    pub objects: Vec<(String, Vec<u8>, String, String)>,
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
}

impl Desired {
    /// The stream the function reads: the CDC stream when it runs the analytics engine, the
    /// enriched stream otherwise.
    pub fn source(&self) -> &StreamSpec {
        if self.engine.is_some() {
            &self.cdc
        } else {
            &self.enriched
        }
    }

    /// Reads the fully resolved planned state. `dead_letter_managed`: the configuration names
    /// no dead-letter bucket, so the pipeline owns the one it planned.
    pub fn from_state(
        s: &PipelineState,
        prior: Option<&PipelineState>,
        managed: &Managed,
    ) -> Result<Desired, String> {
        let dead_letter_managed = managed.dead_letter;
        let reference_managed = managed.reference;
        let tags: BTreeMap<String, String> = need(&s.tags_all, "tags_all")?
            .into_iter()
            .filter_map(|(k, v)| v.as_option().map(|v| (k, v)))
            .collect();
        let stream = |b: &super::state::StreamBlock, block: &str| -> Result<StreamSpec, String> {
            let on_demand = need(&b.stream_mode, &format!("{block}.stream_mode"))? == "ON_DEMAND";
            Ok(StreamSpec {
                name: need(&b.name, &format!("{block}.name"))?,
                shard_count: if on_demand {
                    None
                } else {
                    Some(need(&b.shard_count, &format!("{block}.shard_count"))? as i32)
                },
                retention_hours: need(&b.retention_hours, &format!("{block}.retention_hours"))?
                    as i32,
                kms_key_id: if need(&b.encryption_type, &format!("{block}.encryption_type"))?
                    == "KMS"
                {
                    opt(&b.kms_key_id)
                } else {
                    None
                },
                tags: tags.clone(),
            })
        };
        let sink = &s.sink;
        let capacity = match (opt(&sink.read_capacity), opt(&sink.write_capacity)) {
            (Some(r), Some(w))
                if need(&sink.billing_mode, "sink.billing_mode")? == "PROVISIONED" =>
            {
                Some((r, w))
            }
            _ => None,
        };
        let p = &s.persist;
        let architecture = need(&p.architecture, "persist.architecture")?;
        let artifact_path = match opt(&p.artifact) {
            Some(path) => std::path::PathBuf::from(path),
            None => artifact::bundled_path(&architecture),
        };
        let artifact = artifact::load(&artifact_path).map_err(|e| {
            format!(
                "reading the function package {}: {e}",
                artifact_path.display()
            )
        })?;
        Ok(Desired {
            owner: Owner::new(need(&s.name, "name")?, Adopted::default()),
            cdc: stream(&s.cdc_stream, "cdc_stream")?,
            enriched: stream(&s.enriched_stream, "enriched_stream")?,
            table: TableSpec {
                name: need(&sink.name, "sink.name")?,
                partition_key: Key {
                    name: need(&sink.partition_key, "sink.partition_key")?,
                    attr_type: need(&sink.partition_key_type, "sink.partition_key_type")?,
                },
                sort_key: match opt(&sink.sort_key) {
                    Some(name) => Some(Key {
                        name,
                        attr_type: need(&sink.sort_key_type, "sink.sort_key_type")?,
                    }),
                    None => None,
                },
                capacity,
                sse: need(&sink.server_side_encryption, "sink.server_side_encryption")?,
                kms_key_arn: opt(&sink.kms_key_arn),
                tags: tags.clone(),
            },
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
            },
            dead_letter: DeadLetter {
                bucket: need(&p.dead_letter_bucket, "persist.dead_letter_bucket")?,
                bucket_arn: need(&p.dead_letter_bucket_arn, "persist.dead_letter_bucket_arn")?,
                prefix: need(&p.dead_letter_prefix, "persist.dead_letter_prefix")?,
                managed: dead_letter_managed,
            },
            engine: engine_from_state(s, &tags)?,
            reference: reference_from_state(s, reference_managed, &tags)?,
            sql: SqlApp::from_state(&s.analytics, prior.map(|p| &p.analytics))?,
            environment: environment_of(s)?,
            timeouts: timeouts(&s.timeouts),
            tags,
        })
    }

    fn function_environment(&self) -> BTreeMap<String, String> {
        self.environment.clone()
    }
}

fn engine_from_state(
    s: &PipelineState,
    tags: &BTreeMap<String, String>,
) -> Result<Option<Engine>, String> {
    let a = &s.analytics;
    if !a.lambda_engine() {
        return Ok(None);
    }
    Ok(Some(Engine {
        state_table: TableSpec {
            name: need(&a.state_table, "analytics.state_table")?,
            partition_key: Key {
                name: "pk".to_string(),
                attr_type: "S".to_string(),
            },
            sort_key: Some(Key {
                name: "sk".to_string(),
                attr_type: "S".to_string(),
            }),
            capacity: None,
            sse: true,
            kms_key_arn: None,
            tags: tags.clone(),
        },
        publish_enriched: need(&a.publish_enriched, "analytics.publish_enriched")?,
    }))
}

/// The reference files to upload: the `lambda` engine's lookups (it always has a bucket), or
/// the SQL engine's reference tables (a bucket only when there are some).
fn reference_from_state(
    s: &PipelineState,
    reference_managed: bool,
    _tags: &BTreeMap<String, String>,
) -> Result<Option<ReferenceData>, String> {
    let a = &s.analytics;
    let mut files = Vec::new();
    if a.lambda_engine() {
        for lookup in need(&a.lookups, "analytics.lookups")
            .ok()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_ref_option)
        {
            let name = need(&lookup.name, "analytics.lookups.name")?;
            let file = need(&lookup.file, "analytics.lookups.file")?;
            files.push((format!("lookup {name}"), reference_key(&name), file));
        }
    } else if a.sql_engine() && !a.references().is_empty() {
        for r in a.references() {
            let table = need(&r.table_name, "analytics.reference.table_name")?;
            let file = need(&r.file, "analytics.reference.file")?;
            files.push((
                format!("reference table {table}"),
                reference_key(&table),
                file,
            ));
        }
    } else {
        return Ok(None);
    }
    let mut objects = Vec::new();
    for (what, key, file) in files {
        let bytes = std::fs::read(&file)
            .map_err(|e| format!("reading the reference file of {what} ({file}): {e}"))?;
        let hash = artifact::content_hash(&bytes);
        objects.push((key, bytes, hash, file));
    }
    Ok(Some(ReferenceData {
        bucket: need(&a.reference_bucket, "analytics.reference_bucket")?,
        bucket_arn: need(&a.reference_bucket_arn, "analytics.reference_bucket_arn")?,
        bucket_managed: reference_managed,
        objects,
    }))
}

/// What exists after an apply: each component's id, or `None` where it could not be brought
/// up (the errors say why).
#[derive(Default)]
pub struct Outcome {
    pub cdc_arn: Option<String>,
    pub enriched_arn: Option<String>,
    pub table_arn: Option<String>,
    pub role_arn: Option<String>,
    pub function_arn: Option<String>,
    pub mapping_uuid: Option<String>,
    pub dead_letter_arn: Option<String>,
    pub state_table_arn: Option<String>,
    pub reference_bucket_arn: Option<String>,
    /// Object key → hash of what is now in the reference bucket.
    pub reference_objects: Option<BTreeMap<String, String>>,
    pub analytics_role_arn: Option<String>,
    pub application_arn: Option<String>,
    pub application_version_id: Option<i64>,
    /// What the blocks ([`BLOCKS`]) record of their components.
    pub records: Vec<Record>,
    pub errors: Vec<String>,
}

impl Outcome {
    fn take<T>(&mut self, result: AwsResult<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e.message);
                None
            }
        }
    }
}

async fn ensure_stream(
    aws: &Aws,
    spec: &StreamSpec,
    ours: bool,
    owner: &Owner,
) -> AwsResult<String> {
    match kinesis::find(&aws.kinesis, &spec.name, Expect::from_ours(ours)).await? {
        None => Ok(kinesis::create(&aws.kinesis, spec).await?.arn),
        Some(current) => {
            if !ours {
                owner.check(own::STREAM, &spec.name, &current.tags)?;
            }
            let current = if current.status == aws_sdk_kinesis::types::StreamStatus::Active {
                current
            } else {
                kinesis::wait_active(&aws.kinesis, &spec.name).await?
            };
            Ok(kinesis::update(&aws.kinesis, &current, spec).await?.arn)
        }
    }
}

async fn ensure_table(aws: &Aws, spec: &TableSpec, ours: bool, owner: &Owner) -> AwsResult<String> {
    match dynamodb::find_by_name(&aws.dynamodb, &spec.name, None).await? {
        None => Ok(dynamodb::create(&aws.dynamodb, spec).await?.arn),
        Some(current) => {
            if !ours {
                owner.check(own::TABLE, &spec.name, &current.tags)?;
            }
            let current = dynamodb::wait_active(&aws.dynamodb, &spec.name).await?;
            Ok(dynamodb::update(&aws.dynamodb, &current, spec).await?.arn)
        }
    }
}

/// The dead-letter bucket: created (private, encrypted) when the pipeline owns it; a named
/// bucket must exist already.
async fn ensure_dead_letter_bucket(aws: &Aws, want: &Desired, ours: bool) -> AwsResult<String> {
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
        tags: want.tags.clone(),
    };
    match found {
        None => s3::create(&aws.s3, &spec).await?,
        Some(current) => {
            if !ours {
                want.owner.check(own::BUCKET, &spec.name, &current.tags)?;
            }
            s3::update(&aws.s3, &current, &spec).await?
        }
    };
    Ok(dl.bucket_arn.clone())
}

/// The engine's reference bucket and objects: the bucket created when the pipeline owns it
/// (a named one must exist), each object uploaded when its content differs, objects of
/// lookups no longer configured removed. Returns the bucket ARN and the objects' hashes.
async fn ensure_reference(
    aws: &Aws,
    want: &Desired,
    engine: &ReferenceData,
    ours: bool,
    prior_objects: &[String],
) -> AwsResult<(String, BTreeMap<String, String>)> {
    let expect = Expect::from_ours(ours || !engine.bucket_managed);
    let found = s3::find(&aws.s3, &engine.bucket, expect).await?;
    // A bucket this apply creates holds no object yet: nothing to compare with.
    let created = engine.bucket_managed && found.is_none();
    if engine.bucket_managed {
        let spec = BucketSpec {
            name: engine.bucket.clone(),
            region: aws.region.clone(),
            tags: want.tags.clone(),
        };
        match found {
            None => {
                s3::create(&aws.s3, &spec).await?;
            }
            Some(current) => {
                if !ours {
                    want.owner.check(own::BUCKET, &spec.name, &current.tags)?;
                }
                s3::update(&aws.s3, &current, &spec).await?;
            }
        }
    } else if found.is_none() {
        return Err(AwsError::other(format!(
            "the reference bucket ({}) named by `analytics.reference_bucket` does not exist: create it, or leave the attribute unset for the pipeline to create one",
            engine.bucket
        )));
    }
    // Every object at once: each is compared with what the bucket holds and put if it differs.
    let objects = engine
        .objects
        .iter()
        .map(|(key, bytes, hash, file)| async move {
            if created
                || s3::object_hash(&aws.s3, &engine.bucket, key)
                    .await?
                    .as_deref()
                    != Some(hash)
            {
                s3::put_object(&aws.s3, &engine.bucket, key, bytes.clone(), file).await?;
            }
            Ok::<_, AwsError>((key.clone(), hash.clone()))
        });
    let hashes: BTreeMap<String, String> = futures::future::try_join_all(objects)
        .await?
        .into_iter()
        .collect();
    for key in prior_objects {
        if !hashes.contains_key(key) {
            s3::delete_object(&aws.s3, &engine.bucket, key).await?;
        }
    }
    Ok((engine.bucket_arn.clone(), hashes))
}

/// Role first (its ARN gives the account), then its policy naming the pipeline's ARNs.
async fn ensure_role(aws: &Aws, want: &Desired, ours: bool) -> AwsResult<String> {
    let policy = |role_arn: &str| {
        let account = account_of(role_arn).unwrap_or_default();
        let partition = partition_of(role_arn);
        let arn = |service: &str, kind: &str, name: &str| {
            format!(
                "arn:{partition}:{service}:{}:{account}:{kind}/{name}",
                aws.region
            )
        };
        let source = want.source();
        let stream_arn = arn("kinesis", "stream", &source.name);
        let table_arn = arn("dynamodb", "table", &want.table.name);
        let enriched_arn = arn("kinesis", "stream", &want.enriched.name);
        let state_table_arn = want
            .engine
            .as_ref()
            .map(|e| arn("dynamodb", "table", &e.state_table.name));
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
            engine: match (&want.engine, &state_table_arn, &want.reference) {
                (Some(engine), Some(state_table_arn), Some(reference)) => Some(iam::EngineScope {
                    state_table_arn,
                    reference_bucket_arn: &reference.bucket_arn,
                    publish_to: engine.publish_enriched.then_some(enriched_arn.as_str()),
                    publish_kms_key: want.enriched.kms_key_id.as_deref(),
                }),
                _ => None,
            },
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
        &want.owner,
        &want.tags,
    )
    .await
}

/// Brings the function to `want`, given what its finder found (`found`, looked up while the
/// role was brought up: it needs only the name).
async fn ensure_function(
    aws: &Aws,
    want: &Desired,
    role_arn: &str,
    ours: bool,
    found: Option<lambda::Function>,
) -> AwsResult<String> {
    let spec = FunctionSpec {
        name: want.function_name.clone(),
        role_arn: role_arn.to_string(),
        architecture: want.architecture.clone(),
        memory_size: want.memory_size,
        timeout: want.timeout,
        zip: want.artifact.zip.clone(),
        code_sha256: want.artifact.sha256.clone(),
        environment: want.function_environment(),
        tags: want.tags.clone(),
    };
    match found {
        None => Ok(lambda::create_function(&aws.lambda, &spec).await?.arn),
        Some(current) => {
            if !ours {
                want.owner.check(own::FUNCTION, &spec.name, &current.tags)?;
            }
            Ok(lambda::update_function(&aws.lambda, &current, &spec)
                .await?
                .arn)
        }
    }
}

async fn ensure_mapping(
    aws: &Aws,
    want: &Desired,
    source_arn: &str,
    prior_uuid: Option<&str>,
) -> AwsResult<String> {
    let m = &want.mapping;
    let spec = MappingSpec {
        function_name: want.function_name.clone(),
        source_arn: source_arn.to_string(),
        starting_position: m.starting_position.clone(),
        batch_size: m.batch_size,
        batching_window: m.batching_window,
        parallelization_factor: m.parallelization_factor,
        bisect_on_error: m.bisect_on_error,
        maximum_retry_attempts: m.maximum_retry_attempts,
        maximum_record_age: m.maximum_record_age,
        on_failure: Some(want.dead_letter.bucket_arn.clone()),
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
    match current {
        Some(c)
            if c.source_arn == source_arn
                && c.function_arn
                    .ends_with(&format!(":function:{}", spec.function_name))
                && c.starting_position == spec.starting_position =>
        {
            Ok(lambda::update_mapping(&aws.lambda, &c, &spec).await?.uuid)
        }
        Some(c) => {
            lambda::delete_mapping(&aws.lambda, &c.uuid).await?;
            Ok(lambda::create_mapping(&aws.lambda, &spec).await?.uuid)
        }
        None => Ok(lambda::create_mapping(&aws.lambda, &spec).await?.uuid),
    }
}

/// Brings every component to `want`. `prior` is the state before an update (`None` on create).
pub async fn converge(
    aws: &Aws,
    want: &Desired,
    planned: &PipelineState,
    config: &PipelineState,
    prior: Option<&PipelineState>,
) -> Outcome {
    let ours = |arn: Option<&Str>| arn.is_some_and(known);
    let cdc_ours = ours(prior.map(|p| &p.cdc_stream.arn));
    let enriched_ours = ours(prior.map(|p| &p.enriched_stream.arn));
    let table_ours = ours(prior.map(|p| &p.sink.arn));
    let role_ours = prior.is_some_and(|p| {
        known(&p.persist.role_arn) && p.persist.role_name.as_ref_option() == Some(&want.role_name)
    });
    let function_ours = prior.is_some_and(|p| {
        known(&p.persist.function_arn)
            && p.persist.function_name.as_ref_option() == Some(&want.function_name)
    });
    let prior_uuid = prior.and_then(|p| p.persist.event_source_mapping_id.as_ref_option().cloned());
    let bucket_ours = prior.is_some_and(|p| {
        known(&p.persist.dead_letter_bucket_arn)
            && p.persist.dead_letter_bucket.as_ref_option() == Some(&want.dead_letter.bucket)
    });

    let state_table_ours = prior.is_some_and(|p| {
        known(&p.analytics.state_table_arn)
            && want.engine.as_ref().map(|e| &e.state_table.name)
                == p.analytics.state_table.as_ref_option()
    });
    let reference_ours = prior.is_some_and(|p| {
        known(&p.analytics.reference_bucket_arn)
            && want.reference.as_ref().map(|r| &r.bucket)
                == p.analytics.reference_bucket.as_ref_option()
    });
    let prior_objects: Vec<String> = prior
        .and_then(|p| p.analytics.reference_objects.as_ref_option())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();

    // Every part starts as soon as the parts it needs are up, not when every part of a phase
    // is: those others need are shared futures, each run once, awaited by every part that
    // needs it and by the final join.
    let cdc = Box::pin(ensure_stream(aws, &want.cdc, cdc_ours, &want.owner)).shared();
    let enriched = Box::pin(ensure_stream(
        aws,
        &want.enriched,
        enriched_ours,
        &want.owner,
    ))
    .shared();
    let bucket = Box::pin(ensure_dead_letter_bucket(aws, want, bucket_ours)).shared();
    let role_then_function = Box::pin(async {
        // The function is looked up while its role is brought up: a round less on the way to
        // the mapping, the longest path of a first apply.
        let (role, found) = tokio::join!(
            ensure_role(aws, want, role_ours),
            lambda::find_function_by_name(&aws.lambda, &want.function_name)
        );
        let function = match (&role, found) {
            (Ok(role_arn), Ok(found)) => {
                Some(ensure_function(aws, want, role_arn, function_ours, found).await)
            }
            (Ok(_), Err(e)) => Some(Err(e)),
            (Err(_), _) => None,
        };
        (role, function)
    })
    .shared();
    let engine = Box::pin(async {
        tokio::join!(
            async {
                match &want.engine {
                    Some(engine) => Some(
                        ensure_table(aws, &engine.state_table, state_table_ours, &want.owner).await,
                    ),
                    None => None,
                }
            },
            async {
                match &want.reference {
                    Some(reference) => Some(
                        ensure_reference(aws, want, reference, reference_ours, &prior_objects)
                            .await,
                    ),
                    None => None,
                }
            },
        )
    })
    .shared();
    let sql_role = Box::pin(async {
        match &want.sql {
            Some(app) => Some(
                sql::prepare(
                    aws,
                    app,
                    &sql::Streams {
                        cdc: &want.cdc,
                        enriched: &want.enriched,
                    },
                    want.reference.as_ref().map(|r| r.bucket_arn.as_str()),
                    &want.owner,
                    &want.tags,
                )
                .await,
            ),
            None => None,
        }
    })
    .shared();
    let timeout = if prior.is_some() {
        want.timeouts.update
    } else {
        want.timeouts.create
    };
    // The mapping reads its stream, invokes the function and sends what it gives up on to the
    // dead-letter bucket: it needs all three (and the engine its state and reference data).
    let mapping = async {
        let stream = if want.engine.is_some() {
            cdc.clone()
        } else {
            enriched.clone()
        };
        let (source, (_, function), bucket, (state_table, reference)) = tokio::join!(
            stream,
            role_then_function.clone(),
            bucket.clone(),
            engine.clone()
        );
        let engine_ready = want.engine.is_none()
            || (state_table.as_ref().is_some_and(Result::is_ok)
                && reference.as_ref().is_none_or(Result::is_ok));
        match (source, function, bucket) {
            (Ok(source), Some(Ok(_)), Ok(_)) if engine_ready => {
                Some(ensure_mapping(aws, want, &source, prior_uuid.as_deref()).await)
            }
            _ => None,
        }
    };
    // The blocks that hang off the core: each awaits what it needs of it.
    let account = prior
        .and_then(|p| p.persist.role_arn.as_ref_option())
        .and_then(|arn| account_of(arn))
        .unwrap_or_default()
        .to_string();
    let core = Core {
        aws,
        owner: &want.owner,
        tags: &want.tags,
        timeout,
        account: &account,
        cdc: &want.cdc,
        cdc_arn: cdc.clone().map(Result::ok).boxed().shared(),
    };
    let blocks_done = futures::future::join_all(
        BLOCKS
            .iter()
            .map(|block| block.apply(&core, planned, config, prior)),
    );
    // The application reads the CDC stream and the reference objects, and writes its outputs
    // (the enriched stream, typically).
    let sql_done = async {
        let (sql_role, cdc, enriched, (_, reference)) = tokio::join!(
            sql_role.clone(),
            cdc.clone(),
            enriched.clone(),
            engine.clone()
        );
        match (&want.sql, sql_role, cdc, enriched) {
            (Some(app), Some(Ok(role_arn)), Ok(cdc_arn), Ok(_))
                if reference.as_ref().is_none_or(Result::is_ok) =>
            {
                Some(
                    Box::pin(sql::finish(
                        aws,
                        app,
                        &role_arn,
                        &cdc_arn,
                        want.reference.as_ref().map(|r| r.bucket_arn.as_str()),
                        &want.owner,
                        &want.tags,
                        timeout,
                    ))
                    .await,
                )
            }
            _ => None,
        }
    };
    let (
        (cdc, enriched, table, bucket),
        ((role, function), (state_table, reference), sql_role),
        (mapping, blocks_done, sql_done),
    ) = tokio::join!(
        async {
            tokio::join!(
                cdc.clone(),
                enriched.clone(),
                ensure_table(aws, &want.table, table_ours, &want.owner),
                bucket.clone(),
            )
        },
        async { tokio::join!(role_then_function.clone(), engine.clone(), sql_role.clone()) },
        async { tokio::join!(mapping, blocks_done, sql_done) },
    );

    let mut out = Outcome::default();
    out.cdc_arn = out.take(cdc);
    out.enriched_arn = out.take(enriched);
    out.table_arn = out.take(table);
    out.dead_letter_arn = out.take(bucket);
    out.role_arn = out.take(role);
    out.function_arn = function.and_then(|f| out.take(f));
    out.mapping_uuid = mapping.and_then(|m| out.take(m));
    if let Some(state_table) = state_table {
        out.state_table_arn = out.take(state_table);
    }
    if let Some(reference) = reference {
        if let Some((arn, objects)) = out.take(reference) {
            out.reference_bucket_arn = Some(arn);
            out.reference_objects = Some(objects);
        }
    }
    out.analytics_role_arn = sql_role.and_then(|r| out.take(r));
    if let Some(done) = sql_done.and_then(|d| out.take(d)) {
        out.application_arn = Some(done.application_arn);
        out.application_version_id = Some(done.version_id);
    }
    for applied in blocks_done {
        out.errors.extend(applied.errors);
        out.records.extend(applied.record);
    }

    // An engine turned off: its parts go (the reference data when nothing uses it any more).
    if let Some(p) = prior {
        let account = p
            .persist
            .role_arn
            .as_ref_option()
            .and_then(|arn| account_of(arn));
        if want.engine.is_none() {
            out.errors
                .extend(destroy_state_table(aws, &p.analytics).await);
        }
        if want.reference.is_none() {
            out.errors
                .extend(destroy_reference(aws, p, account, &want.owner.adopted).await);
        }
        if want.sql.is_none() && p.analytics.sql_engine() {
            out.errors
                .extend(sql::destroy(aws, &p.analytics, timeout).await);
        }
    }
    // Components renamed in place: the new ones are up, so the old ones go.
    if let Some(p) = prior {
        if let (Some(old), true) = (
            p.persist.function_name.as_ref_option(),
            function_ours_changed(p, want),
        ) {
            if let Some(uuid) = &prior_uuid {
                if out.mapping_uuid.as_deref() != Some(uuid.as_str()) {
                    let r = lambda::delete_mapping(&aws.lambda, uuid).await;
                    out.take(r);
                }
            }
            let r = lambda::delete_function(&aws.lambda, old).await;
            out.take(r);
        }
        if let Some(old) = p.persist.role_name.as_ref_option() {
            if *old != want.role_name && known(&p.persist.role_arn) && out.function_arn.is_some() {
                let r = iam::delete(&aws.iam, old).await;
                out.take(r);
            }
        }
    }
    out
}

fn function_ours_changed(prior: &PipelineState, want: &Desired) -> bool {
    known(&prior.persist.function_arn)
        && prior
            .persist
            .function_name
            .as_ref_option()
            .is_some_and(|old| *old != want.function_name)
}

/// Deletes every component the state knows (those with an id): the mapping first so nothing
/// reads a stream being deleted, then everything else concurrently, the role after its
/// function. Not-found is success. A dead-letter bucket that still holds dead letters stops
/// the destroy unless `dead_letter_force_destroy` allows emptying it.
pub async fn destroy(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> Vec<String> {
    let p = &state.persist;
    let managed_bucket = match (&state.name, &p.dead_letter_bucket) {
        (Value::Value(name), Value::Value(bucket))
            if known(&p.dead_letter_bucket_arn)
                && (*bucket == default_dead_letter_bucket(name, &identity.account)
                    || adopted.contains(own::BUCKET, bucket)) =>
        {
            Some(bucket.clone())
        }
        _ => None,
    };
    let force = matches!(p.dead_letter_force_destroy, Value::Value(true));
    // Checked before anything is deleted, so a refused destroy leaves the pipeline whole.
    if let (Some(bucket), false) = (&managed_bucket, force) {
        match s3::holds_objects(&aws.s3, bucket).await {
            Ok(false) => {}
            Ok(true) => {
                return vec![format!(
                    "deleting S3 bucket ({bucket}): the dead-letter bucket still holds objects (records the pipeline could not process): inspect them, or set `persist.dead_letter_force_destroy = true` to delete them with the bucket; nothing was deleted"
                )]
            }
            Err(e) => return vec![e.message],
        }
    }
    let timeout = timeouts(&state.timeouts).delete;
    let destroying = Destroying {
        aws,
        account: &identity.account,
        adopted,
        timeout,
    };
    for block in BLOCKS {
        if let Some(refused) = block.refuses_destroy(&destroying, state).await {
            return vec![refused];
        }
    }
    let mut errors = Vec::new();
    // What reads or writes the CDC stream goes before it: the blocks' parts (the replication
    // task with the rest of DMS, the lake's delivery stream).
    let blocks =
        futures::future::join_all(BLOCKS.iter().map(|block| block.destroy(&destroying, state)));
    // The SQL application reads the CDC stream and writes the enriched one.
    let sql = sql::destroy(aws, &state.analytics, timeout);
    let (blocks, sql) = tokio::join!(blocks, sql);
    errors.extend(blocks.into_iter().flatten());
    errors.extend(sql);
    if let Value::Value(uuid) = &p.event_source_mapping_id {
        if let Err(e) = lambda::delete_mapping(&aws.lambda, uuid).await {
            errors.push(e.message);
        }
    }
    let stream = |b: &super::state::StreamBlock| {
        let name = b.name.as_ref_option().filter(|_| known(&b.arn)).cloned();
        async move {
            match name {
                Some(name) => kinesis::delete(&aws.kinesis, &name).await,
                None => Ok(()),
            }
        }
    };
    let table = async {
        match state
            .sink
            .name
            .as_ref_option()
            .filter(|_| known(&state.sink.arn))
        {
            Some(name) => dynamodb::delete(&aws.dynamodb, name).await,
            None => Ok(()),
        }
    };
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
        match &managed_bucket {
            Some(bucket) => s3::delete(&aws.s3, bucket, force).await,
            None => Ok(()),
        }
    };
    let results = tokio::join!(
        stream(&state.cdc_stream),
        stream(&state.enriched_stream),
        table,
        function_then_role,
        bucket
    );
    for r in [results.0, results.1, results.2, results.3, results.4] {
        if let Err(e) = r {
            errors.push(e.message);
        }
    }
    errors.extend(destroy_state_table(aws, &state.analytics).await);
    errors.extend(destroy_reference(aws, state, Some(&identity.account), adopted).await);
    errors
}

/// Deletes the `lambda` engine's state table (when the state knows it).
async fn destroy_state_table(aws: &Aws, a: &AnalyticsBlock) -> Vec<String> {
    match a
        .state_table
        .as_ref_option()
        .filter(|_| known(&a.state_table_arn))
    {
        Some(name) => match dynamodb::delete(&aws.dynamodb, name).await {
            Ok(()) => Vec::new(),
            Err(e) => vec![e.message],
        },
        None => Vec::new(),
    }
}

/// Deletes the uploaded reference data (the bucket too when the pipeline created it: it holds
/// only the uploaded reference files).
async fn destroy_reference(
    aws: &Aws,
    state: &PipelineState,
    account: Option<&str>,
    adopted: &Adopted,
) -> Vec<String> {
    let a = &state.analytics;
    let mut errors = Vec::new();
    let Some(bucket) = a
        .reference_bucket
        .as_ref_option()
        .filter(|_| known(&a.reference_bucket_arn))
    else {
        return errors;
    };
    // Only the bucket the pipeline created (the default name) is deleted; a named one keeps
    // everything but the uploaded objects.
    // A bucket an import named is the pipeline's too (reference data, which the configured
    // files upload again).
    let managed = adopted.contains(own::BUCKET, bucket)
        || match (&state.name, account) {
            (Value::Value(name), Some(account)) => {
                *bucket == default_reference_bucket(name, account)
            }
            _ => false,
        };
    let keys: Vec<String> = a
        .reference_objects
        .as_ref_option()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for key in keys {
        if let Err(e) = s3::delete_object(&aws.s3, bucket, &key).await {
            errors.push(e.message);
        }
    }
    if managed {
        // It holds only the uploaded reference files: those a failed apply uploaded without
        // recording them go with it.
        if let Err(e) = s3::delete(&aws.s3, bucket, true).await {
            errors.push(e.message);
        }
    }
    errors
}
