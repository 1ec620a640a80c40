//! The `data_lake` block: a Firehose delivery stream forking the raw CDC records into an S3
//! bucket, with its own role. Its whole life but its schema (`state.rs`), as a
//! [`Block`]: plan-time validation and defaults, apply (role and bucket first, the delivery
//! stream once the CDC stream is up; parts renamed or a removed block go once the new ones
//! are up), refresh, import, what a failed apply left, and destroy.
//!
//! ```text
//!   Firehose role, lake bucket ─┬─▶ delivery stream
//!   cdc stream ─────────────────┘
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::schema::{block, computed, defaulted};
use async_trait::async_trait;
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::aws::firehose::{self, DeliveryStreamSpec};
use crate::aws::iam;
use crate::aws::s3::{self, BucketSpec};
use crate::aws::{account_of, partition_of, Aws, AwsError, AwsResult, Expect, Identity};
use crate::pipeline::block::{
    Applied, Block, Core, Destroying, ImportKey, Importing, Ours, Record, Refreshed,
};
use crate::pipeline::owner::{self as own, Adopted, Owner};
use crate::pipeline::roles::{arn_in, ensure_service_role, role_arn, ServiceRole};
use crate::pipeline::state::{first_mut, one, DataLakeBlock, PipelineState, Str};
use crate::pipeline::values::{
    arn_name, arn_of, derive, in_range, known, name_like, need, nullable, one_of, path, pick, some,
    text,
};

/// `data_lake`: Firehose from the CDC stream into S3.
pub fn schema() -> NestedBlock {
    NestedBlock::Optional(block(
        "The data lake: a Firehose delivery stream reading `cdc_stream` and writing the raw CDC records to S3, partitioned by date. Omit the block for no lake.",
        vec![
            ("delivery_stream_name", defaulted(AttributeType::String, "Firehose delivery stream name. Default `<name>-lake`. Changing it recreates the delivery stream in place.")),
            ("bucket", defaulted(AttributeType::String, "The lake bucket. Default: one the pipeline creates, `<name>-lake-<account id>` (lowercase); name an existing bucket to use it instead (never created or deleted then).")),
            ("prefix", defaulted(AttributeType::String, "Object key prefix, with Firehose's expressions. Default `cdc/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/` (Hive-style date partitions, in UTC).")),
            ("error_prefix", defaulted(AttributeType::String, "Key prefix of records Firehose could not deliver. Default `errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`.")),
            ("buffering_size_mb", defaulted(AttributeType::Number, "Deliver when this many MiB are buffered, 1 to 128 (default `5`).")),
            ("buffering_interval_seconds", defaulted(AttributeType::Number, "…or when the oldest buffered record is this old, 0 to 900 seconds (default `300`).")),
            ("compression", defaulted(AttributeType::String, "`GZIP` (default), `UNCOMPRESSED`, `ZIP`, `Snappy` or `HADOOP_SNAPPY`.")),
            ("force_destroy", defaulted(AttributeType::Bool, "Whether destroying the pipeline may delete a lake bucket it created that still holds objects (default `false`: destroy stops and says so, so nothing is lost).")),
            ("role_name", defaulted(AttributeType::String, "The Firehose role. Default `<name>-firehose`.")),
            ("role_arn", computed(AttributeType::String, "The Firehose role's ARN.")),
            ("bucket_arn", computed(AttributeType::String, "The lake bucket's ARN.")),
            ("delivery_stream_arn", computed(AttributeType::String, "The delivery stream's ARN.")),
        ],
    ))
}

const LAKE: &str = "data_lake";
const COMPRESSIONS: [&str; 5] = ["GZIP", "UNCOMPRESSED", "ZIP", "Snappy", "HADOOP_SNAPPY"];
pub const DEFAULT_LAKE_PREFIX: &str =
    "cdc/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
pub const DEFAULT_LAKE_ERROR_PREFIX: &str =
    "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/";

/// The `data_lake` block.
pub struct DataLake;

