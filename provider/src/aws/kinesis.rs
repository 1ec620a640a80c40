//! Kinesis data streams: the pipeline's CDC stream and its enriched stream.
//!
//! Finders, create/update/delete and waiters for one stream, in that order. Streams settle
//! asynchronously (CREATING/UPDATING → ACTIVE) and accept one change at a time, so every change
//! is followed by a wait for ACTIVE before the next.

use std::collections::BTreeMap;

use aws_sdk_kinesis::types::{
    EncryptionType, ScalingType, StreamMode, StreamModeDetails, StreamStatus,
};
use aws_sdk_kinesis::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult, Expect};
use crate::wait;

/// What errors call this service's component.
const COMPONENT: &str = "Kinesis stream";

/// The settings a stream should have.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    pub name: String,
    /// `None` for on-demand capacity mode.
    pub shard_count: Option<i32>,
    pub retention_hours: i32,
    /// KMS key (id, ARN or alias) when server-side encryption is on.
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// A stream as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub name: String,
    pub arn: String,
    pub status: StreamStatus,
    pub on_demand: bool,
    pub open_shards: i32,
    pub retention_hours: i32,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Describes the stream named `name`, with its tags; `None` if it does not exist.
pub async fn find_by_name(client: &Client, name: &str) -> AwsResult<Option<Stream>> {
    find(client, name, Expect::Present).await
}

/// [`find_by_name`], spending calls as `expect` says.
pub async fn find(client: &Client, name: &str, expect: Expect) -> AwsResult<Option<Stream>> {
    let (stream, tags) = match expect {
        // Both calls need only the name: asked at once.
        Expect::Present => tokio::join!(find_summary(client, name), list_tags(client, name)),
        Expect::Absent => match find_summary(client, name).await? {
            None => return Ok(None),
            described => (Ok(described), list_tags(client, name).await),
        },
    };
    let Some(stream) = stream? else {
        return Ok(None);
    };
    let tags = found(tags)?.unwrap_or_default();
    Ok(Some(Stream { tags, ..stream }))
}

async fn find_summary(client: &Client, name: &str) -> AwsResult<Option<Stream>> {
    let out = found(
        client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    let Some(summary) = out.and_then(|o| o.stream_description_summary) else {
        return Ok(None);
    };
    let on_demand = matches!(
        summary
            .stream_mode_details
            .as_ref()
            .map(|d| d.stream_mode()),
        Some(StreamMode::OnDemand)
    );
    let kms_key_id = match summary.encryption_type {
        Some(EncryptionType::Kms) => summary.key_id.clone(),
        _ => None,
    };
    Ok(Some(Stream {
        name: summary.stream_name,
        arn: summary.stream_arn,
        status: summary.stream_status,
        on_demand,
        open_shards: summary.open_shard_count,
        retention_hours: summary.retention_period_hours,
        kms_key_id,
        tags: BTreeMap::new(),
    }))
}

async fn list_tags(client: &Client, name: &str) -> AwsResult<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut start: Option<String> = None;
    loop {
        let out = client
            .list_tags_for_stream()
            .stream_name(name)
            .set_exclusive_start_tag_key(start.clone())
            .send()
            .await?;
        for tag in out.tags {
            start = Some(tag.key.clone());
            tags.insert(tag.key, tag.value.unwrap_or_default());
        }
        if !out.has_more_tags {
            return Ok(tags);
        }
    }
}

fn mode_details(on_demand: bool) -> StreamModeDetails {
    let mode = if on_demand {
        StreamMode::OnDemand
    } else {
        StreamMode::Provisioned
    };
    StreamModeDetails::builder()
        .stream_mode(mode)
        .build()
        .expect("stream_mode is set")
}

/// Creates the stream, waits for it to be ACTIVE, then applies retention, encryption and tags.
pub async fn create(client: &Client, spec: &StreamSpec) -> AwsResult<Stream> {
    // Tagged as it is made (no AddTagsToStream after it has become ACTIVE).
    let tags = (!spec.tags.is_empty()).then(|| spec.tags.clone().into_iter().collect());
    client
        .create_stream()
        .stream_name(&spec.name)
        .set_shard_count(spec.shard_count)
        .stream_mode_details(mode_details(spec.shard_count.is_none()))
        .set_tags(tags)
        .send()
        .await
        .map_err(|e| context("creating", COMPONENT, &spec.name, e.into()))?;
    let current = wait_active_tagged(client, &spec.name, &spec.tags).await?;
    update(client, &current, spec).await
}

/// The stream is still settling from its previous change (or, right after it first reads
/// ACTIVE, AWS has not caught up yet): ResourceInUseException, waited out.
fn is_settling(err: &AwsError) -> bool {
    err.code_is("ResourceInUseException")
}

