//! Refresh: reads every component concurrently and writes what AWS reports into the state, so
//! that a change made out of band shows in the plan on the exact attribute, and a component
//! deleted out of band shows as its id becoming "known after apply" (recreated in place).

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::blocks::BLOCKS;
use super::roles::role_arn;
use super::source::security_group_ids;
use super::state::{AnalyticsBlock, PipelineState, SourceBlock, Str, StreamBlock, Tags};
use crate::aws::dms::{self, EndpointKind};
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
    let cdc_known = prior.cdc_stream.arn.as_ref_option().cloned();
    let mut source = prior.source().cloned();
    let mut analytics = prior.analytics.clone();
    let blocks = async {
        let source_read = async {
            match &mut source {
                Some(source) => refresh_source(aws, source, cdc_known.as_deref()).await,
                None => Ok(()),
            }
        };
        let blocks_read =
            futures::future::join_all(BLOCKS.iter().map(|block| block.refresh(aws, prior)));
        let analytics_read = async {
            if prior.analytics.engine.is_value() {
                refresh_analytics(aws, &mut analytics).await?;
            }
            Ok::<(), crate::aws::AwsError>(())
        };
        tokio::join!(source_read, blocks_read, analytics_read)
    };
    let (core, (source_read, blocks_read, analytics_read), sql_read) = tokio::join!(
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
    source_read?;
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
    let source_left = source.as_ref().is_some_and(|s| {
        [
            &s.role_arn,
            &s.replication_instance_arn,
            &s.source_endpoint_arn,
            &s.target_endpoint_arn,
            &s.replication_task_arn,
        ]
        .iter()
        .any(|arn| arn.is_value())
    });
    let nothing_left = !source_left
        && !blocks_read.iter().any(|b| b.exists)
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
    fresh.source = Value::Value(source.map(Value::Value).into_iter().collect());
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

/// DMS: a component gone shows as its ARN becoming "known after apply"; a setting changed out
/// of band shows on its attribute. The password is never returned by AWS, so never compared.
async fn refresh_source(aws: &Aws, s: &mut SourceBlock, cdc_arn: Option<&str>) -> AwsResult<()> {
    let by_id = |v: &Str| v.as_ref_option().cloned();
    // Every component at once (each is named in the state); then compared in order.
    let endpoint = |id: Option<String>| async move {
        match id {
            Some(id) => dms::describe_endpoint_by_id(&aws.dms, &id).await,
            None => Ok(None),
        }
    };
    let (role, instance, mysql, target, task) = tokio::join!(
        role_arn(aws, &s.role_name, &s.role_arn, "unifiedetl-dms"),
        async {
            match by_id(&s.replication_instance_id) {
                Some(id) => dms::describe_instance_by_id(&aws.dms, &id).await,
                None => Ok(None),
            }
        },
        endpoint(by_id(&s.source_endpoint_id)),
        endpoint(by_id(&s.target_endpoint_id)),
        async {
            match by_id(&s.replication_task_id) {
                Some(id) => dms::describe_task_by_id(&aws.dms, &id).await,
                None => Ok(None),
            }
        },
    );
    let (instance, mysql, target, task) = (instance?, mysql?, target?, task?);
    // The role the endpoint should name, by its name: a role that lacks the pipeline's policy
    // reads as a null ARN (to show the update), yet it is the same role.
    let role_named = s.role_name.as_ref_option().cloned();
    s.role_arn = role?;
    // The ARNs the components have: the task is compared with these, so a component that is
    // only to be updated (its ARN shown as null for that) does not make the task look replaced.
    let instance_seen = instance.as_ref().map(|i| i.arn.clone());
    let mysql_seen = mysql.as_ref().map(|e| e.arn.clone());
    let target_seen = target.as_ref().map(|e| e.arn.clone());
    match instance {
        None => s.replication_instance_arn = Value::Null,
        Some(i) => {
            s.replication_instance_class = some(i.class);
            s.allocated_storage = some(i.allocated_storage as i64);
            s.engine_version = some(i.engine_version);
            s.multi_az = some(i.multi_az);
            s.publicly_accessible = some(i.publicly_accessible);
            // Without a configured list AWS reports the VPC's default group: not managed then.
            if s.vpc_security_group_ids.is_value()
                && security_group_ids(s) != i.vpc_security_group_ids
            {
                s.vpc_security_group_ids =
                    some(i.vpc_security_group_ids.into_iter().map(some).collect());
            }
            if s.replication_instance_arn.as_ref_option() != Some(&i.arn) {
                s.replication_instance_arn = Value::Null;
            }
        }
    }
    match mysql {
        Some(dms::Endpoint {
            kind: EndpointKind::MySql(m),
            arn,
            ..
        }) => {
            let opt_text = |v: Option<String>| v.map_or(Value::Null, some);
            if s.server_name.is_value() || m.server_name.is_some() {
                s.server_name = opt_text(m.server_name);
            }
            if s.port.is_value() {
                s.port = m.port.map_or(Value::Null, |p| some(p as i64));
            }
            if s.database_name.is_value() || m.database_name.is_some() {
                s.database_name = opt_text(m.database_name);
            }
            if s.username.is_value() || m.username.is_some() {
                s.username = opt_text(m.username);
            }
            s.secrets_manager_secret_arn = opt_text(m.secret_arn);
            s.ssl_mode = some(m.ssl_mode);
            s.certificate_arn = opt_text(m.certificate_arn);
            if s.source_endpoint_arn.as_ref_option() != Some(&arn) {
                s.source_endpoint_arn = Value::Null;
            }
        }
        _ => s.source_endpoint_arn = Value::Null,
    }
    let wanted_schema_table =
        matches!(&s.partition_key_type, Value::Value(t) if t == "primary-key");
    match target {
        // Writing to another stream, with another role or another partitioning: an update.
        Some(dms::Endpoint {
            kind: EndpointKind::Kinesis(k),
            arn,
            ..
        }) if Some(k.stream_arn.as_str()) == cdc_arn
            && role_named
                .as_deref()
                .is_some_and(|name| k.role_arn.rsplit('/').next() == Some(name))
            && k.partition_include_schema_table == wanted_schema_table
            && s.target_endpoint_arn.as_ref_option() == Some(&arn) => {}
        _ => s.target_endpoint_arn = Value::Null,
    }
    match task {
        Some(t)
            if s.replication_task_arn.as_ref_option() == Some(&t.arn)
                && instance_seen.as_ref() == Some(&t.instance_arn)
                && mysql_seen.as_ref() == Some(&t.source_arn)
                && target_seen.as_ref() == Some(&t.target_arn) =>
        {
            s.migration_type = some(t.migration_type);
            let same_mappings = s
                .table_mappings
                .as_ref_option()
                .is_some_and(|m| dms::json_equal(m, &t.table_mappings));
            if !same_mappings {
                // Shown in the plan as jsonencode would write it, so the difference reads.
                s.table_mappings =
                    some(dms::normalize_json(&t.table_mappings).unwrap_or(t.table_mappings));
            }
            if let (Value::Value(given), Some(actual)) = (&s.task_settings, &t.settings) {
                if !dms::settings_match(given, actual) {
                    s.task_settings = some(dms::project_settings(given, actual));
                }
            }
            // A task meant to run that was stopped (or failed) out of band shows as not started.
            if matches!(s.start_replication, Value::Value(true))
                && matches!(t.status.as_str(), "stopped" | "failed" | "ready")
            {
                s.start_replication = some(false);
            }
        }
        _ => s.replication_task_arn = Value::Null,
    }
    Ok(())
}

fn some<T>(v: T) -> Value<T> {
    Value::Value(v)
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