const IMPORT_KEYS: &[ImportKey] = &[
    ImportKey {
        key: "delivery_stream",
        what: "the data lake's Firehose delivery stream",
        kind: own::DELIVERY_STREAM,
    },
    ImportKey {
        key: "lake_bucket",
        what: "the data lake's S3 bucket",
        kind: own::BUCKET,
    },
    ImportKey {
        key: "firehose_role",
        what: "the delivery stream's IAM role",
        kind: own::ROLE,
    },
];

/// The ids an apply came to, recorded in the planned block: null where a part could not be
/// brought up (the next plan shows it).
fn record(
    role_arn: Option<String>,
    bucket_arn: Option<String>,
    stream_arn: Option<String>,
) -> Record {
    Box::new(move |state| {
        if let Some(l) = first_mut(&mut state.data_lake) {
            l.role_arn = nullable(role_arn);
            l.bucket_arn = nullable(bucket_arn);
            l.delivery_stream_arn = nullable(stream_arn);
        }
    })
}

#[async_trait]
impl Block for DataLake {
    fn name(&self) -> &'static str {
        "data_lake"
    }

    fn schema(&self) -> NestedBlock {
        schema()
    }

    fn import_keys(&self) -> &'static [ImportKey] {
        IMPORT_KEYS
    }

    fn validate(&self, config: &PipelineState, diags: &mut Diagnostics) {
        if let Some(lake) = config.data_lake() {
            validate_lake(lake, diags);
        }
    }

    fn plan(
        &self,
        config: &PipelineState,
        prior: Option<&PipelineState>,
        identity: &Identity,
        planned: &mut PipelineState,
        _diags: &mut Diagnostics,
    ) {
        let lake = plan_lake(
            config.data_lake(),
            prior.and_then(|p| p.data_lake()),
            &planned.name,
            identity,
        );
        planned.data_lake = one(lake);
    }

    async fn apply(
        &self,
        core: &Core<'_>,
        planned: &PipelineState,
        config: &PipelineState,
        prior: Option<&PipelineState>,
    ) -> Applied {
        let mut applied = Applied::default();
        let prior_lake = prior.and_then(|p| p.data_lake());
        let bucket_managed = config.data_lake().is_some_and(|l| l.bucket.is_null());
        let want = match planned
            .data_lake()
            .map(|b| Lake::from_state(b, bucket_managed))
        {
            Some(Ok(lake)) => Some(lake),
            Some(Err(message)) => {
                applied.errors.push(message);
                applied.record = Some(record(None, None, None));
                return applied;
            }
            None => None,
        };
        let mut stream_arn = None;
        if let Some(lake) = &want {
            // The role and the bucket do not wait for the CDC stream; Firehose's source does.
            let (role, cdc_arn) = tokio::join!(
                prepare_lake(core.aws, lake, prior_lake, core.cdc, core.owner, core.tags),
                core.cdc_arn.clone()
            );
            let role_arn = role.map_err(|e| applied.errors.push(e.message)).ok();
            if let (Some(role_arn), Some(cdc_arn)) = (&role_arn, cdc_arn) {
                let done = Box::pin(finish_lake(
                    core.aws,
                    lake,
                    prior_lake,
                    role_arn,
                    &cdc_arn,
                    core.owner,
                    core.tags,
                    core.timeout,
                ))
                .await;
                stream_arn = done.map_err(|e| applied.errors.push(e.message)).ok();
            }
            let bucket_arn = role_arn.as_ref().map(|_| lake.bucket_arn.clone());
            applied.record = Some(record(role_arn, bucket_arn, stream_arn.clone()));
        }
        // Parts renamed in place (or the block removed): the new ones are up, the old ones go.
        if let (Some(state), Some(p)) = (prior, prior_lake) {
            if want.is_none() || stream_arn.is_some() {
                let managed = lake_bucket_managed(state, p, core.account, &core.owner.adopted);
                applied
                    .errors
                    .extend(destroy_lake(core.aws, p, want.as_ref(), managed, core.timeout).await);
            }
        }
        applied
    }

    async fn refresh(&self, aws: &Aws, prior: &PipelineState) -> AwsResult<Refreshed> {
        let mut lake = prior.data_lake().cloned();
        if let Some(l) = &mut lake {
            // The CDC stream's ARN it reads is the state's (deterministic from its name).
            let cdc_arn = prior.cdc_stream.arn.as_ref_option().map(String::as_str);
            refresh_lake(aws, l, cdc_arn).await?;
        }
        let exists = lake
            .as_ref()
            .is_some_and(|l| l.delivery_stream_arn.is_value() || l.role_arn.is_value());
        Ok(Refreshed {
            exists,
            record: Box::new(move |state| state.data_lake = one(lake)),
        })
    }

    async fn import(
        &self,
        importing: &mut Importing<'_>,
        state: &mut PipelineState,
    ) -> Result<bool, String> {
        state.data_lake = one(None);
        let id = importing.id;
        let delivery_stream = id.get("delivery_stream", || format!("{}-lake", id.name));
        importing.note("Firehose delivery stream", &delivery_stream);
        if id.by_map() && !id.components.contains_key("delivery_stream") {
            return Ok(false);
        }
        let found = firehose::find_by_name(&importing.aws.firehose, &delivery_stream)
            .await
            .map_err(|e| e.message)?;
        let Some(d) = found else {
            return Ok(false);
        };
        importing.owned("Firehose delivery stream", &delivery_stream, &d.tags)?;
        let role_name = id.get("firehose_role", || arn_name(&d.role_arn));
        state.data_lake = one(Some(DataLakeBlock {
            delivery_stream_name: some(d.name.clone()),
            bucket: some(arn_name(&d.bucket_arn)),
            force_destroy: some(false),
            role_name: some(role_name),
            bucket_arn: some(d.bucket_arn.clone()),
            ..DataLakeBlock::default()
        }));
        Ok(true)
    }

    async fn adopted(
        &self,
        aws: &Aws,
        state: &PipelineState,
        adopted: &mut Adopted,
    ) -> Result<(), String> {
        let Some(l) = state.data_lake() else {
            return Ok(());
        };
        if let Some(name) = l.role_name.as_ref_option() {
            let role = iam::find_by_name(&aws.iam, name, "unifiedetl-firehose").await;
            if role.map_err(|e| e.message)?.is_some() {
                adopted.add(own::ROLE, name);
            }
        }
        let named = |v: &Str, arn: &Str| v.as_ref_option().filter(|_| arn.is_value()).cloned();
        if let Some(name) = named(&l.delivery_stream_name, &l.delivery_stream_arn) {
            adopted.add(own::DELIVERY_STREAM, &name);
        }
        if let Some(bucket) = named(&l.bucket, &l.bucket_arn) {
            adopted.add(own::BUCKET, &bucket);
        }
        Ok(())
    }

    async fn leftovers(
        &self,
        aws: &Aws,
        identity: &Identity,
        state: &mut PipelineState,
        ours: &Ours<'_>,
    ) -> AwsResult<()> {
        let Some(l) = first_mut(&mut state.data_lake) else {
            return Ok(());
        };
        let missing = |name: &Str, arn: &Str| name.as_ref_option().filter(|_| !known(arn)).cloned();
        if let Some(name) = missing(&l.delivery_stream_name, &l.delivery_stream_arn) {
            if let Some(found) = firehose::find_by_name(&aws.firehose, &name).await? {
                if ours(own::DELIVERY_STREAM, &name, &found.tags) {
                    l.delivery_stream_arn = Value::Value(found.arn);
                }
            }
        }
        if let Some(name) = missing(&l.bucket, &l.bucket_arn) {
            if let Some(found) = s3::find(&aws.s3, &name, Expect::Present).await? {
                if ours(own::BUCKET, &name, &found.tags) {
                    l.bucket_arn = Value::Value(format!("arn:{}:s3:::{name}", identity.partition));
                }
            }
        }
        if let Some(name) = missing(&l.role_name, &l.role_arn) {
            if let Some(found) = iam::find_by_name(&aws.iam, &name, "unifiedetl-firehose").await? {
                if ours(own::ROLE, &name, &found.tags) {
                    l.role_arn = Value::Value(found.arn);
                }
            }
        }
        Ok(())
    }

    async fn refuses_destroy(&self, d: &Destroying<'_>, state: &PipelineState) -> Option<String> {
        lake_blocks_destroy(d.aws, state, d.account, d.adopted).await
    }

    async fn destroy(&self, d: &Destroying<'_>, state: &PipelineState) -> Vec<String> {
        match state.data_lake() {
            Some(lake) => {
                let managed = lake_bucket_managed(state, lake, d.account, d.adopted);
                destroy_lake(d.aws, lake, None, managed, d.timeout).await
            }
            None => Vec::new(),
        }
    }
}

