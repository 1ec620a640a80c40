//! The CDC and the enriched Kinesis streams (`cdc_stream`, `enriched_stream`): two blocks of
//! one shape, each one stream. Their whole life, in order:
//!
//! 1. validate and plan ([`validate`], [`plan`]): the name (derived from the pipeline's), mode,
//!    shards, retention and encryption, and the ARN, known while the name stays;
//! 2. desired ([`spec`]) and apply ([`ensure`]): created, or found by name (the pipeline's, or
//!    adopted) and brought to the spec once `ACTIVE`;
//! 3. refresh ([`find`], [`refreshed`]): what AWS reports, on each attribute;
//! 4. import ([`import`]) and the leftovers of a failed apply ([`leftovers`]);
//! 5. destroy ([`destroy`]).
//!
//! A new name replaces the pipeline ([`replaced_by`]): a stream's records cannot move.

use std::collections::BTreeMap;

use crate::schema::{computed, defaulted, group};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use crate::aws::kinesis::{self, Stream, StreamSpec};
use crate::aws::{Aws, AwsResult, Expect, Identity};
use crate::pipeline::block::{Importing, Ours};
use crate::pipeline::owner::{self as own, Owner};
use crate::pipeline::state::{Str, StreamBlock};
use crate::pipeline::values::{
    arn_of, in_range, missing, name_like, need, one_of, opt, path, pick, some, text,
};

/// The schema of one stream's block (`which` stream; its default name `<name>-<suffix>`).
pub fn schema(which: &str, default_suffix: &str) -> NestedBlock {
    group(
        &format!("The {which} Kinesis data stream. May be omitted: every setting has a default."),
        vec![
            ("name", defaulted(AttributeType::String, &format!("Stream name. Default `<name>-{default_suffix}`. Changing it replaces the pipeline."))),
            ("stream_mode", defaulted(AttributeType::String, "Capacity mode: `PROVISIONED` (default) or `ON_DEMAND`. Updates in place.")),
            ("shard_count", defaulted(AttributeType::Number, "Shards when `stream_mode` is `PROVISIONED` (1 to 500, default `1`); must be unset for `ON_DEMAND`. Updates in place (uniform scaling).")),
            ("retention_hours", defaulted(AttributeType::Number, "How long records stay in the stream, 24 to 8760 hours (default `24`). Updates in place.")),
            ("encryption_type", defaulted(AttributeType::String, "Server-side encryption: `KMS` (default) or `NONE`. Updates in place.")),
            ("kms_key_id", defaulted(AttributeType::String, "KMS key for `KMS` encryption: key id, ARN, alias name or alias ARN. Default `alias/aws/kinesis` (the AWS-managed key). Updates in place.")),
            ("arn", computed(AttributeType::String, "The stream's ARN.")),
        ],
    )
}

pub fn validate(block: &str, s: &StreamBlock, diags: &mut Diagnostics) {
    name_like(
        block,
        "name",
        &s.name,
        128,
        "_.-",
        "a Kinesis stream name",
        diags,
    );
    one_of(
        block,
        "stream_mode",
        &s.stream_mode,
        &["PROVISIONED", "ON_DEMAND"],
        diags,
    );
    let on_demand = matches!(&s.stream_mode, Value::Value(m) if m == "ON_DEMAND");
    if on_demand {
        if let Value::Value(n) = s.shard_count {
            diags.error(
                format!("invalid {block}.shard_count"),
                format!("`{block}.shard_count` must be unset when `stream_mode` is ON_DEMAND (got {n}): on-demand streams scale their shards themselves"),
                path(block, "shard_count"),
            );
        }
    } else if let Value::Value(n) = s.shard_count {
        if !(1..=500).contains(&n) {
            diags.error(
                format!("invalid {block}.shard_count"),
                format!("`{block}.shard_count` must be between 1 and 500 when `stream_mode` is PROVISIONED (got {n})"),
                path(block, "shard_count"),
            );
        }
    }
    in_range(
        block,
        "retention_hours",
        &s.retention_hours,
        24,
        8760,
        diags,
    );
    one_of(
        block,
        "encryption_type",
        &s.encryption_type,
        &["KMS", "NONE"],
        diags,
    );
    if matches!(&s.encryption_type, Value::Value(e) if e == "NONE") && s.kms_key_id.is_value() {
        diags.error(
            format!("invalid {block}.kms_key_id"),
            format!("`{block}.kms_key_id` is set but `{block}.encryption_type` is NONE: remove the key or set `encryption_type = \"KMS\"`"),
            path(block, "kms_key_id"),
        );
    }
}

