//! The `monitoring` block end to end: the real Terraform CLI and the provider against a private
//! emulator, checking through the AWS SDK what CloudWatch, SNS and CloudWatch Logs hold.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_cloudwatch::types::MetricAlarm;
use testkit::{Emulator, Terraform};

use crate::common::nothing_left;

const PIPELINE: &str = r#"
terraform {
  required_providers {
    unifiedetl = { source = "unifiedetl/unifiedetl" }
  }
}
provider "unifiedetl" {
  region = "us-east-1"
}
resource "unifiedetl_pipeline" "p" {
  name = "watched"
  sink {
    partition_key  = "id"
    billing_mode   = "PROVISIONED"
    read_capacity  = 5
    write_capacity = 10
    force_destroy  = true
  }
  data_lake {
    force_destroy = true
  }
  monitoring {
    function_errors = FUNCTION_ERRORS
  }
}
output "alarms" {
  value = unifiedetl_pipeline.p.monitoring[0].alarms
}
output "topic" {
  value = unifiedetl_pipeline.p.monitoring[0].alarm_topic_arn
}
"#;

fn config(function_errors: u32) -> String {
    PIPELINE.replace("FUNCTION_ERRORS", &function_errors.to_string())
}

/// Every alarm named `watched-…`, by name.
async fn alarms(cw: &aws_sdk_cloudwatch::Client) -> Result<BTreeMap<String, MetricAlarm>> {
    let out = cw
        .describe_alarms()
        .alarm_name_prefix("watched-")
        .send()
        .await?;
    Ok(out
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap_or_default().to_string(), a.clone()))
        .collect())
}

