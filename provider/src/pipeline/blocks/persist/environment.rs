//! The persist function's environment: what the pipeline's settings become in it (encode, at
//! apply) and what they are read back from (decode, at refresh and import), in one place.
//!
//! `SINK_TABLE`, `SINK_PARTITION_KEY` / `SINK_SORT_KEY` (`name:TYPE`), `WRITE_CONCURRENCY`,
//! `VERSION_ATTRIBUTE`, `DEAD_LETTER_BUCKET`, `DEAD_LETTER_PREFIX`; with the `lambda` engine also
//! `CORRELATION` (the join, as JSON), `STATE_TABLE` and `ENRICHED_STREAM`.

use std::collections::BTreeMap;

use tf_provider::value::Value;

use crate::pipeline::names::reference_key;
use crate::pipeline::state::{
    AnalyticsBlock, ChildTable, LookupSource, PersistBlock, PipelineState, Str,
};
use crate::pipeline::values::{need, opt, some, text};

/// The environment the function is given, from the planned (fully known) state. Read compares
/// the function's environment with it, so a change made out of band shows in the plan.
pub fn environment_of(s: &PipelineState) -> Result<BTreeMap<String, String>, String> {
    let sink = &s.sink;
    let p = &s.persist;
    // `name:TYPE` lets the function reject a record whose key has the wrong type before
    // writing, instead of DynamoDB failing the whole 25-item call.
    let key = |name: &Str, attr_type: &Str, what: &str| -> Result<String, String> {
        Ok(format!(
            "{}:{}",
            need(name, &format!("sink.{what}"))?,
            need(attr_type, &format!("sink.{what}_type"))?
        ))
    };
    let mut env = BTreeMap::from([
        ("SINK_TABLE".to_string(), need(&sink.name, "sink.name")?),
        (
            "SINK_PARTITION_KEY".to_string(),
            key(
                &sink.partition_key,
                &sink.partition_key_type,
                "partition_key",
            )?,
        ),
    ]);
    if sink.sort_key.is_value() {
        env.insert(
            "SINK_SORT_KEY".to_string(),
            key(&sink.sort_key, &sink.sort_key_type, "sort_key")?,
        );
    }
    env.insert(
        "WRITE_CONCURRENCY".to_string(),
        need(&p.write_concurrency, "persist.write_concurrency")?.to_string(),
    );
    if let Some(version) = opt(&p.version_attribute) {
        env.insert("VERSION_ATTRIBUTE".to_string(), version);
    }
    env.insert(
        "DEAD_LETTER_BUCKET".to_string(),
        need(&p.dead_letter_bucket, "persist.dead_letter_bucket")?,
    );
    env.insert(
        "DEAD_LETTER_PREFIX".to_string(),
        need(&p.dead_letter_prefix, "persist.dead_letter_prefix")?,
    );
    let a = &s.analytics;
    if a.lambda_engine() {
        env.insert(
            "CORRELATION".to_string(),
            correlation_document(a)?.to_string(),
        );
        env.insert(
            "STATE_TABLE".to_string(),
            need(&a.state_table, "analytics.state_table")?,
        );
        if need(&a.publish_enriched, "analytics.publish_enriched")? {
            env.insert(
                "ENRICHED_STREAM".to_string(),
                need(&s.enriched_stream.name, "enriched_stream.name")?,
            );
        }
    }
    Ok(env)
}

