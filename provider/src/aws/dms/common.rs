//! What the DMS resources share: their names in errors, DMS's not-found and in-use answers,
//! Describe filters, tags and the identifier rules.

use std::collections::BTreeMap;

use aws_sdk_databasemigration::types::{Filter, Tag};
use aws_sdk_databasemigration::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{AwsError, AwsResult};

/// The longest identifier DMS accepts for endpoints and tasks.
const MAX_IDENTIFIER_LEN: usize = 255;

/// The longest identifier DMS accepts for replication instances.
const MAX_INSTANCE_IDENTIFIER_LEN: usize = 63;

pub(super) const SUBNET_GROUP: &str = "DMS replication subnet group";

pub(super) const INSTANCE: &str = "DMS replication instance";

pub(super) const ENDPOINT: &str = "DMS endpoint";

pub(super) const TASK: &str = "DMS replication task";

/// DMS answers "not found" with `ResourceNotFoundFault`, also for a Describe whose filters
/// match nothing.
fn is_not_found(err: &AwsError) -> bool {
    err.code_is("ResourceNotFoundFault") || err.is_not_found()
}

/// [`crate::aws::found`] for DMS's not-found fault.
pub(super) fn found<T>(result: AwsResult<T>) -> AwsResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(err) => Err(err),
    }
}

/// [`crate::aws::gone`] for DMS's not-found fault.
pub(super) fn gone(result: AwsResult<()>) -> AwsResult<()> {
    match result {
        Err(err) if is_not_found(&err) => Ok(()),
        other => other,
    }
}

/// IAM has not propagated a freshly created role to DMS yet: DMS cannot assume it. DMS says
/// so with AccessDeniedFault (e.g. "The IAM Role ... is not configured properly"), or with a
/// parameter or state error about assuming the role.
pub(super) fn is_role_propagation(err: &AwsError) -> bool {
    if err.code_is("AccessDeniedFault") {
        return true;
    }
    let message = err.message.to_lowercase();
    matches!(
        err.code.as_deref(),
        Some(
            "InvalidParameterValueException"
                | "InvalidParameterCombinationException"
                | "InvalidResourceStateFault"
        )
    ) && (message.contains("assume")
        || message.contains("not authorized")
        || message.contains("iam role"))
}

/// DMS still counts the resource as used by one being deleted.
pub(super) fn is_in_use(err: &AwsError) -> bool {
    err.code_is("InvalidResourceStateFault")
}

/// Identifiers to look up, in order: as given, then in lowercase (AWS stores some
/// identifiers in lowercase; the emulator keeps endpoint and task identifiers as given).
pub(super) fn id_variants(id: &str) -> Vec<String> {
    let lower = id.to_lowercase();
    if lower == id {
        vec![lower]
    } else {
        vec![id.to_string(), lower]
    }
}

pub(super) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder()
        .name(name)
        .values(value)
        .build()
        .expect("name and values are set")
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(super) fn sorted(values: &[String]) -> Vec<String> {
    let mut values = values.to_vec();
    values.sort();
    values.dedup();
    values
}

pub(super) fn disappeared(verb: &str) -> AwsError {
    AwsError::other(format!("it disappeared right after it was {verb}"))
}

/// The resource's tags; none if it vanished meanwhile (the finder that asks has just seen it).
pub(super) async fn tags_of(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    Ok(found(list_tags(client, arn).await)?.unwrap_or_default())
}

async fn list_tags(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await?;
    Ok(out
        .tag_list
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect())
}

/// `None` for no tags: DMS is not asked to tag with an empty list.
pub(super) fn to_tags(tags: &BTreeMap<String, String>) -> Option<Vec<Tag>> {
    (!tags.is_empty()).then(|| {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    })
}

pub(super) async fn update_tags(
    client: &Client,
    arn: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> AwsResult<()> {
    let TagDiff { set, remove } = tag_diff(current, wanted);
    if !remove.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await?;
    }
    if !set.is_empty() {
        client
            .add_tags_to_resource()
            .resource_arn(arn)
            .set_tags(to_tags(&set))
            .send()
            .await?;
    }
    Ok(())
}

/// Checks an endpoint or task identifier: 1 to 255 ASCII letters, digits and hyphens, starting
/// with a letter, not ending with a hyphen, without two consecutive hyphens. The error quotes
/// the value and names the rule broken.
pub fn check_identifier(value: &str) -> Result<(), String> {
    check_identifier_of_length(value, MAX_IDENTIFIER_LEN)
}

/// Checks a replication instance identifier: the rules of [`check_identifier`], with at most
/// 63 characters.
pub fn check_instance_identifier(value: &str) -> Result<(), String> {
    check_identifier_of_length(value, MAX_INSTANCE_IDENTIFIER_LEN)
}

fn check_identifier_of_length(value: &str, max_len: usize) -> Result<(), String> {
    let rule = if value.is_empty() {
        "it must not be empty".to_string()
    } else if value.len() > max_len {
        format!(
            "it is {} characters long; at most {max_len} are allowed",
            value.len()
        )
    } else if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        "it must start with a letter".to_string()
    } else if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        format!("it may contain only ASCII letters, digits and hyphens, not {c:?}")
    } else if value.ends_with('-') {
        "it must not end with a hyphen".to_string()
    } else if value.contains("--") {
        "it must not contain two consecutive hyphens".to_string()
    } else {
        return Ok(());
    };
    Err(format!("`{value}` is not a valid DMS identifier: {rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_dms_rules() {
        assert!(check_identifier("orders-cdc").is_ok());
        assert!(check_instance_identifier("A1-b2").is_ok());
        let cases = [
            ("", "empty"),
            ("1orders", "start with a letter"),
            ("orders_cdc", "only ASCII letters"),
            ("orders-", "end with a hyphen"),
            ("orders--cdc", "two consecutive hyphens"),
        ];
        for (value, rule) in cases {
            let err = check_identifier(value).unwrap_err();
            assert!(err.contains(rule), "{value}: {err}");
        }
        let long = "a".repeat(64);
        assert!(check_identifier(&long).is_ok());
        let err = check_instance_identifier(&long).unwrap_err();
        assert!(err.contains("at most 63"), "{err}");
    }
}