pub fn plan(
    config: &StreamBlock,
    prior: Option<&StreamBlock>,
    default_name: Str,
    identity: &Identity,
) -> StreamBlock {
    let name = pick(&config.name, default_name);
    let stream_mode = pick(&config.stream_mode, text("PROVISIONED"));
    let shard_count = match (&config.shard_count, &stream_mode) {
        (Value::Null, Value::Value(mode)) if mode == "PROVISIONED" => Value::Value(1),
        (Value::Null, Value::Value(_)) => Value::Null,
        (Value::Null, _) => Value::Unknown,
        (configured, _) => *configured,
    };
    let encryption_type = pick(&config.encryption_type, text("KMS"));
    let kms_key_id = match (&config.kms_key_id, &encryption_type) {
        (Value::Null, Value::Value(e)) if e == "KMS" => text("alias/aws/kinesis"),
        (Value::Null, Value::Value(_)) => Value::Null,
        (Value::Null, _) => Value::Unknown,
        (configured, _) => configured.clone(),
    };
    StreamBlock {
        arn: arn_of(prior.map(|p| (&p.name, &p.arn)), &name, |n| {
            identity.arn("kinesis", true, &format!("stream/{n}"))
        }),
        name,
        stream_mode,
        shard_count,
        retention_hours: pick(&config.retention_hours, Value::Value(24)),
        encryption_type,
        kms_key_id,
    }
}

/// The attributes whose change replaces the pipeline: the name (a stream's records cannot move).
pub fn replaced_by(prior: &StreamBlock, planned: &StreamBlock) -> Vec<&'static str> {
    if prior.name != planned.name {
        vec!["name"]
    } else {
        Vec::new()
    }
}

/// The stream as the planned `block` (fully known) asks for it.
pub fn spec(
    b: &StreamBlock,
    block: &str,
    tags: &BTreeMap<String, String>,
) -> Result<StreamSpec, String> {
    let on_demand = need(&b.stream_mode, &format!("{block}.stream_mode"))? == "ON_DEMAND";
    Ok(StreamSpec {
        name: need(&b.name, &format!("{block}.name"))?,
        shard_count: if on_demand {
            None
        } else {
            Some(need(&b.shard_count, &format!("{block}.shard_count"))? as i32)
        },
        retention_hours: need(&b.retention_hours, &format!("{block}.retention_hours"))? as i32,
        kms_key_id: if need(&b.encryption_type, &format!("{block}.encryption_type"))? == "KMS" {
            opt(&b.kms_key_id)
        } else {
            None
        },
        tags: tags.clone(),
    })
}

/// Brings the stream to `spec`: created, or updated once `ACTIVE`. `ours`: the state knows it
/// (else one found by name must be the pipeline's). Returns its ARN.
pub async fn ensure(aws: &Aws, spec: &StreamSpec, ours: bool, owner: &Owner) -> AwsResult<String> {
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

pub async fn find(aws: &Aws, name: &Str) -> AwsResult<Option<Stream>> {
    match name {
        Value::Value(name) => kinesis::find_by_name(&aws.kinesis, name).await,
        _ => Ok(None),
    }
}

pub fn refreshed(prior: &StreamBlock, seen: Option<Stream>) -> StreamBlock {
    let Some(s) = seen else {
        return StreamBlock {
            arn: Value::Null,
            ..prior.clone()
        };
    };
    StreamBlock {
        name: some(s.name),
        stream_mode: some(
            if s.on_demand {
                "ON_DEMAND"
            } else {
                "PROVISIONED"
            }
            .to_string(),
        ),
        shard_count: if s.on_demand {
            Value::Null
        } else {
            some(s.open_shards as i64)
        },
        retention_hours: some(s.retention_hours as i64),
        encryption_type: some(
            if s.kms_key_id.is_some() {
                "KMS"
            } else {
                "NONE"
            }
            .to_string(),
        ),
        kms_key_id: s.kms_key_id.map_or(Value::Null, some),
        arn: some(s.arn),
    }
}

/// An import: the stream named `name` into `b` (its name, and its ARN when it exists; refresh
/// fills in the rest). Returns what was found, for its tags and ARN.
pub async fn import(
    importing: &Importing<'_>,
    b: &mut StreamBlock,
    name: String,
) -> Result<Option<Stream>, String> {
    importing.note(own::STREAM, &name);
    let found = kinesis::find_by_name(&importing.aws.kinesis, &name)
        .await
        .map_err(|e| e.message)?;
    if let Some(found) = &found {
        importing.owned(own::STREAM, &name, &found.tags)?;
    }
    b.name = some(name);
    // Refresh compares what reads or writes the CDC stream (DMS, Firehose) with its ARN.
    b.arn = found.as_ref().map_or(Value::Null, |s| some(s.arn.clone()));
    Ok(found)
}

/// After a failed apply: the stream's ARN, when it exists under its name and is the pipeline's.
pub async fn leftovers(aws: &Aws, b: &mut StreamBlock, ours: &Ours<'_>) -> AwsResult<()> {
    if let Some(name) = missing(&b.name, &b.arn) {
        if let Some(found) = kinesis::find_by_name(&aws.kinesis, &name).await? {
            if ours(own::STREAM, &name, &found.tags) {
                b.arn = Value::Value(found.arn);
            }
        }
    }
    Ok(())
}

/// Deletes the stream, when the state knows it.
pub async fn destroy(aws: &Aws, b: &StreamBlock) -> AwsResult<()> {
    match b.name.as_ref_option().filter(|_| b.arn.is_value()) {
        Some(name) => kinesis::delete(&aws.kinesis, name).await,
        None => Ok(()),
    }
}