/// The `CORRELATION` document the function is given, from a fully known `analytics` block.
pub fn correlation_document(a: &AnalyticsBlock) -> Result<serde_json::Value, String> {
    let bucket = need(&a.reference_bucket, "analytics.reference_bucket")?;
    let mut lookups = Vec::new();
    for lookup in need(&a.lookups, "analytics.lookups")
        .ok()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_ref_option)
    {
        let name = need(&lookup.name, "analytics.lookups.name")?;
        lookups.push(serde_json::json!({
            "name": name,
            "bucket": bucket,
            "object_key": reference_key(&name),
            "from": need(&lookup.from, "analytics.lookups.from")?,
            "match": need(&lookup.match_column, "analytics.lookups.match")?,
        }));
    }
    let children: Vec<serde_json::Value> = need(&a.children, "analytics.children")?
        .iter()
        .filter_map(Value::as_ref_option)
        .map(|c| {
            Ok(serde_json::json!({
                "table": need(&c.table, "analytics.children.table")?,
                "parent_key": need(&c.parent_key, "analytics.children.parent_key")?,
                "key": need(&c.key, "analytics.children.key")?,
            }))
        })
        .collect::<Result<_, String>>()?;
    let columns: Vec<serde_json::Value> = need(&a.columns, "analytics.columns")?
        .into_iter()
        .filter_map(|(name, from)| {
            from.as_option()
                .map(|from| serde_json::json!({"name": name, "from": from}))
        })
        .collect();
    let mut correlation = serde_json::json!({
        "parent": {
            "table": need(&a.parent_table, "analytics.parent_table")?,
            "key": need(&a.parent_key, "analytics.parent_key")?,
        },
        "children": children,
        "lookups": lookups,
        "columns": columns,
    });
    if let Some(schema) = opt(&a.schema) {
        correlation["schema"] = serde_json::Value::String(schema);
    }
    Ok(correlation)
}

/// Writes the settings the function's environment holds into `state`: the persist settings,
/// and with the `lambda` engine its correlation (lookup files are kept from `state`, matched by
/// lookup name: the environment names only their objects).
pub fn environment_into(state: &mut PipelineState, env: &BTreeMap<String, String>) {
    settings_into(&mut state.persist, env);
    correlation_into(&mut state.analytics, env);
}

/// The persist settings the environment holds, into `p`.
pub fn settings_into(p: &mut PersistBlock, env: &BTreeMap<String, String>) {
    let opt = |k: &str| env.get(k).map_or(Value::Null, |v| some(v.clone()));
    p.dead_letter_prefix = opt("DEAD_LETTER_PREFIX");
    p.write_concurrency = env
        .get("WRITE_CONCURRENCY")
        .and_then(|v| v.parse().ok())
        .map_or(Value::Null, some);
    p.version_attribute = opt("VERSION_ATTRIBUTE");
}

/// With the `lambda` engine, its settings the environment holds (the correlation, the state
/// table, whether it publishes), into `a`.
pub fn correlation_into(a: &mut AnalyticsBlock, env: &BTreeMap<String, String>) {
    let opt = |k: &str| env.get(k).map_or(Value::Null, |v| some(v.clone()));
    if !a.lambda_engine() {
        return;
    }
    a.state_table = opt("STATE_TABLE");
    a.publish_enriched = some(env.contains_key("ENRICHED_STREAM"));
    let Some(correlation) = env
        .get("CORRELATION")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
    else {
        return;
    };
    let s = |v: &serde_json::Value| v.as_str().map_or(Value::Null, text);
    a.schema = s(&correlation["schema"]);
    a.parent_table = s(&correlation["parent"]["table"]);
    a.parent_key = s(&correlation["parent"]["key"]);
    let items = |key: &str| correlation[key].as_array().cloned().unwrap_or_default();
    a.children = some(
        items("children")
            .iter()
            .map(|c| {
                some(ChildTable {
                    table: s(&c["table"]),
                    parent_key: s(&c["parent_key"]),
                    key: s(&c["key"]),
                })
            })
            .collect(),
    );
    a.columns = some(
        items("columns")
            .iter()
            .filter_map(|c| Some((c["name"].as_str()?.to_string(), s(&c["from"]))))
            .collect(),
    );
    let files: BTreeMap<String, Str> = a
        .lookups
        .as_ref_option()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_ref_option)
                .filter_map(|l| Some((l.name.as_ref_option()?.clone(), l.file.clone())))
                .collect()
        })
        .unwrap_or_default();
    let lookups: Vec<Value<LookupSource>> = items("lookups")
        .iter()
        .map(|l| {
            let name = l["name"].as_str().unwrap_or_default().to_string();
            some(LookupSource {
                file: files.get(&name).cloned().unwrap_or(Value::Null),
                name: some(name),
                from: s(&l["from"]),
                match_column: s(&l["match"]),
            })
        })
        .collect();
    a.lookups = if lookups.is_empty() && a.lookups.is_null() {
        Value::Null
    } else {
        some(lookups)
    };
}