fn dimensions(a: &MetricAlarm) -> Vec<(String, String)> {
    a.dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_alarms_a_dashboard_and_a_log_group_planned_drift_checked_and_destroyed(
) -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let tf = Terraform::new(&emulator)?;
    tf.write(&config(1))?;
    tf.init()?;
    tf.apply()?;

    // Every alarm exists with its metric, dimensions, threshold and the topic as its action.
    let topic = tf.run(&["output", "-raw", "topic"])?.ok()?.stdout;
    assert_eq!(topic, "arn:aws:sns:us-east-1:123456789012:watched-alarms");
    let outputs: serde_json::Value =
        serde_json::from_str(&tf.run(&["output", "-json", "alarms"])?.ok()?.stdout)?;
    let found = alarms(&cw).await?;
    let keys: Vec<&str> = outputs
        .as_object()
        .context("alarms output")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 17, "{keys:?}");
    assert_eq!(found.len(), 17, "{:?}", found.keys());
    for key in &keys {
        let alarm = &found[&format!("watched-{key}")];
        assert_eq!(alarm.alarm_actions(), std::slice::from_ref(&topic), "{key}");
        assert_eq!(alarm.period(), Some(60), "{key}");
        assert_eq!(
            outputs[key].as_str(),
            alarm.alarm_arn(),
            "{key}: the output names the alarm's ARN"
        );
    }
    let expect =
        |key: &str, namespace: &str, metric: &str, dims: &[(&str, &str)], threshold: f64| {
            let a = &found[&format!("watched-{key}")];
            assert_eq!(a.namespace(), Some(namespace), "{key}");
            assert_eq!(a.metric_name(), Some(metric), "{key}");
            let want: Vec<(String, String)> = dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(dimensions(a), want, "{key}");
            assert_eq!(a.threshold(), Some(threshold), "{key}");
        };
    let function = [("FunctionName", "watched-persist")];
    expect("function-errors", "AWS/Lambda", "Errors", &function, 1.0);
    expect(
        "function-throttles",
        "AWS/Lambda",
        "Throttles",
        &function,
        1.0,
    );
    // 80 % of the default 60 s timeout.
    expect(
        "function-duration",
        "AWS/Lambda",
        "Duration",
        &function,
        48_000.0,
    );
    expect(
        "function-iterator-age",
        "AWS/Lambda",
        "IteratorAge",
        &function,
        60_000.0,
    );
    expect(
        "records-dead-lettered",
        "unifiedetl",
        "RecordsDeadLettered",
        &function,
        1.0,
    );
    expect(
        "records-failed",
        "unifiedetl",
        "RecordsFailed",
        &function,
        1.0,
    );
    for stream in ["cdc", "enriched"] {
        let dims = [("StreamName", format!("watched-{stream}"))];
        let dims: Vec<(&str, &str)> = dims.iter().map(|(k, v)| (*k, v.as_str())).collect();
        expect(
            &format!("{stream}-iterator-age"),
            "AWS/Kinesis",
            "GetRecords.IteratorAgeMilliseconds",
            &dims,
            60_000.0,
        );
        expect(
            &format!("{stream}-read-throughput-exceeded"),
            "AWS/Kinesis",
            "ReadProvisionedThroughputExceeded",
            &dims,
            1.0,
        );
        expect(
            &format!("{stream}-write-throughput-exceeded"),
            "AWS/Kinesis",
            "WriteProvisionedThroughputExceeded",
            &dims,
            1.0,
        );
    }
    let table = [("TableName", "watched-sink")];
    expect(
        "sink-read-throttles",
        "AWS/DynamoDB",
        "ReadThrottleEvents",
        &table,
        1.0,
    );
    expect(
        "sink-write-throttles",
        "AWS/DynamoDB",
        "WriteThrottleEvents",
        &table,
        1.0,
    );
    // 80 % of the provisioned units over a minute.
    expect(
        "sink-read-capacity",
        "AWS/DynamoDB",
        "ConsumedReadCapacityUnits",
        &table,
        240.0,
    );
    expect(
        "sink-write-capacity",
        "AWS/DynamoDB",
        "ConsumedWriteCapacityUnits",
        &table,
        480.0,
    );
    expect(
        "lake-freshness",
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        &[("DeliveryStreamName", "watched-lake")],
        900.0,
    );

    // The topic, the dashboard naming every component, the log group with its retention.
    let attributes = sns.get_topic_attributes().topic_arn(&topic).send().await?;
    assert!(attributes.attributes().is_some());
    let dashboard = cw.get_dashboard().dashboard_name("watched").send().await?;
    let body = dashboard.dashboard_body().unwrap_or_default();
    for component in [
        "watched-cdc",
        "watched-enriched",
        "watched-persist",
        "watched-sink",
        "watched-lake",
    ] {
        assert!(
            body.contains(component),
            "{component} not on the dashboard: {body}"
        );
    }
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/watched-persist")
        .send()
        .await?;
    let group = groups
        .log_groups()
        .first()
        .context("the function's log group")?;
    assert_eq!(group.retention_in_days(), Some(30));

    // The function logs JSON at INFO (the block's defaults).
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let logging = |lambda: aws_sdk_lambda::Client| async move {
        let config = lambda
            .get_function_configuration()
            .function_name("watched-persist")
            .send()
            .await?;
        let l = config.logging_config().context("LoggingConfig")?;
        Ok::<_, anyhow::Error>((
            l.log_format().map(|f| f.as_str().to_string()),
            l.application_log_level().map(|a| a.as_str().to_string()),
        ))
    };
    assert_eq!(
        logging(lambda.clone()).await?,
        (Some("JSON".into()), Some("INFO".into()))
    );

    let plan = tf.plan()?;
    assert_eq!(plan.code, 0, "a second plan is empty:\n{}", plan.stdout);

    // Changed out of band: a threshold shows on its attribute, a deleted dashboard as its ARN.
    let errors = &found["watched-function-errors"];
    cw.put_metric_alarm()
        .alarm_name("watched-function-errors")
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .set_dimensions(Some(errors.dimensions().to_vec()))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .datapoints_to_alarm(1)
        .threshold(5.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .treat_missing_data("notBreaching")
        .alarm_actions(&topic)
        .alarm_description(errors.alarm_description().unwrap_or_default())
        .send()
        .await?;
    cw.delete_dashboards()
        .dashboard_names("watched")
        .send()
        .await?;
    lambda
        .update_function_configuration()
        .function_name("watched-persist")
        .logging_config(
            aws_sdk_lambda::types::LoggingConfig::builder()
                .log_format(aws_sdk_lambda::types::LogFormat::Json)
                .application_log_level(aws_sdk_lambda::types::ApplicationLogLevel::Warn)
                .build(),
        )
        .send()
        .await?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("~ function_errors") && plan.stdout.contains("5 -> 1"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("dashboard_arn"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("~ log_level") && plan.stdout.contains("\"WARN\" -> \"INFO\""),
        "{}",
        plan.stdout
    );
    tf.apply()?;
    assert_eq!(
        logging(lambda.clone()).await?,
        (Some("JSON".into()), Some("INFO".into()))
    );
    assert_eq!(
        alarms(&cw).await?["watched-function-errors"].threshold(),
        Some(1.0)
    );
    let plan = tf.plan()?;
    assert_eq!(plan.code, 0, "after the apply, no drift:\n{}", plan.stdout);

    // A threshold changed in the configuration is an update of that alarm alone.
    tf.write(&config(3))?;
    tf.apply()?;
    assert_eq!(
        alarms(&cw).await?["watched-function-errors"].threshold(),
        Some(3.0)
    );

    // Destroy removes all of it.
    tf.destroy()?;
    assert!(alarms(&cw).await?.is_empty());
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}