// ------------------------------------------------------------------------------ plan

fn validate_lake(l: &DataLakeBlock, diags: &mut Diagnostics) {
    name_like(
        LAKE,
        "delivery_stream_name",
        &l.delivery_stream_name,
        64,
        "_.-",
        "a Firehose delivery stream name",
        diags,
    );
    in_range(
        LAKE,
        "buffering_size_mb",
        &l.buffering_size_mb,
        1,
        128,
        diags,
    );
    in_range(
        LAKE,
        "buffering_interval_seconds",
        &l.buffering_interval_seconds,
        0,
        900,
        diags,
    );
    one_of(LAKE, "compression", &l.compression, &COMPRESSIONS, diags);
    name_like(
        LAKE,
        "role_name",
        &l.role_name,
        64,
        "_+=,.@-",
        "an IAM role name",
        diags,
    );
    if let Value::Value(bucket) = &l.bucket {
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            diags.error(
                "invalid data_lake.bucket",
                format!("`data_lake.bucket` \"{bucket}\" is not an S3 bucket name: 3 to 63 lowercase letters, digits, `-` or `.`, starting with a letter or digit"),
                path(LAKE, "bucket"),
            );
        }
    }
    for attr in ["prefix", "error_prefix"] {
        let value = if attr == "prefix" {
            &l.prefix
        } else {
            &l.error_prefix
        };
        if let Value::Value(prefix) = value {
            if prefix.starts_with('/') || prefix.is_empty() {
                diags.error(
                    format!("invalid data_lake.{attr}"),
                    format!("`data_lake.{attr}` must be a non-empty key prefix not starting with `/` (got \"{prefix}\"), e.g. \"cdc/\""),
                    path(LAKE, attr),
                );
            }
        }
    }
}

