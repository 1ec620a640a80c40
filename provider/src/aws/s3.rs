//! S3 buckets the pipeline owns (today: the dead-letter bucket of the persist function).
//!
//! Finders, create/update/delete. Buckets are private (public access blocked) and encrypted
//! (SSE-S3) by default. Deleting a bucket that still holds objects fails unless the caller
//! allows emptying it: dead letters are records nobody has looked at yet.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging,
};
use aws_sdk_s3::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, AwsError, AwsResult, Expect};
use crate::wait;

/// What errors call this service's component.
const COMPONENT: &str = "S3 bucket";

/// The settings a bucket should have.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSpec {
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
}

/// A bucket as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

fn is_missing(err: &AwsError) -> bool {
    err.is_not_found()
        || matches!(
            err.code.as_deref(),
            Some("NoSuchBucket" | "NotFound" | "404")
        )
}

/// Describes the bucket `name` with its tags, spending calls as `expect` says; `None` if it
/// does not exist.
pub async fn find(client: &Client, name: &str, expect: Expect) -> AwsResult<Option<Bucket>> {
    let tagging = || client.get_bucket_tagging().bucket(name).send();
    let (exists, tagging) = match expect {
        // Both calls need only the name: asked at once.
        Expect::Present => tokio::join!(exists(client, name), tagging()),
        Expect::Absent => {
            if !exists(client, name).await? {
                return Ok(None);
            }
            (Ok(true), tagging().await)
        }
    };
    if !exists? {
        return Ok(None);
    }
    let tags = match tagging.map_err(AwsError::from) {
        Ok(out) => out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(e) if e.code_is("NoSuchTagSet") => BTreeMap::new(),
        Err(e) if is_missing(&e) => return Ok(None),
        Err(e) => return Err(context("reading", COMPONENT, name, e)),
    };
    Ok(Some(Bucket {
        name: name.to_string(),
        tags,
    }))
}

/// Whether the bucket `name` exists (HeadBucket): what a refresh needs of the buckets.
pub async fn exists(client: &Client, name: &str) -> AwsResult<bool> {
    match client
        .head_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(_) => Ok(true),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(context("reading", COMPONENT, name, e)),
    }
}

/// Right after CreateBucket, the bucket's sub-resources (public access block, encryption,
/// tagging) may answer NoSuchBucket for a moment; right after a bucket of the same name was
/// deleted, CreateBucket answers OperationAborted (409). Both go away by themselves.
fn is_new_bucket_settling(err: &AwsError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("NoSuchBucket" | "OperationAborted")
    )
}

/// Creates a private, encrypted bucket with its tags.
pub async fn create(client: &Client, spec: &BucketSpec) -> AwsResult<Bucket> {
    let err = |e: AwsError| context("creating", COMPONENT, &spec.name, e);
    // us-east-1 is the one region that rejects an explicit location constraint. Tagged as it
    // is made: the bucket is the pipeline's from the moment it exists, so the next apply adopts
    // it even if this one fails before its next call.
    let location = CreateBucketConfiguration::builder()
        .set_location_constraint(
            (spec.region != "us-east-1")
                .then(|| BucketLocationConstraint::from(spec.region.as_str())),
        )
        .set_tags(Some(s3_tags(&spec.tags)).filter(|t| !t.is_empty()))
        .build();
    let location = (location.location_constraint().is_some() || !location.tags().is_empty())
        .then_some(location);
    wait::retry_while(is_new_bucket_settling, || {
        client
            .create_bucket()
            .bucket(&spec.name)
            .set_create_bucket_configuration(location.clone())
            .send()
    })
    .await
    .map_err(err)?;
    let public_access_block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .block_public_policy(true)
        .ignore_public_acls(true)
        .restrict_public_buckets(true)
        .build();
    wait::retry_while(is_new_bucket_settling, || {
        client
            .put_public_access_block()
            .bucket(&spec.name)
            .public_access_block_configuration(public_access_block.clone())
            .send()
    })
    .await
    .map_err(err)?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .expect("algorithm is set"),
                )
                .build(),
        )
        .build()
        .expect("rules are set");
    wait::retry_while(is_new_bucket_settling, || {
        client
            .put_bucket_encryption()
            .bucket(&spec.name)
            .server_side_encryption_configuration(encryption.clone())
            .send()
    })
    .await
    .map_err(err)?;
    Ok(Bucket {
        name: spec.name.clone(),
        tags: spec.tags.clone(),
    })
}

