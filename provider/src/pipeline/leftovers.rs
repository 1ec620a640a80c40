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

use super::blocks::{analytics, persist, sink, streams, BLOCKS};
use super::owner::Adopted;
use super::state::PipelineState;
use crate::aws::tags::PIPELINE_TAG;
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
    streams::leftovers(aws, &mut state.cdc_stream, &ours).await?;
    streams::leftovers(aws, &mut state.enriched_stream, &ours).await?;
    sink::leftovers(aws, &state.sink.name, &mut state.sink.arn, &ours).await?;
    persist::leftovers(aws, identity, &mut state, &ours).await?;
    analytics::leftovers(aws, identity, &mut state.analytics, &ours).await?;
    for block in BLOCKS {
        block.leftovers(aws, identity, &mut state, &ours).await?;
    }
    Ok(state)
}