/// The lake bucket a pipeline creates when none is named.
fn default_lake_bucket(pipeline: &str, account: &str) -> String {
    format!(
        "{}-lake-{account}",
        pipeline.to_ascii_lowercase().replace('_', "-")
    )
}

fn plan_lake(
    config: Option<&DataLakeBlock>,
    prior: Option<&DataLakeBlock>,
    name: &Str,
    identity: &Identity,
) -> Option<DataLakeBlock> {
    let c = config?;
    let delivery_stream_name = pick(&c.delivery_stream_name, derive(name, "lake"));
    let role_name = pick(&c.role_name, derive(name, "firehose"));
    let bucket = pick(
        &c.bucket,
        name.as_ref()
            .map(|n| default_lake_bucket(n, &identity.account)),
    );
    Some(DataLakeBlock {
        bucket_arn: bucket
            .as_ref()
            .map(|b| format!("arn:{}:s3:::{b}", identity.partition)),
        bucket,
        prefix: pick(&c.prefix, text(DEFAULT_LAKE_PREFIX)),
        error_prefix: pick(&c.error_prefix, text(DEFAULT_LAKE_ERROR_PREFIX)),
        buffering_size_mb: pick(&c.buffering_size_mb, Value::Value(5)),
        buffering_interval_seconds: pick(&c.buffering_interval_seconds, Value::Value(300)),
        compression: pick(&c.compression, text("GZIP")),
        force_destroy: pick(&c.force_destroy, Value::Value(false)),
        role_arn: arn_of(
            prior.map(|p| (&p.role_name, &p.role_arn)),
            &role_name,
            |n| identity.arn("iam", false, &format!("role/{n}")),
        ),
        role_name,
        delivery_stream_arn: arn_of(
            prior.map(|p| (&p.delivery_stream_name, &p.delivery_stream_arn)),
            &delivery_stream_name,
            |n| identity.arn("firehose", true, &format!("deliverystream/{n}")),
        ),
        delivery_stream_name,
    })
}

// ------------------------------------------------------------------------------ apply

