//! The pipeline's service roles (the function's, DMS's, Firehose's, the SQL application's):
//! each one role trusted by its service, with one inline policy of the pipeline's scoped to the
//! pipeline's ARNs, brought up at apply and read back at refresh.

use std::collections::BTreeMap;

use tf_provider::value::Value;

use super::owner::{self as own, Owner};
use super::state::Str;
use super::values::some;
use crate::aws::iam::{self, RoleSpec};
use crate::aws::{account_of, partition_of, Aws, AwsResult, Expect};

/// A service's role: its name, the service's principals, its one inline policy's name.
pub struct ServiceRole<'a> {
    pub name: &'a str,
    pub services: Vec<String>,
    pub policy_name: &'a str,
}

/// A service role with one inline policy: created or brought to the spec. `policy` is given the
/// role's ARN (for the account and partition the policy's ARNs are built in).
pub async fn ensure_service_role(
    aws: &Aws,
    role: ServiceRole<'_>,
    policy: impl FnOnce(&str) -> serde_json::Value,
    ours: bool,
    owner: &Owner,
    tags: &BTreeMap<String, String>,
) -> AwsResult<String> {
    let ServiceRole {
        name,
        services,
        policy_name,
    } = role;
    let mut spec = RoleSpec {
        name: name.to_string(),
        services,
        policy_name: policy_name.to_string(),
        policy: serde_json::Value::Null,
        tags: tags.clone(),
    };
    let mut adopting = false;
    let role = match iam::find(&aws.iam, name, policy_name, Expect::from_ours(ours)).await? {
        Some(current) => {
            if !ours {
                owner.check(own::ROLE, name, &current.tags)?;
            }
            adopting = !current.tags.contains_key(crate::aws::tags::PIPELINE_TAG);
            current
        }
        None => iam::create(&aws.iam, &spec).await?,
    };
    spec.policy = policy(&role.arn);
    iam::update(&aws.iam, &role, &spec).await?;
    if adopting {
        // A role made elsewhere (named in an import): what it carried stays, said once.
        let others = iam::other_policies(&aws.iam, name, policy_name).await?;
        if !others.is_empty() {
            owner.warn(format!(
                "IAM role ({name}) was adopted with policies of its own, kept as they were: {}. The pipeline added its policy `{policy_name}`, which grants everything the pipeline needs: detach or delete the others once nothing else relies on them",
                others.join(", ")
            ));
        }
    }
    Ok(role.arn)
}

/// A service role's ARN, or null when the role is gone or lost its policy (an update then puts
/// them back). With the ARN in the state (`arn`), one call: IAM answers GetRolePolicy alike for
/// a missing role and a missing policy. Without it (an import), the role is read for its ARN.
pub async fn role_arn(aws: &Aws, name: &Str, arn: &Str, policy_name: &str) -> AwsResult<Str> {
    let Some(name) = name.as_ref_option() else {
        return Ok(Value::Null);
    };
    if arn.is_value() {
        let kept = iam::has_policy(&aws.iam, name, policy_name).await?;
        return Ok(if kept { arn.clone() } else { Value::Null });
    }
    Ok(
        match iam::find_by_name(&aws.iam, name, policy_name).await? {
            Some(r) if r.policy.is_some() && r.trust.is_some() => some(r.arn),
            _ => Value::Null,
        },
    )
}

/// The ARN of a resource of this account and region, from a role's ARN (which carries the
/// account and partition).
pub fn arn_in(aws: &Aws, role_arn: &str, service: &str, resource: &str) -> String {
    format!(
        "arn:{}:{service}:{}:{}:{resource}",
        partition_of(role_arn),
        aws.region,
        account_of(role_arn).unwrap_or_default()
    )
}
