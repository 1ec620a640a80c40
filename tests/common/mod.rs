//! What several suites share: the check that nothing a test made is left behind, and the paths a
//! plan changes.

pub mod nothing_left;
pub mod plan_diff;

/// The event source mappings of `function`, whichever version of it each invokes (a filter on
/// the function name matches one qualifier only, and the pipeline's mappings invoke a version).
pub async fn mappings_of(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> anyhow::Result<Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration>> {
    let listed = lambda.list_event_source_mappings().send().await?;
    Ok(listed
        .event_source_mappings()
        .iter()
        .filter(|m| {
            m.function_arn().is_some_and(|arn| {
                let rest = arn.split_once(":function:").map_or(arn, |(_, rest)| rest);
                rest.split(':').next() == Some(function)
            })
        })
        .cloned()
        .collect())
}