/// The `data_lake` block, fully known.
struct Lake {
    pub role_name: String,
    pub bucket: String,
    pub bucket_arn: String,
    /// The pipeline created the bucket (none was named), so it also deletes it.
    pub bucket_managed: bool,
    pub delivery_stream: String,
    pub prefix: String,
    pub error_prefix: String,
    pub buffering_size_mb: i32,
    pub buffering_interval_seconds: i32,
    pub compression: String,
}

impl Lake {
    fn from_state(l: &DataLakeBlock, bucket_managed: bool) -> Result<Lake, String> {
        let at = |attr: &str| format!("data_lake.{attr}");
        Ok(Lake {
            role_name: need(&l.role_name, &at("role_name"))?,
            bucket: need(&l.bucket, &at("bucket"))?,
            bucket_arn: need(&l.bucket_arn, &at("bucket_arn"))?,
            bucket_managed,
            delivery_stream: need(&l.delivery_stream_name, &at("delivery_stream_name"))?,
            prefix: need(&l.prefix, &at("prefix"))?,
            error_prefix: need(&l.error_prefix, &at("error_prefix"))?,
            buffering_size_mb: need(&l.buffering_size_mb, &at("buffering_size_mb"))? as i32,
            buffering_interval_seconds: need(
                &l.buffering_interval_seconds,
                &at("buffering_interval_seconds"),
            )? as i32,
            compression: need(&l.compression, &at("compression"))?,
        })
    }
}

/// What [`prepare_lake`] brought up: the role's ARN.
async fn prepare_lake(
    aws: &Aws,
    lake: &Lake,
    prior: Option<&DataLakeBlock>,
    cdc: &crate::aws::kinesis::StreamSpec,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let role_ours = prior.is_some_and(|p| {
        known(&p.role_arn) && p.role_name.as_ref_option() == Some(&lake.role_name)
    });
    let bucket_ours = prior
        .is_some_and(|p| known(&p.bucket_arn) && p.bucket.as_ref_option() == Some(&lake.bucket));
    let role = ensure_service_role(
        aws,
        ServiceRole {
            name: &lake.role_name,
            services: vec!["firehose.amazonaws.com".to_string()],
            policy_name: "unifiedetl-firehose",
        },
        |role_arn| {
            iam::firehose_policy(&iam::FirehoseScope {
                partition: partition_of(role_arn),
                region: &aws.region,
                account: account_of(role_arn).unwrap_or_default(),
                stream_arn: &arn_in(aws, role_arn, "kinesis", &format!("stream/{}", cdc.name)),
                stream_kms_key: cdc.kms_key_id.as_deref(),
                bucket_arn: &lake.bucket_arn,
                prefix: &lake.prefix,
                error_prefix: &lake.error_prefix,
            })
        },
        role_ours,
        owner,
        tags,
    );
    let bucket = async {
        let expect = Expect::from_ours(bucket_ours || !lake.bucket_managed);
        let found = s3::find(&aws.s3, &lake.bucket, expect).await?;
        if !lake.bucket_managed {
            return match found {
                Some(_) => Ok(()),
                None => Err(AwsError::other(format!(
                    "the lake bucket ({}) named by `data_lake.bucket` does not exist: create it, or leave the attribute unset for the pipeline to create one",
                    lake.bucket
                ))),
            };
        }
        let spec = BucketSpec {
            name: lake.bucket.clone(),
            region: aws.region.clone(),
            tags: tags.clone(),
        };
        match found {
            None => s3::create(&aws.s3, &spec).await.map(|_| ()),
            Some(current) => {
                if !bucket_ours {
                    owner.check(own::BUCKET, &spec.name, &current.tags)?;
                }
                s3::update(&aws.s3, &current, &spec).await.map(|_| ())
            }
        }
    };
    let (role, bucket) = tokio::join!(role, bucket);
    bucket?;
    role
}

