//! CloudWatch: the `monitoring` block's metric alarms and dashboard.
//!
//! Finders, put and delete for alarms (read and deleted in batches of up to 100 names, as
//! DescribeAlarms and DeleteAlarms allow) and for one dashboard. PutMetricAlarm creates or
//! replaces an alarm whole, but ignores `Tags` for an alarm that exists: tags of existing
//! alarms change through TagResource and UntagResource.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use aws_sdk_cloudwatch::Client;

use crate::aws::tags::tag_diff;
use crate::aws::{context, AwsError, AwsResult};

const ALARM: &str = "CloudWatch alarm";
const DASHBOARD: &str = "CloudWatch dashboard";
/// DescribeAlarms and DeleteAlarms take at most this many names.
const BATCH: usize = 100;

/// An alarm on one metric, as the pipeline makes it and as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub metric: String,
    /// `(name, value)`, sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Maximum`, `Average`, …
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: i32,
    pub threshold: f64,
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`, …
    pub comparison: String,
    pub treat_missing_data: String,
    pub actions: Vec<String>,
}

/// An alarm as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub arn: String,
    pub spec: AlarmSpec,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// The alarms of `names` that exist, by name (one DescribeAlarms per 100 names).
pub async fn find_alarms(client: &Client, names: &[String]) -> AwsResult<BTreeMap<String, Alarm>> {
    let mut found = BTreeMap::new();
    for chunk in names.chunks(BATCH) {
        let mut next: Option<String> = None;
        loop {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(next.clone())
                .max_records(BATCH as i32)
                .send()
                .await
                .map_err(|e| context("reading", ALARM, &chunk.join(", "), e.into()))?;
            for a in out.metric_alarms() {
                let mut dimensions: Vec<(String, String)> = a
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (
                            d.name().unwrap_or_default().to_string(),
                            d.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                dimensions.sort();
                let name = a.alarm_name().unwrap_or_default().to_string();
                let spec = AlarmSpec {
                    name: name.clone(),
                    description: a.alarm_description().unwrap_or_default().to_string(),
                    namespace: a.namespace().unwrap_or_default().to_string(),
                    metric: a.metric_name().unwrap_or_default().to_string(),
                    dimensions,
                    statistic: a
                        .statistic()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    period: a.period().unwrap_or_default(),
                    evaluation_periods: a.evaluation_periods().unwrap_or_default(),
                    datapoints_to_alarm: a
                        .datapoints_to_alarm()
                        .or(a.evaluation_periods())
                        .unwrap_or_default(),
                    threshold: a.threshold().unwrap_or_default(),
                    comparison: a
                        .comparison_operator()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                    treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
                    actions: a.alarm_actions().to_vec(),
                };
                let alarm = Alarm {
                    arn: a.alarm_arn().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    spec,
                };
                found.insert(name, alarm);
            }
            next = out.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// The names of the alarms whose names start with `prefix`.
pub async fn alarm_names_with_prefix(client: &Client, prefix: &str) -> AwsResult<Vec<String>> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .set_next_token(next.clone())
            .max_records(BATCH as i32)
            .send()
            .await
            .map_err(|e| context("listing", ALARM, &format!("{prefix}*"), e.into()))?;
        names.extend(
            out.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_string)),
        );
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(names);
        }
    }
}

/// Creates the alarm, or replaces an existing one's settings (its tags are then left alone:
/// see [`retag_alarm`]).
pub async fn put_alarm(
    client: &Client,
    spec: &AlarmSpec,
    tags: &BTreeMap<String, String>,
) -> AwsResult<()> {
    let dimensions = spec
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    client
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .alarm_description(&spec.description)
        .namespace(&spec.namespace)
        .metric_name(&spec.metric)
        .set_dimensions(Some(dimensions))
        .statistic(Statistic::from(spec.statistic.as_str()))
        .period(spec.period)
        .evaluation_periods(spec.evaluation_periods)
        .datapoints_to_alarm(spec.datapoints_to_alarm)
        .threshold(spec.threshold)
        .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
        .treat_missing_data(&spec.treat_missing_data)
        .set_alarm_actions(Some(spec.actions.clone()))
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .map_err(|e| context("putting", ALARM, &spec.name, e.into()))?;
    Ok(())
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The alarm's tags.
pub async fn alarm_tags(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| context("reading the tags of", ALARM, arn, e.into()))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Brings an existing alarm's tags from `current` to `wanted`.
pub async fn retag_alarm(
    client: &Client,
    arn: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> AwsResult<()> {
    let diff = tag_diff(current, wanted);
    if !diff.remove.is_empty() {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(diff.remove))
            .send()
            .await
            .map_err(|e| context("untagging", ALARM, arn, e.into()))?;
    }
    if !diff.set.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(to_tags(&diff.set)))
            .send()
            .await
            .map_err(|e| context("tagging", ALARM, arn, e.into()))?;
    }
    Ok(())
}

/// Deletes the alarms named (those already gone are not an error: DeleteAlarms of a missing
/// name is refused as a whole, so the names are read first).
pub async fn delete_alarms(client: &Client, names: &[String]) -> AwsResult<()> {
    let existing: Vec<String> = find_alarms(client, names).await?.into_keys().collect();
    for chunk in existing.chunks(BATCH) {
        client
            .delete_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| context("deleting", ALARM, &chunk.join(", "), e.into()))?;
    }
    Ok(())
}

/// A dashboard as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub arn: String,
    pub body: String,
}

/// The dashboard named `name`; `None` if there is none.
pub async fn find_dashboard(client: &Client, name: &str) -> AwsResult<Option<Dashboard>> {
    match client.get_dashboard().dashboard_name(name).send().await {
        Ok(out) => Ok(Some(Dashboard {
            arn: out.dashboard_arn().unwrap_or_default().to_string(),
            body: out.dashboard_body().unwrap_or_default().to_string(),
        })),
        Err(e) => {
            let e = AwsError::from(e);
            if is_not_found(&e) {
                Ok(None)
            } else {
                Err(context("reading", DASHBOARD, name, e))
            }
        }
    }
}

/// CloudWatch's not-found codes (`ResourceNotFound`, and `DashboardNotFoundError` of the
/// query protocol's days).
fn is_not_found(e: &AwsError) -> bool {
    e.code_is("ResourceNotFound") || e.code_is("DashboardNotFoundError") || e.is_not_found()
}

/// Creates or replaces the dashboard.
pub async fn put_dashboard(client: &Client, name: &str, body: &str) -> AwsResult<()> {
    let out = client
        .put_dashboard()
        .dashboard_name(name)
        .dashboard_body(body)
        .send()
        .await
        .map_err(|e| context("putting", DASHBOARD, name, e.into()))?;
    // A body AWS accepted with complaints (an unknown metric, say) is still a dashboard.
    let _ = out.dashboard_validation_messages();
    Ok(())
}

/// Deletes the dashboard; one already gone is not an error.
pub async fn delete_dashboard(client: &Client, name: &str) -> AwsResult<()> {
    match client
        .delete_dashboards()
        .dashboard_names(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from(e);
            if is_not_found(&e) {
                Ok(())
            } else {
                Err(context("deleting", DASHBOARD, name, e))
            }
        }
    }
}
