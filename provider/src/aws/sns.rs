//! SNS: the topic the `monitoring` block's alarms notify (when the configuration names none).
//!
//! CreateTopic is idempotent by name: asking for a topic that exists (with the same
//! attributes and tags) answers its ARN.

use std::collections::BTreeMap;

use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;

use crate::aws::tags::tag_diff;
use crate::aws::{context, AwsError, AwsResult};

const COMPONENT: &str = "SNS topic";

/// A topic as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

fn is_not_found(e: &AwsError) -> bool {
    e.code_is("NotFound") || e.code_is("NotFoundException") || e.is_not_found()
}

/// The topic `arn` with its tags; `None` if it does not exist.
pub async fn find(client: &Client, arn: &str) -> AwsResult<Option<Topic>> {
    let (attributes, tags) = tokio::join!(
        client.get_topic_attributes().topic_arn(arn).send(),
        client.list_tags_for_resource().resource_arn(arn).send()
    );
    if let Err(e) = attributes {
        let e = AwsError::from(e);
        return if is_not_found(&e) {
            Ok(None)
        } else {
            Err(context("reading", COMPONENT, arn, e))
        };
    }
    let tags = match tags {
        Ok(out) => out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) => {
            let e = AwsError::from(e);
            if is_not_found(&e) {
                return Ok(None);
            }
            return Err(context("reading the tags of", COMPONENT, arn, e));
        }
    };
    Ok(Some(Topic {
        arn: arn.to_string(),
        tags,
    }))
}

fn to_tags(tags: &BTreeMap<String, String>) -> AwsResult<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::other(e.to_string()))
        })
        .collect()
}

/// Creates the topic named `name` (or finds it, CreateTopic being idempotent) and brings its
/// tags to `tags`; its ARN.
pub async fn ensure(
    client: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let out = client
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| context("creating", COMPONENT, name, e.into()))?;
    let arn = out.topic_arn().unwrap_or_default().to_string();
    let current = find(client, &arn)
        .await?
        .map(|t| t.tags)
        .unwrap_or_default();
    let diff = tag_diff(&current, tags);
    if !diff.remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(diff.remove))
            .send()
            .await
            .map_err(|e| context("untagging", COMPONENT, name, e.into()))?;
    }
    if !diff.set.is_empty() {
        client
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(to_tags(&diff.set)?))
            .send()
            .await
            .map_err(|e| context("tagging", COMPONENT, name, e.into()))?;
    }
    Ok(arn)
}

/// Deletes the topic; one already gone is not an error (DeleteTopic is idempotent).
pub async fn delete(client: &Client, arn: &str) -> AwsResult<()> {
    match client.delete_topic().topic_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from(e);
            if is_not_found(&e) {
                Ok(())
            } else {
                Err(context("deleting", COMPONENT, arn, e))
            }
        }
    }
}