/// The delivery stream from the (now existing) CDC stream into the lake bucket.
#[allow(clippy::too_many_arguments)]
async fn finish_lake(
    aws: &Aws,
    lake: &Lake,
    prior: Option<&DataLakeBlock>,
    role_arn: &str,
    cdc_arn: &str,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
) -> AwsResult<String> {
    let spec = DeliveryStreamSpec {
        name: lake.delivery_stream.clone(),
        source_stream_arn: cdc_arn.to_string(),
        role_arn: role_arn.to_string(),
        bucket_arn: lake.bucket_arn.clone(),
        prefix: lake.prefix.clone(),
        error_prefix: lake.error_prefix.clone(),
        buffering_size_mb: lake.buffering_size_mb,
        buffering_interval_seconds: lake.buffering_interval_seconds,
        compression: lake.compression.clone(),
        tags: tags.clone(),
    };
    let ours = prior.is_some_and(|p| {
        known(&p.delivery_stream_arn)
            && p.delivery_stream_name.as_ref_option() == Some(&lake.delivery_stream)
    });
    let stream = match firehose::find(&aws.firehose, &spec.name, Expect::from_ours(ours)).await? {
        None => firehose::create(&aws.firehose, &spec, timeout).await?,
        Some(current) => {
            owner.check(own::DELIVERY_STREAM, &spec.name, &current.tags)?;
            if firehose::needs_replacement(&current, &spec) {
                firehose::delete(&aws.firehose, &spec.name, timeout).await?;
                firehose::create(&aws.firehose, &spec, timeout).await?
            } else if firehose::differs(&current, &spec) {
                firehose::update(&aws.firehose, &current, &spec, timeout).await?
            } else {
                current
            }
        }
    };
    Ok(stream.arn)
}

/// Deletes the lake's delivery stream (first: it reads the CDC stream), role, and the bucket
/// when the pipeline created it. A bucket that holds objects stops here unless `force_destroy`:
/// checked by [`lake_blocks_destroy`] before anything is deleted. `renamed_only`: after an
/// update, only what the new configuration no longer names.
async fn destroy_lake(
    aws: &Aws,
    prior: &DataLakeBlock,
    now: Option<&Lake>,
    managed_bucket: bool,
    timeout: Duration,
) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(name) = prior.delivery_stream_name.as_ref_option() {
        if known(&prior.delivery_stream_arn) && now.map(|l| &l.delivery_stream) != Some(name) {
            if let Err(e) = firehose::delete(&aws.firehose, name, timeout).await {
                errors.push(e.message);
            }
        }
    }
    if let Some(name) = prior.role_name.as_ref_option() {
        if known(&prior.role_arn) && now.map(|l| &l.role_name) != Some(name) {
            if let Err(e) = iam::delete(&aws.iam, name).await {
                errors.push(e.message);
            }
        }
    }
    if let Some(bucket) = prior.bucket.as_ref_option() {
        if managed_bucket && known(&prior.bucket_arn) && now.map(|l| &l.bucket) != Some(bucket) {
            let force = matches!(prior.force_destroy, Value::Value(true));
            if let Err(e) = s3::delete(&aws.s3, bucket, force).await {
                errors.push(e.message);
            }
        }
    }
    errors
}

/// Whether the pipeline created the lake bucket it names (the default name).
fn lake_bucket_managed(
    state: &PipelineState,
    lake: &DataLakeBlock,
    account: &str,
    adopted: &Adopted,
) -> bool {
    match (&state.name, &lake.bucket) {
        (Value::Value(name), Value::Value(bucket)) => {
            *bucket == default_lake_bucket(name, account) || adopted.contains(own::BUCKET, bucket)
        }
        _ => false,
    }
}

/// A lake bucket the pipeline created that still holds objects stops the destroy (nothing is
/// deleted), unless `force_destroy` allows emptying it.
async fn lake_blocks_destroy(
    aws: &Aws,
    state: &PipelineState,
    account: &str,
    adopted: &Adopted,
) -> Option<String> {
    let lake = state.data_lake()?;
    if !lake_bucket_managed(state, lake, account, adopted)
        || !known(&lake.bucket_arn)
        || matches!(lake.force_destroy, Value::Value(true))
    {
        return None;
    }
    let bucket = lake.bucket.as_ref_option()?;
    match s3::holds_objects(&aws.s3, bucket).await {
        Ok(false) => None,
        Ok(true) => Some(format!(
            "deleting S3 bucket ({bucket}): the lake bucket still holds objects (the pipeline's CDC history): copy what you need, or set `data_lake.force_destroy = true` to delete them with the bucket; nothing was deleted"
        )),
        Err(e) => Some(e.message),
    }
}

