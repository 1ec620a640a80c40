//! Plan-time logic: validation of the configuration (with attribute paths and a sentence on
//! how to fix it), defaults, which computed values stay known, and which changes force
//! replacement.

use std::collections::BTreeMap;

use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::blocks::{analytics, monitoring, persist, sink, streams, BLOCKS};

use super::state::{PipelineState, Str};
use super::timeouts;
use super::values::{derive, path};
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
    if let Value::Value(user_tags) = &config.tags {
        if user_tags.contains_key(tags::PIPELINE_TAG) {
            diags.error(
                "invalid tags",
                format!("`tags` may not set `{}`: the pipeline sets it to its `name` on every component, which is how import and drift detection find them. Remove that key", tags::PIPELINE_TAG),
                AttributePath::new("tags"),
            );
        }
    }
    streams::validate("cdc_stream", &config.cdc_stream, diags);
    streams::validate("enriched_stream", &config.enriched_stream, diags);
    sink::validate(&config.sink, diags);
    persist::validate(&config.persist, diags);
    analytics::validate(&config.analytics, &config.sink, diags);
    for block in BLOCKS {
        block.validate(config, diags);
    }
    monitoring::validate(config, diags);
    timeouts::validate_timeouts(&config.timeouts, diags);
    if config.analytics.lambda_engine() && config.persist.version_attribute.is_value() {
        diags.error(
            "invalid persist.version_attribute",
            "`persist.version_attribute` has no effect with `analytics.engine = \"lambda\"`: the engine orders every row's changes by their DMS commit time and Kinesis sequence number itself. Remove it",
            path("persist", "version_attribute"),
        );
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
    let cdc_stream = streams::plan(
        &config.cdc_stream,
        prior.map(|p| &p.cdc_stream),
        derive(&name, "cdc"),
        identity,
    );
    let enriched_stream = streams::plan(
        &config.enriched_stream,
        prior.map(|p| &p.enriched_stream),
        derive(&name, "enriched"),
        identity,
    );
    let sink = sink::plan(
        &config.sink,
        prior.map(|p| &p.sink),
        derive(&name, "sink"),
        identity,
    );
    let analytics = analytics::plan(
        &config.analytics,
        prior.map(|p| &p.analytics),
        &name,
        identity,
        &enriched_stream.name,
        diags,
    );
    let engine_on = analytics.lambda_engine();
    let source_changed = prior.is_some_and(|p| p.analytics.lambda_engine() != engine_on);
    let persist = persist::plan(
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
    // Last: it watches the components planned above.
    monitoring::plan(config, identity, &mut planned);
    // Last of all: it compares what the function is made from, planned by several blocks.
    persist::plan_version(prior, &mut planned);
    planned
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

/// The attributes whose change cannot be applied in place: they name or key a component that
/// holds data (a stream, the table), so the pipeline is replaced.
pub fn requires_replace(prior: &PipelineState, planned: &PipelineState) -> Vec<AttributePath> {
    let changed = |block: &'static str, attrs: Vec<&'static str>| {
        attrs.into_iter().map(move |attr| path(block, attr))
    };
    changed(
        "cdc_stream",
        streams::replaced_by(&prior.cdc_stream, &planned.cdc_stream),
    )
    .chain(changed(
        "enriched_stream",
        streams::replaced_by(&prior.enriched_stream, &planned.enriched_stream),
    ))
    .chain(changed(
        "sink",
        sink::replaced_by(&prior.sink, &planned.sink),
    ))
    .collect()
}

/// A change that replaces the sink table (its name or keys) deletes its rows: the plan says so
/// on each such attribute, before anyone applies it.
pub fn warn_of_lost_rows(prior: &PipelineState, planned: &PipelineState, diags: &mut Diagnostics) {
    let table = prior.sink.name.as_ref_option().map_or("?", String::as_str);
    for attr in sink::replaced_by(&prior.sink, &planned.sink) {
        diags.warning(
            format!("sink.{attr} replaces the sink table: its rows are lost"),
            format!("Changing `sink.{attr}` replaces the pipeline: the DynamoDB table \"{table}\" and every row in it are deleted, and a new, empty table is made. The destroy stops if the table holds items unless `sink.force_destroy = true`: export the rows first, or keep the current value."),
            path("sink", attr),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact;
    use crate::pipeline::state::MonitoringBlock;
    use crate::pipeline::values::text;

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
        let p = plan(
            c,
            prior,
            &BTreeMap::new(),
            &Identity::for_tests(),
            &mut diags,
        );
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
    fn the_function_version_stays_known_until_what_the_function_is_made_from_changes() {
        let c = config();
        let mut prior = planned(&c, None);
        prior.persist.function_arn = text("arn:fn");
        prior.persist.function_version = text("3");
        assert!(
            planned(&c, None).persist.function_version.is_unknown(),
            "a new function's first version"
        );
        assert!(planned(&c, Some(&prior)).persist.function_version == text("3"));
        let mut shards = c.clone();
        shards.cdc_stream.shard_count = Value::Value(4);
        assert!(
            planned(&shards, Some(&prior)).persist.function_version == text("3"),
            "nothing the function is made from changes"
        );
        // Its configuration, its environment (from another block), its logging: published anew.
        let mut memory = c.clone();
        memory.persist.memory_size = Value::Value(1024);
        let mut table = c.clone();
        table.sink.name = text("other-table");
        let mut logging = c.clone();
        logging.monitoring = Value::Value(vec![Value::Value(MonitoringBlock {
            enabled: Value::Value(true),
            log_format: text("Text"),
            ..Default::default()
        })]);
        for changed in [memory, table, logging] {
            assert!(planned(&changed, Some(&prior))
                .persist
                .function_version
                .is_unknown());
        }
        // Pointed elsewhere out of band (refreshed as null): the apply points it back.
        prior.persist.function_version = Value::Null;
        assert!(planned(&c, Some(&prior))
            .persist
            .function_version
            .is_unknown());
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
        use crate::pipeline::blocks::persist::environment::{environment_into, environment_of};
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
        plan(
            &c,
            None,
            &BTreeMap::new(),
            &Identity::for_tests(),
            &mut diags,
        );
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
