//! Import: an existing pipeline taken into a state, by its name or by a map of its components'
//! names.
//!
//! ```text
//!   orders                                              by name: `orders-cdc`, `orders-sink`, …
//!   name=orders,cdc_stream=unifiedOrderStream,sink=…    by component map: any names
//! ```
//! Import writes the components' names and ids into a state skeleton, together with what only
//! import can recover (the function's settings from its environment, the DMS settings refresh
//! does not overwrite); Terraform then reads it like any state, which fills in every setting.
//! Optional blocks are there when their components are: `source` (DMS), `data_lake`
//! (Firehose), `analytics` (the `lambda` engine's state table, or the SQL application — named
//! in a map, an application that no longer exists is imported as to be created).

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::block::{ImportId, ImportKey, Importing};
use super::blocks::{analytics, monitoring, persist, sink, streams, BLOCKS};

use super::owner::{self as own, Adopted};
use super::state::{PipelineState, SinkBlock, Str, StreamBlock};
use super::values::some;
use crate::aws::lambda;
use crate::aws::tags::PIPELINE_TAG;
use crate::aws::{Aws, Identity};

/// The keys of a component map, with what each names.
/// The core's; the blocks list their own (`Block::import_keys`).
pub const KEYS: [(&str, &str); 11] = [
    ("name", "the pipeline's name (required)"),
    ("cdc_stream", "the CDC Kinesis stream"),
    ("enriched_stream", "the enriched Kinesis stream"),
    ("sink", "the DynamoDB table"),
    ("function", "the persist Lambda function"),
    ("role", "the persist function's IAM role"),
    ("dead_letter_bucket", "the dead-letter S3 bucket"),
    ("application", "the Kinesis Data Analytics SQL application"),
    ("analytics_role", "the SQL application's IAM role"),
    ("reference_bucket", "the reference data S3 bucket"),
    ("state_table", "the analytics engine's DynamoDB state table"),
];

/// The kind of component each key of a map names (all but `name`).
fn kind_of(key: &str) -> &'static str {
    match key {
        "cdc_stream" | "enriched_stream" => own::STREAM,
        "sink" | "state_table" => own::TABLE,
        "function" => own::FUNCTION,
        "role" | "analytics_role" => own::ROLE,
        "dead_letter_bucket" | "reference_bucket" => own::BUCKET,
        "application" => own::APPLICATION,
        _ => block_keys()
            .find(|k| k.key == key)
            .map_or("component", |k| k.kind),
    }
}

/// The keys the blocks read.
fn block_keys() -> impl Iterator<Item = &'static ImportKey> {
    BLOCKS.iter().flat_map(|block| block.import_keys())
}

fn usage() -> String {
    let keys = KEYS
        .iter()
        .copied()
        .chain(block_keys().map(|k| (k.key, k.what)))
        .map(|(k, what)| format!("  {k}: {what}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!("import by the pipeline's name (`orders`), or by a map of component names: `name=orders,cdc_stream=unifiedOrderStream,sink=UnifiedOrderEnriched,...` with the keys\n{keys}")
}

/// Parses `orders` or `name=orders,cdc_stream=…,…`.
pub fn parse_id(id: &str) -> Result<ImportId, String> {
    let id = id.trim();
    if !id.contains('=') {
        return check_name(id).map(|name| ImportId {
            name,
            components: BTreeMap::new(),
        });
    }
    let mut components = BTreeMap::new();
    for pair in id.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "`{pair}` in the import ID is not `key=value`; {}",
                usage()
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if !KEYS.iter().any(|(k, _)| *k == key) && !block_keys().any(|k| k.key == key) {
            return Err(format!(
                "unknown component `{key}` in the import ID; {}",
                usage()
            ));
        }
        if value.is_empty() {
            return Err(format!("`{key}` in the import ID has no value"));
        }
        if components
            .insert(key.to_string(), value.to_string())
            .is_some()
        {
            return Err(format!("`{key}` appears twice in the import ID"));
        }
    }
    let Some(name) = components.remove("name") else {
        return Err(format!(
            "the import ID names no pipeline: add `name=<pipeline name>`; {}",
            usage()
        ));
    };
    let name = check_name(&name)?;
    Ok(ImportId { name, components })
}

fn check_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "\"{name}\" is not a pipeline name (1 to 40 letters, digits, '-' or '_'); {}",
            usage()
        ))
    }
}

