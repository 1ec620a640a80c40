//! What a failed apply made but could not record: found again by name and tag.
//!
//! Every component is tagged `unifiedetl:pipeline = <name>` as it is made (where the API takes
//! tags at creation: all but the event source mapping, whose function is). When an apply fails
//! after a component exists but before its ARN reaches the state, the state still names it
//! (names are deterministic, known at plan time) with a null ARN. After a failed (or
//! interrupted) apply, and again before a destroy:
//!
//! 1. each component the state names without an ARN is looked up by that name;
//! 2. one that exists and carries this pipeline's tag gets its ARN filled in: the state
//!    records it, and a destroy deletes it with the rest; a component of another owner (or
//!    none) is left alone;
//! 3. the event source mapping, which has no tags, is the pipeline's when its function is.
//!
//! Components an import named ([`super::owner::Adopted`]) count as the pipeline's whatever their
//! tags: a destroy right after an import, or after a first apply that failed before tagging
//! them, deletes them too.
//!
//! The next apply needs none of this: it finds each component by name and adopts the ones that
//! carry the pipeline's tag or that an import named.

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::blocks::BLOCKS;
use super::owner::{self as own, Adopted};
use super::state::PipelineState;
use super::values::known;
use crate::aws::tags::PIPELINE_TAG;
use crate::aws::{dynamodb, iam, kinesis, kinesisanalytics, lambda, s3};
use crate::aws::{Aws, AwsResult, Identity};

/// `state` with the ARNs of the pipeline's unrecorded components filled in (by name and tag).
pub async fn adopt(
    aws: &Aws,
    state: &PipelineState,
    identity: &Identity,
    adopted: &Adopted,
) -> AwsResult<PipelineState> {
    let mut state = state.clone();
    let Some(pipeline) = state.name.as_ref_option().cloned() else {
        return Ok(state);
    };
    let ours = |kind: &str, name: &str, tags: &BTreeMap<String, String>| {
        tags.get(PIPELINE_TAG) == Some(&pipeline) || adopted.contains(kind, name)
    };
    // The name of a component whose ARN the state lacks.
    let missing = |name: &Value<String>, arn: &Value<String>| {
        name.as_ref_option().filter(|_| !known(arn)).cloned()
    };
    let bucket_arn = |name: &str| format!("arn:{}:s3:::{name}", identity.partition);

    for stream in [&mut state.cdc_stream, &mut state.enriched_stream] {
        if let Some(name) = missing(&stream.name, &stream.arn) {
            if let Some(found) = kinesis::find_by_name(&aws.kinesis, &name).await? {
                if ours(own::STREAM, &name, &found.tags) {
                    stream.arn = Value::Value(found.arn);
                }
            }
        }
    }
    if let Some(name) = missing(&state.sink.name, &state.sink.arn) {
        if let Some(found) = dynamodb::find_by_name(&aws.dynamodb, &name, None).await? {
            if ours(own::TABLE, &name, &found.tags) {
                state.sink.arn = Value::Value(found.arn);
            }
        }
    }

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
        if let Some(found) = iam::find_by_name(&aws.iam, &name, "unifiedetl-persist").await? {
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
        if let Some(found) = s3::find(&aws.s3, &name, crate::aws::Expect::Present).await? {
            if ours(own::BUCKET, &name, &found.tags) {
                p.dead_letter_bucket_arn = Value::Value(bucket_arn(&name));
            }
        }
    }

    let a = &mut state.analytics;
    if let Some(name) = missing(&a.state_table, &a.state_table_arn) {
        if let Some(found) = dynamodb::find_by_name(&aws.dynamodb, &name, None).await? {
            if ours(own::TABLE, &name, &found.tags) {
                a.state_table_arn = Value::Value(found.arn);
            }
        }
    }
    if let Some(name) = missing(&a.reference_bucket, &a.reference_bucket_arn) {
        if let Some(found) = s3::find(&aws.s3, &name, crate::aws::Expect::Present).await? {
            if ours(own::BUCKET, &name, &found.tags) {
                a.reference_bucket_arn = Value::Value(bucket_arn(&name));
            }
        }
    }
    if let Some(name) = missing(&a.application_name, &a.application_arn) {
        if let Some(found) = kinesisanalytics::find_by_name(&aws.kinesisanalytics, &name).await? {
            if ours(own::APPLICATION, &name, &found.tags) {
                a.application_arn = Value::Value(found.arn);
            }
        }
    }
    if let Some(name) = missing(&a.role_name, &a.role_arn) {
        if let Some(found) = iam::find_by_name(&aws.iam, &name, super::sql::POLICY_NAME).await? {
            if ours(own::ROLE, &name, &found.tags) {
                a.role_arn = Value::Value(found.arn);
            }
        }
    }

    for block in BLOCKS {
        block.leftovers(aws, identity, &mut state, &ours).await?;
    }
    Ok(state)
}
