//! Plan-time logic: validation of the configuration (with attribute paths and a sentence on
//! how to fix it), defaults, which computed values stay known, and which changes force
//! replacement.

use std::collections::BTreeMap;

use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::blocks::BLOCKS;
use super::names::{default_dead_letter_bucket, default_reference_bucket, reference_key};
use super::sql;
use super::state::{
    AnalyticsBlock, PersistBlock, PipelineState, SinkBlock, Str, StreamBlock, Tags, ENGINE_LAMBDA,
    ENGINE_SQL,
};
use super::timeouts;
use super::values::{arn_of, derive, in_range, keep, name_like, one_of, path, pick, text};
use crate::artifact;
use crate::aws::tags;
use crate::aws::Identity;

/// Longest pipeline name: `<name>-persist` must fit Lambda's 64 characters with room to spare.
const MAX_NAME: usize = 40;

/// Checks the configuration; unknown values (known only at apply) are skipped.
pub fn validate(config: &PipelineState, diags: &mut Diagnostics) {
    if let Value::Value(name) = &config.name {
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            diags.error(
                "invalid pipeline name",
                format!("`name` must be 1 to {MAX_NAME} letters, digits, '-' or '_', starting with a letter or digit (got \"{name}\"): it prefixes every component's name"),
                AttributePath::new("name"),
            );
        }
    }
    validate_stream("cdc_stream", &config.cdc_stream, diags);
    validate_stream("enriched_stream", &config.enriched_stream, diags);
    validate_sink(&config.sink, diags);
    validate_persist(&config.persist, diags);
    validate_analytics(&config.analytics, &config.sink, diags);
    for block in BLOCKS {
        block.validate(config, diags);
    }
    timeouts::validate_timeouts(&config.timeouts, diags);
    if config.analytics.lambda_engine() && config.persist.version_attribute.is_value() {
        diags.error(
            "invalid persist.version_attribute",
            "`persist.version_attribute` has no effect with `analytics.engine = \"lambda\"`: the engine orders every row's changes by their DMS commit time and Kinesis sequence number itself. Remove it",
            path("persist", "version_attribute"),
        );
    }
}

/// The engines `analytics.engine` accepts.
pub const ENGINES: [&str; 2] = [ENGINE_LAMBDA, ENGINE_SQL];