fn text(s: &str) -> Str {
    Value::Value(s.to_string())
}

fn err(e: crate::aws::AwsError) -> String {
    e.message
}

/// The state of the pipeline `id` names, for Terraform to read, and the components the import
/// adopts: every one the map names, and every one found (by name, or through another: the
/// function's role, the task's endpoints). Err when nothing matches (the message says what was
/// looked for) or AWS cannot be read.
pub async fn adopt(
    aws: &Aws,
    identity: &Identity,
    id: &ImportId,
) -> Result<(PipelineState, Adopted), String> {
    let mut state = adopt_state(aws, identity, id).await?;
    let mut adopted = Adopted::default();
    for (key, name) in &id.components {
        adopted.add(kind_of(key), name);
    }
    found_components(aws, &mut state, &mut adopted).await?;
    Ok((state, adopted))
}

/// Adds to `adopted` each component the state names that exists, and records the ARNs of the
/// service roles (refresh reads each role by name; an ARN known marks it as the pipeline's
/// for destroy too).
async fn found_components(
    aws: &Aws,
    state: &mut PipelineState,
    adopted: &mut Adopted,
) -> Result<(), String> {
    let role = |name: &Str| {
        let name = name.as_ref_option().cloned();
        async move {
            match name {
                Some(name) => crate::aws::iam::find_by_name(&aws.iam, &name, "unifiedetl-persist")
                    .await
                    .map(|r| r.map(|r| (name, r.arn))),
                None => Ok(None),
            }
        }
    };
    let (persist_role, analytics_role) = tokio::join!(
        role(&state.persist.role_name),
        role(&state.analytics.role_name),
    );
    for found in [persist_role, analytics_role] {
        if let Some((name, _)) = found.map_err(err)? {
            adopted.add(own::ROLE, &name);
        }
    }
    let named = |v: &Str, arn: &Str| v.as_ref_option().filter(|_| arn.is_value()).cloned();
    for (kind, name) in [
        (
            own::STREAM,
            named(&state.cdc_stream.name, &state.cdc_stream.arn),
        ),
        (own::TABLE, named(&state.sink.name, &state.sink.arn)),
        (
            own::FUNCTION,
            named(&state.persist.function_name, &state.persist.function_arn),
        ),
        (
            own::STREAM,
            named(&state.enriched_stream.name, &state.enriched_stream.arn),
        ),
        (
            own::APPLICATION,
            named(
                &state.analytics.application_name,
                &state.analytics.application_arn,
            ),
        ),
    ] {
        if let Some(name) = name {
            adopted.add(kind, &name);
        }
    }
    if let Some(uuid) = state.persist.event_source_mapping_id.as_ref_option() {
        adopted.add(own::MAPPING, uuid);
    }
    for block in BLOCKS {
        block.adopted(aws, state, adopted).await?;
    }
    Ok(())
}

