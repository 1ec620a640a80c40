//! Refresh: reads every component concurrently and writes what AWS reports into the state, so
//! that a change made out of band shows in the plan on the exact attribute, and a component
//! deleted out of band shows as its id becoming "known after apply" (recreated in place).

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::blocks::BLOCKS;
use super::state::{AnalyticsBlock, PipelineState, Str, StreamBlock, Tags};
use super::values::some;
use crate::aws::dynamodb::{self, Table};
use crate::aws::iam::{self, Role};
use crate::aws::kinesis::{self, Stream};
use crate::aws::lambda::{self, Function, Mapping};
use crate::aws::s3;
use crate::aws::{Aws, AwsResult};

/// What AWS reports for each component the state names; `None` where it is gone.
struct Observed {
    cdc: Option<Stream>,
    enriched: Option<Stream>,
    table: Option<Table>,
    role: Option<Role>,
    function: Option<Function>,
    mapping: Option<Mapping>,
    /// Whether the dead-letter bucket exists.
    bucket: bool,
}

async fn find_stream(aws: &Aws, name: &Str) -> AwsResult<Option<Stream>> {
    match name {
        Value::Value(name) => kinesis::find_by_name(&aws.kinesis, name).await,
        _ => Ok(None),
    }
}

/// Refreshes `prior`. Returns `None` when no component exists any more (the pipeline is gone),
/// and an error when AWS could not be read (the state is then left as it was).
pub async fn refresh(aws: &Aws, prior: &PipelineState) -> AwsResult<Option<PipelineState>> {
    let p = &prior.persist;
    // The blocks' components are named in the state too: read with the core ones, at once.
    // The CDC stream's ARN they compare with is the state's (deterministic from its name).
    let mut analytics = prior.analytics.clone();
    let blocks = async {
        let blocks_read =
            futures::future::join_all(BLOCKS.iter().map(|block| block.refresh(aws, prior)));
        let analytics_read = async {
            if prior.analytics.engine.is_value() {
                refresh_analytics(aws, &mut analytics).await?;
            }
            Ok::<(), crate::aws::AwsError>(())
        };
        tokio::join!(blocks_read, analytics_read)
    };
    let (core, (blocks_read, analytics_read), sql_read) = tokio::join!(
        async {
            tokio::join!(
                find_stream(aws, &prior.cdc_stream.name),
                find_stream(aws, &prior.enriched_stream.name),
                async {
                    match &prior.sink.name {
                        Value::Value(name) => {
                            let arn = prior.sink.arn.as_ref_option().map(String::as_str);
                            dynamodb::find_by_name(&aws.dynamodb, name, arn).await
                        }
                        _ => Ok(None),
                    }
                },
                async {
                    match &p.role_name {
                        Value::Value(name) => {
                            iam::find_by_name(&aws.iam, name, "unifiedetl-persist").await
                        }
                        _ => Ok(None),
                    }
                },
                async {
                    match &p.function_name {
                        Value::Value(name) => {
                            lambda::find_function_by_name(&aws.lambda, name).await
                        }
                        _ => Ok(None),
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
            )
        },
        blocks,
        async {
            let mut sql = prior.analytics.clone();
            if prior.analytics.sql_engine() {
                super::sql::refresh(aws, &mut sql).await?;
            }
            Ok::<AnalyticsBlock, crate::aws::AwsError>(sql)
        },
    );
    let (cdc, enriched, table, role, function, mapping, bucket) = core;
    let blocks_read = blocks_read.into_iter().collect::<AwsResult<Vec<_>>>()?;
    analytics_read?;
    let sql = sql_read?;
    let seen = Observed {
        cdc: cdc?,
        enriched: enriched?,
        table: table?,
        role: role?,
        function: function?,
        mapping: mapping?,
        bucket: bucket?,
    };
    let nothing_left = !blocks_read.iter().any(|b| b.exists)
        && seen.cdc.is_none()
        && seen.enriched.is_none()
        && seen.table.is_none()
        && seen.role.is_none()
        && seen.function.is_none()
        && seen.mapping.is_none()
        && !seen.bucket;
    if nothing_left {
        return Ok(None);
    }
    let mut fresh = flatten(prior, seen);
    // Blocks nest as lists: a state written before they existed holds null, read as none.
    for block in blocks_read {
        (block.record)(&mut fresh);
    }
    // The analytics block as each part read it: the SQL application's settings, or the
    // function's environment (in `fresh`), then the state table and reference data.
    if prior.analytics.sql_engine() {
        fresh.analytics = sql;
    }
    if prior.analytics.engine.is_value() {
        fresh.analytics.state_table_arn = analytics.state_table_arn;
        fresh.analytics.reference_bucket_arn = analytics.reference_bucket_arn;
        fresh.analytics.reference_objects = analytics.reference_objects;
    }
    Ok(Some(fresh))
}

/// The engine's state table and reference data: a missing table or bucket shows as its ARN
/// becoming "known after apply", a reference object changed or deleted out of band as a
/// different (or missing) hash in `reference_objects`.
async fn refresh_analytics(aws: &Aws, analytics: &mut AnalyticsBlock) -> AwsResult<()> {
    let bucket = analytics.reference_bucket.as_ref_option().cloned();
    let keys: Vec<String> = analytics
        .reference_objects
        .as_ref_option()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // The table, the bucket and every object at once: an object of a missing bucket reads as
    // missing.
    let (table, bucket_found, hashes) = tokio::join!(
        async {
            match (&analytics.state_table, analytics.lambda_engine()) {
                // Its tags are not compared (the pipeline's are, on the sink).
                (Value::Value(name), true) => dynamodb::describe_by_name(&aws.dynamodb, name).await,
                _ => Ok(None),
            }
        },
        async {
            match &bucket {
                Some(bucket) => s3::exists(&aws.s3, bucket).await,
                None => Ok(false),
            }
        },
        futures::future::join_all(keys.iter().map(|key| {
            let bucket = bucket.clone();
            async move {
                match bucket {
                    Some(bucket) => s3::object_hash(&aws.s3, &bucket, key).await,
                    None => Ok(None),
                }
            }
        })),
    );
    if analytics.lambda_engine() {
        analytics.state_table_arn = table?.map_or(Value::Null, |t| some(t.arn));
    }
    if bucket.is_none() {
        return Ok(());
    }
    if !bucket_found? {
        analytics.reference_bucket_arn = Value::Null;
        analytics.reference_objects = Value::Value(BTreeMap::new());
        return Ok(());
    }
    let mut objects = BTreeMap::new();
    for (key, hash) in keys.into_iter().zip(hashes) {
        if let Some(hash) = hash? {
            objects.insert(key, some(hash));
        }
    }
    analytics.reference_objects = some(objects);
    Ok(())
}

fn flatten_stream(prior: &StreamBlock, seen: Option<Stream>) -> StreamBlock {
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

fn flatten(prior: &PipelineState, seen: Observed) -> PipelineState {
    let mut state = prior.clone();
    let tags_seen: Vec<BTreeMap<String, String>> = [
        seen.cdc.as_ref().map(|s| s.tags.clone()),
        seen.enriched.as_ref().map(|s| s.tags.clone()),
        seen.table.as_ref().map(|t| t.tags.clone()),
        seen.role.as_ref().map(|r| r.tags.clone()),
        seen.function.as_ref().map(|f| f.tags.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    state.tags_all = drifted_tags(&prior.tags_all, &tags_seen);

    state.cdc_stream = flatten_stream(&prior.cdc_stream, seen.cdc);
    state.enriched_stream = flatten_stream(&prior.enriched_stream, seen.enriched);

    let sink = &mut state.sink;
    match seen.table {
        None => sink.arn = Value::Null,
        Some(t) => {
            sink.name = some(t.name);
            if let Some(k) = t.partition_key {
                sink.partition_key = some(k.name);
                sink.partition_key_type = some(k.attr_type);
            }
            match t.sort_key {
                Some(k) => {
                    sink.sort_key = some(k.name);
                    sink.sort_key_type = some(k.attr_type);
                }
                None => {
                    sink.sort_key = Value::Null;
                    sink.sort_key_type = Value::Null;
                }
            }
            match t.capacity {
                Some((r, w)) => {
                    sink.billing_mode = some("PROVISIONED".to_string());
                    sink.read_capacity = some(r);
                    sink.write_capacity = some(w);
                }
                None => {
                    sink.billing_mode = some("PAY_PER_REQUEST".to_string());
                    sink.read_capacity = Value::Null;
                    sink.write_capacity = Value::Null;
                }
            }
            sink.server_side_encryption = some(t.sse);
            // AWS reports the AWS-managed key's ARN when no key was chosen: only a key the
            // configuration names is compared.
            if sink.kms_key_arn.is_value() {
                sink.kms_key_arn = t.kms_key_arn.map_or(Value::Null, some);
            }
            sink.arn = some(t.arn);
        }
    }

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
            super::environment::environment_into(&mut state, &f.environment);
            // A function made elsewhere (adopted by an import) may run another runtime: it
            // becomes the persist function, so that is an update too.
            let runtime_differs = f.runtime.as_deref() != Some("provided.al2023")
                || f.handler.as_deref() != Some("bootstrap");
            if runtime_differs
                || super::environment::environment_of(&state)
                    .ok()
                    .is_some_and(|env| env != f.environment)
            {
                state.persist.function_arn = Value::Null;
            }
        }
    }
    let persist = &mut state.persist;
    if !seen.bucket {
        persist.dead_letter_bucket_arn = Value::Null;
    }
    // With the analytics engine the function reads the CDC stream, else the enriched one.
    let source = if prior.analytics.lambda_engine() {
        state.cdc_stream.arn.as_ref_option().cloned()
    } else {
        state.enriched_stream.arn.as_ref_option().cloned()
    };
    let function_arn = state.persist.function_arn.as_ref_option().cloned();
    let function_name = state.persist.function_name.as_ref_option().cloned();
    let persist = &mut state.persist;
    match seen.mapping {
        // A mapping reading another stream (or invoking another function) reads the wrong
        // records: it is replaced, shown by its id becoming unknown. One that lost (or never
        // had: a mapping made elsewhere, adopted by an import) ReportBatchItemFailures or its
        // on-failure destination shows on those attributes, updated in place.
        Some(m)
            if source.as_deref() == Some(m.source_arn.as_str())
                && (function_arn.as_deref() == Some(m.function_arn.as_str())
                    || function_name
                        .as_ref()
                        .is_some_and(|n| m.function_arn.ends_with(&format!(":function:{n}")))) =>
        {
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
            persist.event_source_mapping_id = some(m.uuid);
        }
        _ => persist.event_source_mapping_id = Value::Null,
    }
    state
}

/// The state has one `tags_all` for every component: if any component's tags differ from it,
/// report that component's tags so the plan shows the difference and the apply re-tags all.
fn drifted_tags(prior: &Tags, seen: &[BTreeMap<String, String>]) -> Tags {
    let Value::Value(prior_map) = prior else {
        return prior.clone();
    };
    let expected: BTreeMap<String, String> = prior_map
        .iter()
        .filter_map(|(k, v)| v.as_ref_option().map(|v| (k.clone(), v.clone())))
        .collect();
    for tags in seen {
        // Tags under the reserved `aws:` prefix are AWS's own and never managed here.
        let own: BTreeMap<String, String> = tags
            .iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if own != expected {
            return Value::Value(own.into_iter().map(|(k, v)| (k, Value::Value(v))).collect());
        }
    }
    prior.clone()
}