fn validate_analytics(a: &AnalyticsBlock, sink: &SinkBlock, diags: &mut Diagnostics) {
    let engine = match &a.engine {
        Value::Value(engine) => engine.clone(),
        Value::Unknown => return,
        Value::Null => {
            sql::refuse_other_engine(a, diags);
            return;
        }
    };
    if !ENGINES.contains(&engine.as_str()) {
        one_of("analytics", "engine", &a.engine, &ENGINES, diags);
        return;
    }
    sql::refuse_other_engine(a, diags);
    if engine == ENGINE_SQL {
        sql::validate(a, diags);
        return;
    }
    if engine != ENGINE_LAMBDA {
        return;
    }
    for (attr, value) in [
        ("parent_table", &a.parent_table),
        ("parent_key", &a.parent_key),
    ] {
        if value.is_null() {
            diags.error(
                format!("missing analytics.{attr}"),
                format!("`analytics.{attr}` is required with `engine = \"{engine}\"`, e.g. `parent_table = \"order\"` and `parent_key = \"orderId\"`"),
                path("analytics", attr),
            );
        }
    }
    name_like(
        "analytics",
        "state_table",
        &a.state_table,
        255,
        "_.-",
        "a DynamoDB table name",
        diags,
    );
    // Every table and lookup name, to check the columns against.
    let mut names: Vec<String> = a
        .parent_table
        .as_ref_option()
        .cloned()
        .into_iter()
        .collect();
    match &a.children {
        Value::Value(children) if children.is_empty() => diags.error(
            "invalid analytics.children",
            "`analytics.children` must name at least one child table, e.g. `[{ table = \"order_item\", parent_key = \"orderId\", key = \"itemId\" }]`",
            path("analytics", "children"),
        ),
        Value::Value(children) => {
            for child in children.iter().filter_map(Value::as_ref_option) {
                if let Value::Value(table) = &child.table {
                    if names.contains(table) {
                        diags.error(
                            "invalid analytics.children",
                            format!("table \"{table}\" appears twice in `analytics`: each table is the parent or one child"),
                            path("analytics", "children"),
                        );
                    }
                    names.push(table.clone());
                }
            }
        }
        Value::Null => diags.error(
            "missing analytics.children",
            format!("`analytics.children` is required with `engine = \"{engine}\"`, e.g. `[{{ table = \"order_item\", parent_key = \"orderId\", key = \"itemId\" }}]`"),
            path("analytics", "children"),
        ),
        Value::Unknown => return,
    }
    if let Value::Value(lookups) = &a.lookups {
        for lookup in lookups.iter().filter_map(Value::as_ref_option) {
            if let Value::Value(name) = &lookup.name {
                let ok = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok || names.contains(name) {
                    diags.error(
                        "invalid analytics.lookups",
                        format!("lookup name \"{name}\" must be letters, digits, `_` or `-`, and differ from every table name"),
                        path("analytics", "lookups"),
                    );
                }
                names.push(name.clone());
            }
            if let Value::Value(file) = &lookup.file {
                if let Err(err) = std::fs::metadata(file) {
                    diags.error(
                        "invalid analytics.lookups",
                        format!("the reference file of lookup {} cannot be read ({file}: {err}): give the path of a JSON lines file, e.g. `file = \"${{path.module}}/reference/products.json\"`", lookup.name.as_ref_option().map(String::as_str).unwrap_or("?")),
                        path("analytics", "lookups"),
                    );
                }
            }
        }
    }
    let columns = match &a.columns {
        Value::Value(columns) => columns,
        Value::Unknown => return,
        Value::Null => {
            diags.error(
                "missing analytics.columns",
                "`analytics.columns` is required with an engine: map each sink attribute to `<table or lookup>.<column>`, e.g. `{ orderId = \"order.orderId\" }`",
                path("analytics", "columns"),
            );
            return;
        }
    };
    for (column, from) in columns {
        let Value::Value(from) = from else { continue };
        let known_source = from
            .split_once('.')
            .is_some_and(|(table, col)| !col.is_empty() && names.iter().any(|n| n == table));
        if !known_source {
            diags.error(
                "invalid analytics.columns",
                format!("`analytics.columns.{column}` is \"{from}\": it must be `<table or lookup>.<column>` naming one of {}", names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")),
                path("analytics", "columns"),
            );
        }
    }
    for key in [&sink.partition_key, &sink.sort_key] {
        if let Value::Value(key) = key {
            if !columns.contains_key(key) {
                diags.error(
                    "invalid analytics.columns",
                    format!("`analytics.columns` must include the sink's key attribute \"{key}\", e.g. `{key} = \"<table>.{key}\"`"),
                    path("analytics", "columns"),
                );
            }
        }
    }
}

fn validate_stream(block: &str, s: &StreamBlock, diags: &mut Diagnostics) {
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

fn validate_sink(s: &SinkBlock, diags: &mut Diagnostics) {
    name_like(
        "sink",
        "name",
        &s.name,
        255,
        "_.-",
        "a DynamoDB table name",
        diags,
    );
    if let Value::Value(n) = &s.name {
        if n.len() < 3 {
            diags.error(
                "invalid sink.name",
                format!("`sink.name` must be at least 3 characters long (got \"{n}\")"),
                path("sink", "name"),
            );
        }
    }
    if s.partition_key.is_null() {
        diags.error(
            "missing sink.partition_key",
            "`sink.partition_key` is required: name the attribute that keys the enriched rows, e.g. `partition_key = \"orderId\"`",
            path("sink", "partition_key"),
        );
    }
    one_of(
        "sink",
        "partition_key_type",
        &s.partition_key_type,
        &["S", "N", "B"],
        diags,
    );
    one_of(
        "sink",
        "sort_key_type",
        &s.sort_key_type,
        &["S", "N", "B"],
        diags,
    );
    if s.sort_key.is_null() && s.sort_key_type.is_value() {
        diags.error(
            "invalid sink.sort_key_type",
            "`sink.sort_key_type` is set but `sink.sort_key` is not: name the sort key or remove its type",
            path("sink", "sort_key_type"),
        );
    }
    if let (Value::Value(pk), Value::Value(sk)) = (&s.partition_key, &s.sort_key) {
        if pk == sk {
            diags.error(
                "invalid sink.sort_key",
                format!(
                    "`sink.sort_key` must differ from `sink.partition_key` (both are \"{pk}\")"
                ),
                path("sink", "sort_key"),
            );
        }
    }
    one_of(
        "sink",
        "billing_mode",
        &s.billing_mode,
        &["PAY_PER_REQUEST", "PROVISIONED"],
        diags,
    );
    let provisioned = matches!(&s.billing_mode, Value::Value(m) if m == "PROVISIONED");
    let known_mode = !s.billing_mode.is_unknown();
    for (attr, value) in [
        ("read_capacity", &s.read_capacity),
        ("write_capacity", &s.write_capacity),
    ] {
        match value {
            Value::Value(n) if known_mode && !provisioned => diags.error(
                format!("invalid sink.{attr}"),
                format!("`sink.{attr}` is set ({n}) but `sink.billing_mode` is PAY_PER_REQUEST: remove it, or set `billing_mode = \"PROVISIONED\"`"),
                path("sink", attr),
            ),
            Value::Value(_) => in_range("sink", attr, value, 1, 40_000, diags),
            Value::Null if provisioned => diags.error(
                format!("missing sink.{attr}"),
                format!("`sink.{attr}` is required when `sink.billing_mode` is PROVISIONED, e.g. `{attr} = 5`"),
                path("sink", attr),
            ),
            _ => {}
        }
    }
    if matches!(s.server_side_encryption, Value::Value(false)) && s.kms_key_arn.is_value() {
        diags.error(
            "invalid sink.kms_key_arn",
            "`sink.kms_key_arn` is set but `sink.server_side_encryption` is false: remove the key or enable encryption",
            path("sink", "kms_key_arn"),
        );
    }
}

fn validate_persist(p: &PersistBlock, diags: &mut Diagnostics) {
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

/// The planned state: configuration plus defaults, and computed values that are known already.
/// `prior` is the current state when updating. Problems reading the function package are
/// reported against `persist.artifact`.
pub fn plan(
    config: &PipelineState,
    prior: Option<&PipelineState>,
    default_tags: &BTreeMap<String, String>,
    identity: &Identity,
    diags: &mut Diagnostics,
) -> PipelineState {
    let name = config.name.clone();
    let cdc_stream = plan_stream(
        &config.cdc_stream,
        prior.map(|p| &p.cdc_stream),
        derive(&name, "cdc"),
        identity,
    );
    let enriched_stream = plan_stream(
        &config.enriched_stream,
        prior.map(|p| &p.enriched_stream),
        derive(&name, "enriched"),
        identity,
    );
    let sink = plan_sink(
        &config.sink,
        prior.map(|p| &p.sink),
        derive(&name, "sink"),
        identity,
    );
    let analytics = if config.analytics.sql_engine() {
        sql::plan(
            &config.analytics,
            prior.map(|p| &p.analytics),
            &name,
            identity,
            &enriched_stream.name,
            diags,
        )
    } else {
        plan_analytics(
            &config.analytics,
            prior.map(|p| &p.analytics),
            &name,
            identity,
        )
    };
    check_environment_size(&analytics, diags);
    let engine_on = analytics.lambda_engine();
    let source_changed = prior.is_some_and(|p| p.analytics.lambda_engine() != engine_on);
    let persist = plan_persist(
        &config.persist,
        prior.map(|p| &p.persist),
        &name,
        if engine_on {
            &cdc_stream
        } else {
            &enriched_stream
        },
        source_changed,
        identity,
        diags,
    );
    let mut planned = PipelineState {
        id: name.clone(),
        timeouts: config.timeouts.clone(),
        tags_all: plan_tags(&config.tags, &name, default_tags),
        tags: config.tags.clone(),
        name,
        cdc_stream,
        enriched_stream,
        sink,
        persist,
        analytics,
        // The blocks' fields: each block plans its own.
        ..PipelineState::default()
    };
    for block in BLOCKS {
        block.plan(config, prior, identity, &mut planned, diags);
    }
    planned
}

/// Lambda allows 4 KB of environment variables in all (names and values).
const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;
/// What the other variables take at most: table, keys, bucket and stream names.
const OTHER_VARIABLES_BYTES: usize = 1024;

/// The correlation travels in the function's environment: refuse one that cannot fit at plan
/// time rather than at apply.
fn check_environment_size(analytics: &AnalyticsBlock, diags: &mut Diagnostics) {
    if !analytics.lambda_engine() {
        return;
    }
    let Ok(correlation) = super::environment::correlation_document(analytics) else {
        return; // something is unknown until apply
    };
    let size = "CORRELATION".len() + correlation.to_string().len();
    if size + OTHER_VARIABLES_BYTES > LAMBDA_ENVIRONMENT_BYTES {
        diags.error(
            "analytics correlation too large",
            format!("the correlation the function receives in its environment is {size} bytes; Lambda allows {LAMBDA_ENVIRONMENT_BYTES} bytes of environment variables in all (about {} for the correlation): use fewer or shorter `analytics.columns`, lookups or table names", LAMBDA_ENVIRONMENT_BYTES - OTHER_VARIABLES_BYTES),
            path("analytics", "columns"),
        );
    }
}

fn plan_analytics(
    config: &AnalyticsBlock,
    prior: Option<&AnalyticsBlock>,
    name: &Str,
    identity: &Identity,
) -> AnalyticsBlock {
    if config.engine.is_null() {
        // Absent list blocks are empty lists, as Terraform gives them.
        return AnalyticsBlock {
            reference: Value::Value(Vec::new()),
            output: Value::Value(Vec::new()),
            ..AnalyticsBlock::default()
        };
    }
    let state_table = pick(&config.state_table, derive(name, "state"));
    let reference_bucket = pick(
        &config.reference_bucket,
        name.as_ref()
            .map(|n| default_reference_bucket(n, &identity.account)),
    );
    let reference_bucket_arn = reference_bucket
        .as_ref()
        .map(|b| format!("arn:{}:s3:::{b}", identity.partition));
    let reference_objects: Tags = match &config.lookups {
        Value::Null => Value::Value(BTreeMap::new()),
        Value::Unknown => Value::Unknown,
        Value::Value(lookups) => {
            let mut objects = BTreeMap::new();
            let mut unknown = false;
            for lookup in lookups {
                let Value::Value(lookup) = lookup else {
                    unknown = true;
                    continue;
                };
                match (&lookup.name, &lookup.file) {
                    (Value::Value(lookup_name), Value::Value(file)) => match std::fs::read(file) {
                        Ok(bytes) => {
                            objects.insert(
                                reference_key(lookup_name),
                                Value::Value(artifact::content_hash(&bytes)),
                            );
                        }
                        // validate() has said why.
                        Err(_) => unknown = true,
                    },
                    _ => unknown = true,
                }
            }
            if unknown {
                Value::Unknown
            } else {
                Value::Value(objects)
            }
        }
    };
    AnalyticsBlock {
        state_table_arn: arn_of(
            prior
                .filter(|p| p.lambda_engine())
                .map(|p| (&p.state_table, &p.state_table_arn)),
            &state_table,
            |n| identity.arn("dynamodb", true, &format!("table/{n}")),
        ),
        engine: config.engine.clone(),
        schema: config.schema.clone(),
        parent_table: config.parent_table.clone(),
        parent_key: config.parent_key.clone(),
        children: config.children.clone(),
        lookups: config.lookups.clone(),
        columns: config.columns.clone(),
        publish_enriched: pick(&config.publish_enriched, Value::Value(false)),
        state_table,
        reference_bucket,
        reference_bucket_arn,
        reference_objects,
        reference: Value::Value(Vec::new()),
        output: Value::Value(Vec::new()),
        ..AnalyticsBlock::default()
    }
}

fn plan_tags(
    tags: &super::state::Tags,
    name: &Str,
    default_tags: &BTreeMap<String, String>,
) -> super::state::Tags {
    let Value::Value(name) = name else {
        return Value::Unknown;
    };
    let own = match tags {
        Value::Null => BTreeMap::new(),
        Value::Unknown => return Value::Unknown,
        Value::Value(map) => {
            let mut own = BTreeMap::new();
            for (k, v) in map {
                match v {
                    Value::Value(v) => {
                        own.insert(k.clone(), v.clone());
                    }
                    Value::Null => {}
                    Value::Unknown => return Value::Unknown,
                }
            }
            own
        }
    };
    Value::Value(
        tags::effective(default_tags, &own, name)
            .into_iter()
            .map(|(k, v)| (k, Value::Value(v)))
            .collect(),
    )
}

fn plan_stream(
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

fn plan_sink(
    config: &SinkBlock,
    prior: Option<&SinkBlock>,
    default_name: Str,
    identity: &Identity,
) -> SinkBlock {
    let name = pick(&config.name, default_name);
    let sort_key_type = match (&config.sort_key_type, &config.sort_key) {
        (Value::Null, Value::Value(_)) => text("S"),
        (Value::Null, Value::Null) => Value::Null,
        (Value::Null, Value::Unknown) => Value::Unknown,
        (configured, _) => configured.clone(),
    };
    SinkBlock {
        arn: arn_of(prior.map(|p| (&p.name, &p.arn)), &name, |n| {
            identity.arn("dynamodb", true, &format!("table/{n}"))
        }),
        name,
        partition_key: config.partition_key.clone(),
        partition_key_type: pick(&config.partition_key_type, text("S")),
        sort_key: config.sort_key.clone(),
        sort_key_type,
        billing_mode: pick(&config.billing_mode, text("PAY_PER_REQUEST")),
        read_capacity: config.read_capacity,
        write_capacity: config.write_capacity,
        server_side_encryption: pick(&config.server_side_encryption, Value::Value(true)),
        kms_key_arn: config.kms_key_arn.clone(),
    }
}

fn plan_persist(
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
        maximum_retry_attempts: pick(&config.maximum_retry_attempts, Value::Value(-1)),
        maximum_record_age_seconds: pick(&config.maximum_record_age_seconds, Value::Value(-1)),
        write_concurrency: pick(&config.write_concurrency, Value::Value(4)),
        version_attribute: config.version_attribute.clone(),
        dead_letter_bucket,
        dead_letter_prefix: pick(&config.dead_letter_prefix, text("dead-letter/")),
        dead_letter_force_destroy: pick(&config.dead_letter_force_destroy, Value::Value(false)),
        on_failure_destination_arn: dead_letter_bucket_arn.clone(),
        function_response_types: Value::Value(vec![text("ReportBatchItemFailures")]),
        dead_letter_bucket_arn,
    }
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

/// The attributes whose change cannot be applied in place: they name or key a component that
/// holds data (a stream, the table), so the pipeline is replaced.
pub fn requires_replace(prior: &PipelineState, planned: &PipelineState) -> Vec<AttributePath> {
    let mut paths = Vec::new();
    let mut check = |block: &str, attr: &str, before: &Str, after: &Str| {
        if before != after {
            paths.push(path(block, attr));
        }
    };
    check(
        "cdc_stream",
        "name",
        &prior.cdc_stream.name,
        &planned.cdc_stream.name,
    );
    check(
        "enriched_stream",
        "name",
        &prior.enriched_stream.name,
        &planned.enriched_stream.name,
    );
    check("sink", "name", &prior.sink.name, &planned.sink.name);
    check(
        "sink",
        "partition_key",
        &prior.sink.partition_key,
        &planned.sink.partition_key,
    );
    check(
        "sink",
        "partition_key_type",
        &prior.sink.partition_key_type,
        &planned.sink.partition_key_type,
    );
    check(
        "sink",
        "sort_key",
        &prior.sink.sort_key,
        &planned.sink.sort_key,
    );
    check(
        "sink",
        "sort_key_type",
        &prior.sink.sort_key_type,
        &planned.sink.sort_key_type,
    );
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            account: "123456789012".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
        }
    }

    fn config() -> PipelineState {
        let mut c = PipelineState {
            name: text("Orders_1"),
            ..Default::default()
        };
        c.sink.partition_key = text("orderId");
        c.persist.artifact = text("Cargo.toml"); // any readable file stands in for a zip
        c
    }

    fn planned(c: &PipelineState, prior: Option<&PipelineState>) -> PipelineState {
        let mut diags = Diagnostics::default();
        let p = plan(c, prior, &BTreeMap::new(), &identity(), &mut diags);
        assert!(diags.errors.is_empty(), "no plan errors expected");
        p
    }

    fn errors_of(c: &PipelineState) -> Vec<String> {
        let mut diags = Diagnostics::default();
        validate(c, &mut diags);
        diags.errors.iter().map(|d| d.detail.to_string()).collect()
    }

    #[test]
    fn every_unset_setting_gets_its_default_and_names_derive_from_the_pipeline() {
        let p = planned(&config(), None);
        assert!(p.cdc_stream.name == text("Orders_1-cdc"));
        assert!(p.cdc_stream.shard_count == Value::Value(1));
        assert!(p.cdc_stream.kms_key_id == text("alias/aws/kinesis"));
        assert!(p.sink.billing_mode == text("PAY_PER_REQUEST"));
        assert!(
            p.sink.sort_key_type.is_null(),
            "no sort key, no sort key type"
        );
        assert!(p.persist.function_name == text("Orders_1-persist"));
        assert!(p.persist.dead_letter_bucket == text("orders-1-dlq-123456789012"));
        assert!(p.persist.dead_letter_bucket_arn == text("arn:aws:s3:::orders-1-dlq-123456789012"));
        // Deterministic ARNs are known in the plan of a create; ids AWS chooses are not.
        assert!(
            p.cdc_stream.arn == text("arn:aws:kinesis:us-east-1:123456789012:stream/Orders_1-cdc")
        );
        assert!(
            p.persist.function_arn
                == text("arn:aws:lambda:us-east-1:123456789012:function:Orders_1-persist")
        );
        assert!(p.persist.role_arn == text("arn:aws:iam::123456789012:role/Orders_1-persist"));
        assert!(p.persist.event_source_mapping_id.is_unknown());
    }

    #[test]
    fn on_demand_streams_have_no_shard_count_and_unencrypted_ones_no_key() {
        let mut c = config();
        c.enriched_stream.stream_mode = text("ON_DEMAND");
        c.enriched_stream.encryption_type = text("NONE");
        let p = planned(&c, None);
        assert!(p.enriched_stream.shard_count.is_null());
        assert!(p.enriched_stream.kms_key_id.is_null());
    }

    #[test]
    fn ids_stay_known_while_the_component_keeps_its_name_and_exists() {
        let c = config();
        let mut prior = planned(&c, None);
        prior.cdc_stream.arn = text("arn:cdc");
        prior.enriched_stream.arn = Value::Null; // deleted out of band
        prior.persist.event_source_mapping_id = text("uuid");
        prior.persist.function_arn = text("arn:fn");
        let p = planned(&c, Some(&prior));
        assert!(p.cdc_stream.arn == text("arn:cdc"));
        assert!(
            p.enriched_stream.arn.is_unknown(),
            "a missing stream is recreated"
        );
        assert!(p.persist.function_arn == text("arn:fn"));
        assert!(
            p.persist.event_source_mapping_id.is_unknown(),
            "the mapping follows its source stream"
        );
    }

    #[test]
    fn key_schema_changes_force_replacement_and_capacity_changes_do_not() {
        let c = config();
        let prior = planned(&c, None);
        let mut changed = c.clone();
        changed.sink.sort_key = text("itemId");
        changed.cdc_stream.shard_count = Value::Value(4);
        let p = planned(&changed, Some(&prior));
        let paths = requires_replace(&prior, &p);
        assert_eq!(paths.len(), 2, "sort_key and its defaulted type");
        assert!(paths.contains(&path("sink", "sort_key")));
        assert!(paths.contains(&path("sink", "sort_key_type")));
    }

    #[test]
    fn validation_names_the_attribute_and_the_fix() {
        let mut c = config();
        c.cdc_stream.stream_mode = text("ON_DEMAND");
        c.cdc_stream.shard_count = Value::Value(2);
        c.sink.read_capacity = Value::Value(5);
        c.persist.maximum_record_age_seconds = Value::Value(30);
        let errors = errors_of(&c);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0]
            .contains("`cdc_stream.shard_count` must be unset when `stream_mode` is ON_DEMAND"));
        assert!(errors[1].contains(
            "`sink.read_capacity` is set (5) but `sink.billing_mode` is PAY_PER_REQUEST"
        ));
        assert!(errors[2].contains("-1 (no limit) or between 60 and 604800 (got 30)"));
    }

    #[test]
    fn unknown_values_are_not_validated_and_stay_unknown() {
        let mut c = config();
        c.name = Value::Unknown;
        c.cdc_stream.shard_count = Value::Unknown;
        assert!(errors_of(&c).is_empty());
        let p = planned(&c, None);
        assert!(p.cdc_stream.name.is_unknown());
        assert!(p.cdc_stream.shard_count.is_unknown());
        assert!(p.tags_all.is_unknown());
    }

    fn with_engine(mut c: PipelineState) -> PipelineState {
        use super::super::state::{ChildTable, LookupSource};
        c.sink.sort_key = text("itemId");
        let a = &mut c.analytics;
        a.engine = text("lambda");
        a.parent_table = text("order");
        a.parent_key = text("orderId");
        a.children = Value::Value(vec![Value::Value(ChildTable {
            table: text("order_item"),
            parent_key: text("orderId"),
            key: text("itemId"),
        })]);
        a.lookups = Value::Value(vec![Value::Value(LookupSource {
            name: text("products"),
            file: text("Cargo.toml"), // any readable file stands in for the JSON lines
            from: text("order_item.itemId"),
            match_column: text("productId"),
        })]);
        a.columns = Value::Value(
            [
                ("orderId", "order.orderId"),
                ("itemId", "order_item.itemId"),
                ("productName", "products.productName"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), text(v)))
            .collect(),
        );
        c
    }

    #[test]
    fn the_function_environment_decodes_to_the_settings_it_was_encoded_from() {
        use super::super::environment::{environment_into, environment_of};
        for mut c in [config(), with_engine(config())] {
            c.persist.version_attribute = text("event_ts");
            c.persist.write_concurrency = Value::Value(8);
            let p = planned(&c, None);
            let env = environment_of(&p).unwrap();
            // Read back into a state that knows only the names, as refresh and import do.
            let mut back = p.clone();
            back.persist.dead_letter_prefix = Value::Null;
            back.persist.write_concurrency = Value::Null;
            back.persist.version_attribute = Value::Null;
            back.analytics.columns = Value::Null;
            back.analytics.children = Value::Null;
            back.analytics.parent_table = Value::Null;
            environment_into(&mut back, &env);
            assert_eq!(environment_of(&back).unwrap(), env);
            assert!(back.persist.write_concurrency == Value::Value(8));
            assert!(back.persist.version_attribute == text("event_ts"));
            assert!(back.analytics.children == p.analytics.children);
            assert!(back.analytics.columns == p.analytics.columns);
        }
    }

    #[test]
    fn the_engine_plans_its_names_hashes_and_the_cdc_stream_as_source() {
        let c = with_engine(config());
        assert!(errors_of(&c).is_empty(), "{:?}", errors_of(&c));
        let p = planned(&c, None);
        assert!(p.analytics.state_table == text("Orders_1-state"));
        assert!(p.analytics.reference_bucket == text("orders-1-reference-123456789012"));
        assert!(
            p.analytics.reference_bucket_arn
                == text("arn:aws:s3:::orders-1-reference-123456789012")
        );
        assert!(p.analytics.publish_enriched == Value::Value(false));
        let objects = p.analytics.reference_objects.as_ref_option().unwrap();
        let hash = objects["reference/products.json"].as_ref_option().unwrap();
        assert_eq!(
            *hash,
            artifact::content_hash(&std::fs::read("Cargo.toml").unwrap())
        );

        // Turning the engine on for an existing pipeline moves the mapping to the CDC stream:
        // a new mapping, so its id is unknown until apply.
        let mut prior = planned(&config(), None);
        prior.cdc_stream.arn = text("arn:aws:kinesis:us-east-1:123456789012:stream/Orders_1-cdc");
        prior.enriched_stream.arn =
            text("arn:aws:kinesis:us-east-1:123456789012:stream/Orders_1-enriched");
        prior.persist.function_arn = text("arn:function");
        prior.persist.event_source_mapping_id = text("uuid-1");
        let kept = planned(&config(), Some(&prior));
        assert!(kept.persist.event_source_mapping_id == text("uuid-1"));
        let moved = planned(&c, Some(&prior));
        assert!(moved.persist.event_source_mapping_id.is_unknown());
    }

    #[test]
    fn no_engine_plans_no_analytics_components() {
        let p = planned(&config(), None);
        assert!(p.analytics.state_table.is_null());
        assert!(p.analytics.reference_objects.is_null());
    }

    #[test]
    fn engine_mistakes_name_the_attribute_and_the_fix() {
        let mut c = with_engine(config());
        c.analytics.columns = Value::Value(
            [
                ("orderId", "order.orderId"),
                ("name", "product.productName"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), text(v)))
            .collect(),
        );
        let errors = errors_of(&c);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`analytics.columns.name` is \"product.productName\"")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("must include the sink's key attribute \"itemId\"")),
            "{errors:?}"
        );

        let mut c = config();
        c.analytics.parent_table = text("order");
        assert!(errors_of(&c).iter().any(|e| e.contains(
            "`analytics.parent_table` is only for `engine = \"lambda\"`: set `engine = \"lambda\"`"
        )));

        let mut c = with_engine(config());
        c.analytics.columns = Value::Value(
            (0..120)
                .map(|i| {
                    (
                        format!("a_rather_long_column_name_{i}"),
                        text("order.orderId"),
                    )
                })
                .collect(),
        );
        let mut diags = Diagnostics::default();
        plan(&c, None, &BTreeMap::new(), &identity(), &mut diags);
        assert!(
            diags.errors.iter().any(|e| e
                .detail
                .contains("Lambda allows 4096 bytes of environment variables")),
            "a correlation over Lambda's environment limit is refused at plan"
        );

        let mut c = with_engine(config());
        c.persist.version_attribute = text("event_ts");
        assert!(errors_of(&c).iter().any(|e| e.contains(
            "`persist.version_attribute` has no effect with `analytics.engine = \"lambda\"`"
        )));

        let mut c = with_engine(config());
        c.analytics.children = Value::Value(vec![]);
        c.analytics.engine = text("flink");
        let errors = errors_of(&c);
        assert_eq!(
            errors.len(),
            1,
            "an unknown engine is the one error: {errors:?}"
        );
        assert!(errors[0].starts_with(
            "`analytics.engine` must be one of \"lambda\", \"kinesis-analytics-sql\" (got \"flink\")"
        ));

        let mut c = with_engine(config());
        if let Value::Value(lookups) = &mut c.analytics.lookups {
            if let Value::Value(lookup) = &mut lookups[0] {
                lookup.file = text("no/such/products.json");
            }
        }
        assert!(errors_of(&c)
            .iter()
            .any(|e| e.contains("the reference file of lookup products cannot be read")));
    }
}