// ------------------------------------------------------------------------------ refresh

/// The lake: its role, bucket and delivery stream, each compared with the state.
async fn refresh_lake(aws: &Aws, l: &mut DataLakeBlock, cdc_arn: Option<&str>) -> AwsResult<()> {
    let (role, bucket, stream) = tokio::join!(
        role_arn(aws, &l.role_name, &l.role_arn, "unifiedetl-firehose"),
        async {
            match &l.bucket {
                Value::Value(bucket) => s3::exists(&aws.s3, bucket).await,
                _ => Ok(true),
            }
        },
        async {
            match l.delivery_stream_name.as_ref_option() {
                Some(name) => firehose::describe_by_name(&aws.firehose, name).await,
                None => Ok(None),
            }
        },
    );
    l.role_arn = role?;
    if !bucket? {
        l.bucket_arn = Value::Null;
    }
    let stream = stream?;
    match stream {
        Some(d)
            if d.source_stream_arn.as_deref() == cdc_arn
                && l.role_arn.as_ref_option() == Some(&d.role_arn)
                && l.bucket_arn.as_ref_option() == Some(&d.bucket_arn) =>
        {
            l.prefix = some(d.prefix);
            l.error_prefix = some(d.error_prefix);
            l.buffering_size_mb = some(d.buffering_size_mb as i64);
            l.buffering_interval_seconds = some(d.buffering_interval_seconds as i64);
            l.compression = some(d.compression);
            l.delivery_stream_arn = some(d.arn);
        }
        _ => l.delivery_stream_arn = Value::Null,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_lake(lake: DataLakeBlock) -> PipelineState {
        PipelineState {
            name: text("Orders_1"),
            data_lake: some(vec![some(lake)]),
            ..Default::default()
        }
    }

    fn planned(config: &PipelineState) -> PipelineState {
        let mut planned = PipelineState {
            name: config.name.clone(),
            ..Default::default()
        };
        DataLake.plan(
            config,
            None,
            &Identity::for_tests(),
            &mut planned,
            &mut Diagnostics::default(),
        );
        planned
    }

    #[test]
    fn defaults_derive_every_name_and_arn_from_the_pipeline() {
        let planned = planned(&with_lake(DataLakeBlock::default()));
        let l = planned.data_lake().expect("the block is planned");
        let value = |v: &Str| v.as_ref_option().cloned().unwrap_or_default();
        assert_eq!(value(&l.delivery_stream_name), "Orders_1-lake");
        assert_eq!(value(&l.role_name), "Orders_1-firehose");
        assert_eq!(value(&l.bucket), "orders-1-lake-123456789012");
        assert_eq!(
            value(&l.bucket_arn),
            "arn:aws:s3:::orders-1-lake-123456789012"
        );
        assert_eq!(
            value(&l.delivery_stream_arn),
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/Orders_1-lake"
        );
        assert_eq!(value(&l.prefix), DEFAULT_LAKE_PREFIX);
        assert_eq!(value(&l.compression), "GZIP");
    }

    #[test]
    fn no_block_plans_none() {
        let planned = planned(&PipelineState {
            name: text("orders"),
            ..Default::default()
        });
        // An empty list, as Terraform sends a configuration without the block.
        assert!(matches!(&planned.data_lake, Value::Value(blocks) if blocks.is_empty()));
    }

    #[test]
    fn bad_settings_are_refused_on_their_attribute() {
        let config = with_lake(DataLakeBlock {
            buffering_size_mb: some(500),
            compression: text("LZ4"),
            ..DataLakeBlock::default()
        });
        let mut diags = Diagnostics::default();
        DataLake.validate(&config, &mut diags);
        let on = |attr: &str| diags.errors.iter().any(|e| e.attribute == path(LAKE, attr));
        assert!(on("buffering_size_mb"), "{:?}", diags.errors);
        assert!(on("compression"), "{:?}", diags.errors);
        assert_eq!(diags.errors.len(), 2);
    }
}
