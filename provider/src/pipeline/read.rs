//! Refresh: reads every component concurrently and writes what AWS reports into the state, so
//! that a change made out of band shows in the plan on the exact attribute, and a component
//! deleted out of band shows as its id becoming "known after apply" (recreated in place). Each
//! block reads its own (`blocks/`); this file reads them at once and puts the state together.

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::blocks::{analytics, monitoring, persist, sink, streams, BLOCKS};
use super::state::{one, PipelineState, Tags};
use crate::aws::{Aws, AwsResult};

/// Refreshes `prior`. Returns `None` when no component exists any more (the pipeline is gone),
/// and an error when AWS could not be read (the state is then left as it was).
pub async fn refresh(aws: &Aws, prior: &PipelineState) -> AwsResult<Option<PipelineState>> {
    // The blocks' components are named in the state too: read with the core ones, at once.
    // The CDC stream's ARN they compare with is the state's (deterministic from its name).
    let (cdc, enriched, table, persist_seen, analytics_seen, blocks_read, watching) = tokio::join!(
        streams::find(aws, &prior.cdc_stream.name),
        streams::find(aws, &prior.enriched_stream.name),
        sink::find(aws, &prior.sink),
        persist::find(aws, &prior.persist),
        analytics::refresh(aws, &prior.analytics),
        futures::future::join_all(BLOCKS.iter().map(|block| block.refresh(aws, prior))),
        monitoring::refreshed(aws, prior),
    );
    let (cdc, enriched, table, persist_seen) = (cdc?, enriched?, table?, persist_seen?);
    let blocks_read = blocks_read.into_iter().collect::<AwsResult<Vec<_>>>()?;
    let analytics_seen = analytics_seen?;
    let nothing_left = !blocks_read.iter().any(|b| b.exists)
        && cdc.is_none()
        && enriched.is_none()
        && table.is_none()
        && !persist_seen.any();
    if nothing_left {
        return Ok(None);
    }
    let function_logging = persist_seen.function.as_ref().map(|f| f.logging.clone());
    let mut fresh = prior.clone();
    let tags_seen: Vec<BTreeMap<String, String>> = [
        cdc.as_ref().map(|s| s.tags.clone()),
        enriched.as_ref().map(|s| s.tags.clone()),
        table.as_ref().map(|t| t.tags.clone()),
        persist_seen.role.as_ref().map(|r| r.tags.clone()),
        persist_seen.function.as_ref().map(|f| f.tags.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    fresh.tags_all = drifted_tags(&prior.tags_all, &tags_seen);
    fresh.cdc_stream = streams::refreshed(&prior.cdc_stream, cdc);
    fresh.enriched_stream = streams::refreshed(&prior.enriched_stream, enriched);
    fresh.sink = sink::refreshed(&prior.sink, table);
    // The function's environment holds the `lambda` engine's settings: persist goes before
    // analytics.
    persist::refreshed(&mut fresh, persist_seen);
    analytics::refreshed(&mut fresh.analytics, analytics_seen);
    // Blocks nest as lists: a state written before they existed holds null, read as none.
    for block in blocks_read {
        (block.record)(&mut fresh);
    }
    fresh.monitoring = one(watching?);
    monitoring::logging_seen(&mut fresh, function_logging);
    Ok(Some(fresh))
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
        // Tags under the reserved `aws:` prefix are AWS's own, and `ignore_tags` names those
        // other tools manage: neither is managed here.
        let own = crate::aws::tags::managed(tags);
        if own != expected {
            return Value::Value(own.into_iter().map(|(k, v)| (k, Value::Value(v))).collect());
        }
    }
    prior.clone()
}
