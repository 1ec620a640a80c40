//! CloudWatch Logs: the function's log group (`/aws/lambda/<function>`), which the
//! `monitoring` block manages so that its retention is set (Lambda creates it at the first
//! invocation otherwise, keeping logs forever).

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::Client;

use crate::aws::tags::tag_diff;
use crate::aws::{context, AwsError, AwsResult};

const COMPONENT: &str = "CloudWatch log group";

/// A log group as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub name: String,
    pub arn: String,
    /// `None`: logs never expire.
    pub retention_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

/// The log group named `name`, with its tags; `None` if it does not exist.
pub async fn find(client: &Client, name: &str) -> AwsResult<Option<LogGroup>> {
    find_with(client, name, true).await
}

/// The log group named `name` without its tags (one call: a refresh compares its retention
/// only); `None` if it does not exist.
pub async fn find_untagged(client: &Client, name: &str) -> AwsResult<Option<LogGroup>> {
    find_with(client, name, false).await
}

async fn find_with(client: &Client, name: &str, tagged: bool) -> AwsResult<Option<LogGroup>> {
    let out = client
        .describe_log_groups()
        .log_group_name_prefix(name)
        .limit(50)
        .send()
        .await
        .map_err(|e| context("reading", COMPONENT, name, e.into()))?;
    let Some(group) = out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
    else {
        return Ok(None);
    };
    // The ARN DescribeLogGroups reports ends in `:*`; the tagging APIs want it without.
    let arn = group
        .log_group_arn()
        .map(str::to_string)
        .or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_string()))
        .unwrap_or_default();
    if !tagged {
        return Ok(Some(LogGroup {
            name: name.to_string(),
            arn,
            retention_days: group.retention_in_days(),
            tags: BTreeMap::new(),
        }));
    }
    let tags = match client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
    {
        Ok(out) => out
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        Err(e) => {
            let e = AwsError::from(e);
            if e.is_not_found() {
                return Ok(None);
            }
            return Err(context("reading the tags of", COMPONENT, name, e));
        }
    };
    Ok(Some(LogGroup {
        name: name.to_string(),
        arn,
        retention_days: group.retention_in_days(),
        tags,
    }))
}

/// Creates the log group (or takes the one Lambda made) with `retention_days` and `tags`.
/// `known`: the pipeline recorded it before, so it is read first; otherwise it is created at
/// once (three calls: create, retention, and nothing to read back).
pub async fn ensure(
    client: &Client,
    name: &str,
    retention_days: i32,
    tags: &BTreeMap<String, String>,
    known: bool,
) -> AwsResult<()> {
    if !known {
        let created = client
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await;
        match created {
            Ok(_) => return set_retention(client, name, retention_days).await,
            // Made meanwhile (Lambda makes it at the function's first invocation): reconciled
            // below.
            Err(e) => {
                let e = AwsError::from(e);
                if !e.code_is("ResourceAlreadyExistsException") {
                    return Err(context("creating", COMPONENT, name, e));
                }
            }
        }
    }
    let Some(group) = find(client, name).await? else {
        // Deleted out of band since the last apply: made again.
        return Box::pin(ensure(client, name, retention_days, tags, false)).await;
    };
    if group.retention_days != Some(retention_days) {
        set_retention(client, name, retention_days).await?;
    }
    let diff = tag_diff(&group.tags, tags);
    if !diff.remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(&group.arn)
            .set_tag_keys(Some(diff.remove))
            .send()
            .await
            .map_err(|e| context("untagging", COMPONENT, name, e.into()))?;
    }
    if !diff.set.is_empty() {
        client
            .tag_resource()
            .resource_arn(&group.arn)
            .set_tags(Some(diff.set.into_iter().collect()))
            .send()
            .await
            .map_err(|e| context("tagging", COMPONENT, name, e.into()))?;
    }
    Ok(())
}

async fn set_retention(client: &Client, name: &str, days: i32) -> AwsResult<()> {
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| context("setting the retention of", COMPONENT, name, e.into()))?;
    Ok(())
}

/// Deletes the log group and the logs in it; one already gone is not an error.
pub async fn delete(client: &Client, name: &str) -> AwsResult<()> {
    match client.delete_log_group().log_group_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from(e);
            if e.is_not_found() {
                Ok(())
            } else {
                Err(context("deleting", COMPONENT, name, e))
            }
        }
    }
}