fn s3_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect()
}

/// Brings the bucket's tags to `spec`.
pub async fn update(client: &Client, current: &Bucket, spec: &BucketSpec) -> AwsResult<Bucket> {
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    if !set.is_empty() || !remove.is_empty() {
        // S3 replaces the whole tag set at once.
        let tagging = Tagging::builder()
            .set_tag_set(Some(s3_tags(&spec.tags)))
            .build()
            .expect("tag set is set");
        wait::retry_while(is_new_bucket_settling, || {
            client
                .put_bucket_tagging()
                .bucket(&spec.name)
                .tagging(tagging.clone())
                .send()
        })
        .await
        .map_err(|e| context("updating", COMPONENT, &spec.name, e))?;
    }
    Ok(Bucket {
        name: spec.name.clone(),
        tags: spec.tags.clone(),
    })
}

/// Whether the bucket holds any object (a missing bucket holds none).
pub async fn holds_objects(client: &Client, name: &str) -> AwsResult<bool> {
    match client
        .list_objects_v2()
        .bucket(name)
        .max_keys(1)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(out) => Ok(!out.contents().is_empty()),
        Err(e) if is_missing(&e) => Ok(false),
        Err(e) => Err(context("reading", COMPONENT, name, e)),
    }
}

/// Deletes the bucket. With `force`, its objects go first; without, a bucket that still holds
/// objects is an error that says so, and nothing is deleted.
pub async fn delete(client: &Client, name: &str, force: bool) -> AwsResult<()> {
    let err = |e: AwsError| context("deleting", COMPONENT, name, e);
    loop {
        let listed = match client
            .list_objects_v2()
            .bucket(name)
            .send()
            .await
            .map_err(AwsError::from)
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(err(e)),
        };
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        if keys.is_empty() {
            break;
        }
        if !force {
            return Err(err(AwsError::other(format!(
                "the bucket still holds objects (at least {}): inspect them, or set `force_destroy = true` to delete them with the bucket",
                keys.len()
            ))));
        }
        for key in keys {
            client
                .delete_object()
                .bucket(name)
                .key(&key)
                .send()
                .await
                .map_err(|e| err(e.into()))?;
        }
    }
    match client
        .delete_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(_) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(err(e)),
    }
}

/// An object's content hash (base64 SHA-256 of its bytes), read by downloading it; `None` if
/// the object does not exist.
pub async fn object_hash(client: &Client, bucket: &str, key: &str) -> AwsResult<Option<String>> {
    let err = |e: AwsError| context("reading", COMPONENT, &format!("{bucket}/{key}"), e);
    let object = match client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(object) => object,
        Err(e) if is_missing(&e) || e.code_is("NoSuchKey") => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| err(AwsError::other(e.to_string())))?
        .into_bytes();
    Ok(Some(crate::artifact::content_hash(&bytes)))
}

/// The object metadata key recording the local file an object was uploaded from, so that an
/// import can give the configuration's `file` back.
const SOURCE_FILE: &str = "unifiedetl-source-file";

/// Uploads an object (private, SSE-S3), recording the local file it came from.
pub async fn put_object(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    source_file: &str,
) -> AwsResult<()> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .metadata(SOURCE_FILE, source_file)
        .content_type("application/x-ndjson")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(bytes.into())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| context("writing", COMPONENT, &format!("{bucket}/{key}"), e.into()))
}

/// The local file an object was uploaded from (see [`put_object`]); `None` when the object or
/// the record is missing.
pub async fn object_source_file(
    client: &Client,
    bucket: &str,
    key: &str,
) -> AwsResult<Option<String>> {
    match client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(head) => Ok(head.metadata().and_then(|m| m.get(SOURCE_FILE)).cloned()),
        Err(e) if is_missing(&e) || e.code_is("NoSuchKey") => Ok(None),
        Err(e) => Err(context("reading", COMPONENT, &format!("{bucket}/{key}"), e)),
    }
}

/// Deletes an object; not-found is success.
pub async fn delete_object(client: &Client, bucket: &str, key: &str) -> AwsResult<()> {
    match client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(AwsError::from)
    {
        Ok(_) => Ok(()),
        Err(e) if is_missing(&e) || e.code_is("NoSuchKey") => Ok(()),
        Err(e) => Err(context(
            "deleting",
            COMPONENT,
            &format!("{bucket}/{key}"),
            e,
        )),
    }
}