/// Brings an existing stream to `spec` in place, one change at a time; a change refused
/// while the stream settles is retried.
pub async fn update(client: &Client, current: &Stream, spec: &StreamSpec) -> AwsResult<Stream> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("updating", COMPONENT, name, e);
    let mut current = current.clone();

    let want_on_demand = spec.shard_count.is_none();
    if current.on_demand != want_on_demand {
        wait::retry_while(is_settling, || {
            client
                .update_stream_mode()
                .stream_arn(&current.arn)
                .stream_mode_details(mode_details(want_on_demand))
                .send()
        })
        .await
        .map_err(err)?;
        current = wait_active_tagged(client, name, &current.tags).await?;
    }
    if let Some(shards) = spec.shard_count {
        while current.open_shards != shards {
            wait::retry_while(is_settling, || {
                client
                    .update_shard_count()
                    .stream_name(name)
                    .target_shard_count(next_shard_step(current.open_shards, shards))
                    .scaling_type(ScalingType::UniformScaling)
                    .send()
            })
            .await
            .map_err(err)?;
            current = wait_active_tagged(client, name, &current.tags).await?;
        }
    }
    if current.retention_hours != spec.retention_hours {
        if spec.retention_hours > current.retention_hours {
            wait::retry_while(is_settling, || {
                client
                    .increase_stream_retention_period()
                    .stream_name(name)
                    .retention_period_hours(spec.retention_hours)
                    .send()
            })
            .await
            .map_err(err)?;
        } else {
            wait::retry_while(is_settling, || {
                client
                    .decrease_stream_retention_period()
                    .stream_name(name)
                    .retention_period_hours(spec.retention_hours)
                    .send()
            })
            .await
            .map_err(err)?;
        }
        current = wait_active_tagged(client, name, &current.tags).await?;
    }
    if current.kms_key_id != spec.kms_key_id {
        if let Some(old_key) = &current.kms_key_id {
            wait::retry_while(is_settling, || {
                client
                    .stop_stream_encryption()
                    .stream_name(name)
                    .encryption_type(EncryptionType::Kms)
                    .key_id(old_key)
                    .send()
            })
            .await
            .map_err(err)?;
            current = wait_active_tagged(client, name, &current.tags).await?;
        }
        if let Some(key) = &spec.kms_key_id {
            wait::retry_while(is_settling, || {
                client
                    .start_stream_encryption()
                    .stream_name(name)
                    .encryption_type(EncryptionType::Kms)
                    .key_id(key)
                    .send()
            })
            .await
            .map_err(err)?;
            current = wait_active_tagged(client, name, &current.tags).await?;
        }
    }
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    if !remove.is_empty() {
        wait::retry_while(is_settling, || {
            client
                .remove_tags_from_stream()
                .stream_name(name)
                .set_tag_keys(Some(remove.clone()))
                .send()
        })
        .await
        .map_err(err)?;
    }
    if !set.is_empty() {
        wait::retry_while(is_settling, || {
            client
                .add_tags_to_stream()
                .stream_name(name)
                .set_tags(Some(set.clone().into_iter().collect()))
                .send()
        })
        .await
        .map_err(err)?;
    }
    // `current` is as AWS last reported it (after every change that makes the stream settle);
    // tagging changes nothing else.
    Ok(Stream {
        tags: spec.tags.clone(),
        ..current
    })
}

/// Deletes the stream (and any enhanced fan-out consumers) and waits until it is gone.
pub async fn delete(client: &Client, name: &str) -> AwsResult<()> {
    gone(
        client
            .delete_stream()
            .stream_name(name)
            .enforce_consumer_deletion(true)
            .send()
            .await
            .map(|_| ())
            .map_err(AwsError::from),
    )
    .map_err(|e| context("deleting", COMPONENT, name, e))?;
    wait_deleted(client, name).await
}

/// Waits until the stream is ACTIVE and returns it, with its tags.
pub async fn wait_active(client: &Client, name: &str) -> AwsResult<Stream> {
    let stream = wait_until_active(client, name).await?;
    let tags = found(list_tags(client, name).await)?.unwrap_or_default();
    Ok(Stream { tags, ..stream })
}

/// [`wait_active`] for a stream whose tags are known (just made with them, or read before a
/// change that does not touch them): they are not read again.
async fn wait_active_tagged(
    client: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> AwsResult<Stream> {
    let stream = wait_until_active(client, name).await?;
    Ok(Stream {
        tags: tags.clone(),
        ..stream
    })
}

/// Polls the stream's description (no tags) until it is ACTIVE.
async fn wait_until_active(client: &Client, name: &str) -> AwsResult<Stream> {
    wait::settled(
        &format!("Kinesis stream ({name})"),
        "ACTIVE",
        wait::DEFAULT_TIMEOUT,
        || async {
            Ok(match find_summary(client, name).await? {
                Some(s) if s.status == StreamStatus::Active => wait::Seen::Settled(s),
                Some(_) => wait::Seen::Settling,
                None => wait::Seen::Missing,
            })
        },
    )
    .await
}

async fn wait_deleted(client: &Client, name: &str) -> AwsResult<()> {
    wait::until(
        &format!("Kinesis stream ({name}) to be deleted"),
        wait::DEFAULT_TIMEOUT,
        || async { Ok(find_summary(client, name).await?.is_none().then_some(())) },
    )
    .await
}

/// UpdateShardCount accepts at most double and at least half the open shards per call, so a
/// larger change goes in steps.
fn next_shard_step(open: i32, target: i32) -> i32 {
    if open <= 0 {
        target
    } else if target > open {
        target.min(open * 2)
    } else {
        target.max((open + 1) / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::next_shard_step;

    #[test]
    fn shard_changes_step_within_double_and_half() {
        assert_eq!(next_shard_step(1, 4), 2);
        assert_eq!(next_shard_step(2, 4), 4);
        assert_eq!(next_shard_step(8, 1), 4);
        assert_eq!(next_shard_step(3, 1), 2);
        assert_eq!(next_shard_step(2, 1), 1);
        assert_eq!(next_shard_step(3, 5), 5);
    }
}