async fn adopt_state(
    aws: &Aws,
    identity: &Identity,
    id: &ImportId,
) -> Result<PipelineState, String> {
    let name = id.name.as_str();
    let mut importing = Importing {
        aws,
        identity,
        id,
        looked: Default::default(),
    };
    let mut found_any = false;
    let mut state = PipelineState {
        id: text(name),
        name: text(name),
        ..PipelineState::default()
    };
    state.analytics.reference = some(Vec::new());
    state.analytics.output = some(Vec::new());

    // Streams and table: refresh fills in every setting from the name.
    let function_name = id.get("function", || format!("{name}-persist"));
    let mut cdc_block = StreamBlock::default();
    let mut enriched_block = StreamBlock::default();
    let mut sink_block = SinkBlock::default();
    let (cdc_seen, enriched_seen, table, function) = tokio::join!(
        streams::import(
            &importing,
            &mut cdc_block,
            id.get("cdc_stream", || format!("{name}-cdc"))
        ),
        streams::import(
            &importing,
            &mut enriched_block,
            id.get("enriched_stream", || format!("{name}-enriched"))
        ),
        sink::import(
            &importing,
            &mut sink_block,
            id.get("sink", || format!("{name}-sink"))
        ),
        async {
            importing.note(own::FUNCTION, &function_name);
            lambda::find_function_by_name(&aws.lambda, &function_name)
                .await
                .map_err(err)
        },
    );
    let (cdc_seen, enriched_seen, table, function) = (cdc_seen?, enriched_seen?, table?, function?);
    if let Some(f) = &function {
        importing.owned(own::FUNCTION, &function_name, &f.tags)?;
    }
    found_any |=
        cdc_seen.is_some() || enriched_seen.is_some() || table.is_some() || function.is_some();
    state.cdc_stream = cdc_block;
    state.enriched_stream = enriched_block;
    state.sink = sink_block;
    // Tags: what the components carry beyond the provider's default tags and the marker.
    let seen_tags = cdc_seen
        .as_ref()
        .map(|s| s.tags.clone())
        .or_else(|| table.as_ref().map(|t| t.tags.clone()))
        .unwrap_or_default();
    let own: BTreeMap<String, Value<String>> = seen_tags
        .iter()
        .filter(|(k, v)| {
            k.as_str() != PIPELINE_TAG
                && !crate::aws::tags::is_ignored(k)
                && aws.default_tags.get(*k) != Some(*v)
        })
        .map(|(k, v)| (k.clone(), some(v.clone())))
        .collect();
    state.tags = if own.is_empty() {
        Value::Null
    } else {
        some(own)
    };
    state.tags_all = some(
        seen_tags
            .into_iter()
            .filter(|(k, _)| !crate::aws::tags::is_ignored(k))
            .map(|(k, v)| (k, some(v)))
            .collect(),
    );

    // The function: its role, its environment (the sink keys, the dead letters, the engine's
    // correlation), the analytics engine it shows (or the SQL application), and its mapping on
    // the stream it reads.
    let environment = persist::import(&importing, &mut state, function_name, function.as_ref());
    found_any |= analytics::import(&importing, &mut state.analytics, &environment).await?;
    persist::import_mapping(aws, &mut state).await?;

    // The blocks.
    for block in BLOCKS {
        found_any |= block.import(&mut importing, &mut state).await?;
    }
    // Last: it watches what was found above.
    if found_any {
        let logging = function.as_ref().map(|f| f.logging.clone());
        monitoring::import(aws, identity, &mut state, logging).await?;
    }

    if !found_any {
        return Err(format!(
            "no pipeline \"{name}\" to import in {}: looked for {} and found none of them{}",
            aws.region,
            importing.looked(),
            if id.by_map() {
                ""
            } else {
                " (components built elsewhere under other names are imported with a component map: `name=orders,cdc_stream=…,sink=…`)"
            }
        ));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_name_or_a_map_of_component_names() {
        assert_eq!(
            parse_id("orders").unwrap(),
            ImportId {
                name: "orders".into(),
                components: BTreeMap::new()
            }
        );
        let id = parse_id(
            "name=orders, cdc_stream=unifiedOrderStream,sink=UnifiedOrderEnriched,application=UnifiedKDA-OrderETL",
        )
        .unwrap();
        assert_eq!(id.name, "orders");
        assert_eq!(id.components["cdc_stream"], "unifiedOrderStream");
        assert_eq!(id.components["application"], "UnifiedKDA-OrderETL");
        assert!(!id.components.contains_key("name"));
    }

    #[test]
    fn a_bad_id_says_what_an_id_looks_like() {
        let e = parse_id("name=orders,stream=x").unwrap_err();
        assert!(
            e.contains("unknown component `stream`") && e.contains("cdc_stream:"),
            "{e}"
        );
        let e = parse_id("cdc_stream=x").unwrap_err();
        assert!(e.contains("add `name=<pipeline name>`"), "{e}");
        let e = parse_id("name=a,sink=x,sink=y").unwrap_err();
        assert!(e.contains("`sink` appears twice"), "{e}");
        assert!(parse_id("not a name").is_err());
    }
}
