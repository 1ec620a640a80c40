//! What "destroy leaves nothing" means, shared by the end-to-end tests that destroy a pipeline
//! (here, not in the test kit: the kit stays free of the service clients).

use anyhow::Result;
use testkit::Emulator;

/// Every component a pipeline makes is gone (the account's own `dms-vpc-role` aside):
/// what "destroy leaves nothing" means, for every example.
pub async fn assert_holds_nothing(emulator: &Emulator) -> Result<()> {
    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let streams = kinesis.list_streams().send().await?;
    assert!(streams.stream_names().is_empty(), "{streams:?}");
    let tables = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await?;
    assert!(tables.table_names().is_empty(), "{tables:?}");
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let functions = lambda.list_functions().send().await?;
    assert!(functions.functions().is_empty(), "{functions:?}");
    let mappings = lambda.list_event_source_mappings().send().await?;
    assert!(mappings.event_source_mappings().is_empty(), "{mappings:?}");
    let roles = aws_sdk_iam::Client::new(&sdk).list_roles().send().await?;
    assert!(
        roles
            .roles()
            .iter()
            .all(|r| r.role_name() == "dms-vpc-role"),
        "{roles:?}"
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let buckets = s3.list_buckets().send().await?;
    assert!(buckets.buckets().is_empty(), "{buckets:?}");
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let delivery = firehose.list_delivery_streams().send().await?;
    assert!(delivery.delivery_stream_names().is_empty(), "{delivery:?}");
    let dms = aws_sdk_databasemigration::Client::new(&sdk);
    // DMS answers ResourceNotFoundFault when nothing matches.
    fn none<E: aws_sdk_databasemigration::error::ProvideErrorMetadata>(e: &E) -> bool {
        e.code() == Some("ResourceNotFoundFault")
    }
    let tasks = dms.describe_replication_tasks().send().await;
    assert!(
        tasks
            .as_ref()
            .map_or_else(none, |t| t.replication_tasks().is_empty()),
        "{tasks:?}"
    );
    let endpoints = dms.describe_endpoints().send().await;
    assert!(
        endpoints
            .as_ref()
            .map_or_else(none, |e| e.endpoints().is_empty()),
        "{endpoints:?}"
    );
    let instances = dms.describe_replication_instances().send().await;
    assert!(
        instances
            .as_ref()
            .map_or_else(none, |i| i.replication_instances().is_empty()),
        "{instances:?}"
    );
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let alarms = cw.describe_alarms().send().await?;
    assert!(alarms.metric_alarms().is_empty(), "{alarms:?}");
    let dashboards = cw.list_dashboards().send().await?;
    assert!(dashboards.dashboard_entries().is_empty(), "{dashboards:?}");
    let topics = aws_sdk_sns::Client::new(&sdk).list_topics().send().await?;
    assert!(topics.topics().is_empty(), "{topics:?}");
    let groups = aws_sdk_cloudwatchlogs::Client::new(&sdk)
        .describe_log_groups()
        .send()
        .await?;
    assert!(groups.log_groups().is_empty(), "{groups:?}");
    Ok(())
}
