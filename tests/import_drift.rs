//! Import and drift end to end, with the real Terraform CLI on a private emulator: a pipeline
//! imported by its name plans clean with the configuration that made it, `-generate-config-out`
//! writes configuration that validates and plans clean, an ID that matches nothing says what was
//! looked for, a sample-built pipeline is imported by a component map (its deleted SQL
//! application shown as to be created), and settings changed out of band show in the plan on
//! exactly their attributes.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde_json::Value;
use testkit::{repo_root, Emulator, Terraform};

use crate::common::plan_diff::changed_paths;

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The first resource change of a plan.
fn change_of(plan: &Value) -> &Value {
    &plan["resource_changes"][0]["change"]
}

/// A working directory on `emulator` holding `examples/quickstart`.
fn quickstart(emulator: &Emulator) -> Result<Terraform> {
    Terraform::example(emulator, "quickstart")
}

/// Deletes a table out of band as a person would have to: DynamoDB refuses while its deletion
/// protection is on, so that goes first.
async fn delete_protected_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let refused = dynamodb.delete_table().table_name(name).send().await;
    let code = refused
        .err()
        .and_then(|e| e.into_service_error().meta().code().map(str::to_string));
    assert_eq!(
        code.as_deref(),
        Some("ValidationException"),
        "{name} is protected"
    );
    dynamodb
        .update_table()
        .table_name(name)
        .deletion_protection_enabled(false)
        .send()
        .await?;
    // The table settles through UPDATING first.
    for _ in 0..100 {
        match dynamodb.delete_table().table_name(name).send().await {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error().and_then(|e| e.meta().code())
                    == Some("ResourceInUseException") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("{name} stayed in use")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_by_name_plans_clean_then_drift_shows_on_its_attributes() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let made = quickstart(&emulator)?;
    made.apply()?;
    assert_eq!(made.plan()?.code, 0);

    // Another working directory with the same configuration and no state: import by name.
    let tf = quickstart(&emulator)?;
    let imported = tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        "unified-orders",
    ])?;
    assert_eq!(imported.code, 0, "{}\n{}", imported.stdout, imported.stderr);
    // Only what AWS cannot return differs: `force_destroy` lives in Terraform alone (imported
    // as `false`; the quickstart sets `true` on its lake and sink), so the first apply records it.
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&["data_lake.0.force_destroy", "sink.force_destroy"]),
        "{:#}",
        change_of(&plan)
    );
    tf.apply()?;
    assert_eq!(
        tf.plan()?.code,
        0,
        "the plan after the first apply is empty"
    );
    // And stays empty.
    assert_eq!(tf.plan()?.code, 0);

    // Settings changed out of band show on exactly their attributes.
    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    kinesis
        .update_shard_count()
        .stream_name("unified-orders-cdc")
        .target_shard_count(4)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamodb
        .update_table()
        .table_name("unified-orders-sink")
        .provisioned_throughput(
            aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                .read_capacity_units(300)
                .write_capacity_units(1000)
                .build()?,
        )
        .send()
        .await?;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let mappings = crate::common::mappings_of(&lambda, "unified-orders-persist").await?;
    let uuid = mappings[0].uuid().context("a mapping")?.to_string();
    // The mapping pointed at the function's `$LATEST` (its unqualified name), as a console
    // edit of the trigger does.
    lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .batch_size(50)
        .function_name("unified-orders-persist")
        .send()
        .await?;
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&[
            "cdc_stream.shard_count",
            "persist.batch_size",
            "persist.function_version",
            "sink.write_capacity"
        ]),
        "{:#}",
        change_of(&plan)
    );
    let version = |v: &serde_json::Value| v["persist"]["function_version"].clone();
    assert_eq!(
        version(&change_of(&plan)["before"]),
        serde_json::Value::Null
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);
    let mappings = crate::common::mappings_of(&lambda, "unified-orders-persist").await?;
    assert_eq!(mappings[0].uuid(), Some(uuid.as_str()), "the same mapping");
    assert!(
        mappings[0]
            .function_arn()
            .is_some_and(|arn| arn.ends_with(":function:unified-orders-persist:1")),
        "the mapping invokes the published version again: {:?}",
        mappings[0]
    );

    // Components deleted out of band are recreated in place by the next apply (the tables
    // once their deletion protection is turned off: that is what it is for).
    delete_protected_table(&dynamodb, "unified-orders-state").await?;
    lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await?;
    let plan = tf.plan_json()?;
    assert_eq!(
        plan["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["update"])
    );
    let paths = changed_paths(change_of(&plan));
    assert!(
        paths.contains("analytics.state_table_arn")
            && paths.contains("persist.event_source_mapping_id"),
        "{paths:?}"
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);

    // One component at a time, deleted out of band: the plan shows it, the apply brings it
    // back in place, the plan after is empty.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    for component in [
        "sink table",
        "enriched stream",
        "persist function",
        "persist role",
        "reference object",
        "lake delivery stream",
    ] {
        match component {
            "sink table" => {
                delete_protected_table(&dynamodb, "unified-orders-sink").await?;
            }
            "enriched stream" => {
                kinesis
                    .delete_stream()
                    .stream_name("unified-orders-enriched")
                    .send()
                    .await?;
            }
            "persist function" => {
                lambda
                    .delete_function()
                    .function_name("unified-orders-persist")
                    .send()
                    .await?;
            }
            "persist role" => {
                iam.delete_role_policy()
                    .role_name("unified-orders-persist")
                    .policy_name("unifiedetl-persist")
                    .send()
                    .await?;
                iam.delete_role()
                    .role_name("unified-orders-persist")
                    .send()
                    .await?;
            }
            "reference object" => {
                s3.delete_object()
                    .bucket("unified-orders-reference-123456789012")
                    .key("reference/products.json")
                    .send()
                    .await?;
            }
            _ => {
                firehose
                    .delete_delivery_stream()
                    .delivery_stream_name("unified-orders-lake")
                    .send()
                    .await?;
                for _ in 0..100 {
                    let gone = firehose
                        .describe_delivery_stream()
                        .delivery_stream_name("unified-orders-lake")
                        .send()
                        .await
                        .is_err();
                    if gone {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        let plan = tf.plan_json()?;
        assert_eq!(
            plan["resource_changes"][0]["change"]["actions"],
            serde_json::json!(["update"]),
            "{component} deleted out of band: an in-place update, {:?}",
            changed_paths(change_of(&plan))
        );
        tf.apply()
            .with_context(|| format!("recreating the {component}"))?;
        let after = tf.plan()?;
        assert_eq!(after.code, 0, "{component}: {}", after.stdout);
    }
    tf.destroy()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_configuration_validates_and_plans_clean() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let made = quickstart(&emulator)?;
    made.apply()?;

    // An import block and nothing else: Terraform writes the configuration.
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/quickstart"))?;
    // The outputs name the resource the import is to write.
    std::fs::remove_file(tf.dir().join("outputs.tf"))?;
    let main_tf = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    let provider_only = main_tf
        .split("resource \"unifiedetl_pipeline\"")
        .next()
        .context("the quickstart's provider part")?
        .to_string();
    tf.write(&format!(
        "{provider_only}\nimport {{\n  to = unifiedetl_pipeline.orders\n  id = \"unified-orders\"\n}}\n"
    ))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    let generated = tf.run(&[
        "plan",
        "-input=false",
        "-no-color",
        "-generate-config-out=generated.tf",
    ])?;
    assert_eq!(
        generated.code, 0,
        "{}\n{}",
        generated.stdout, generated.stderr
    );
    let config = std::fs::read_to_string(tf.dir().join("generated.tf"))?;
    assert!(
        config.contains("resource \"unifiedetl_pipeline\" \"orders\""),
        "{config}"
    );
    tf.run(&["validate", "-no-color"])?.ok()?;
    let plan = tf.plan_json()?;
    assert_eq!(
        plan["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["no-op"]),
        "the import is the plan's only change:\n{config}\n{:#}",
        change_of(&plan)
    );
    assert!(
        plan["resource_changes"][0]["change"]["importing"].is_object(),
        "{plan:#}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_that_matches_nothing_says_what_was_looked_for() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = quickstart(&emulator)?;
    let run = tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        "nothing-here",
    ])?;
    assert_eq!(run.code, 1);
    let stderr = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "no pipeline \"nothing-here\" to import",
        "Kinesis stream \"nothing-here-cdc\"",
        "DynamoDB table \"nothing-here-sink\"",
        "component map",
    ] {
        assert!(stderr.contains(part), "{part:?} in:\n{}", run.stderr);
    }
    let run = tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        "name=orders,stream=x",
    ])?;
    assert_eq!(run.code, 1);
    let stderr = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        stderr.contains("unknown component `stream`"),
        "{}",
        run.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_with_dms_differs_only_in_what_aws_cannot_return() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    // A DMS source: the account has the `dms-vpc-role` (docs/index.md).
    emulator.create_dms_vpc_role()?;
    let complete = |emulator: &Emulator| Terraform::example(emulator, "complete");
    complete(&emulator)?.apply()?;
    let tf = complete(&emulator)?;
    tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        "complete-orders",
    ])?
    .ok()?;
    // The DMS password is never returned by AWS, and timeouts live in Terraform alone: the
    // first apply sets the password again (an in-place endpoint update) and records them.
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&["source.0.password", "timeouts.create", "timeouts.delete"]),
        "{:#}",
        change_of(&plan)
    );
    let shown = tf.plan()?;
    assert!(
        !shown.stdout.contains("emulator-only-password"),
        "{}",
        shown.stdout
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);

    // The task's table mappings changed out of band (stopped, modified, resumed): the plan
    // shows exactly the mappings.
    let dms = aws_sdk_databasemigration::Client::new(&emulator.sdk_config().await);
    let task_arn = tf
        .run(&["output", "-raw", "replication_task_arn"])?
        .ok()?
        .stdout;
    let reach = |wanted: &'static str| {
        let (dms, arn) = (dms.clone(), task_arn.clone());
        async move {
            for _ in 0..100 {
                let out = dms
                    .describe_replication_tasks()
                    .filters(
                        aws_sdk_databasemigration::types::Filter::builder()
                            .name("replication-task-arn")
                            .values(arn.clone())
                            .build()?,
                    )
                    .send()
                    .await?;
                if out.replication_tasks()[0].status() == Some(wanted) {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            anyhow::bail!("the task never reached {wanted}")
        }
    };
    dms.stop_replication_task()
        .replication_task_arn(&task_arn)
        .send()
        .await?;
    reach("stopped").await?;
    let only_orders = r#"{"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"include-orders-order","object-locator":{"schema-name":"orders","table-name":"order"},"rule-action":"include"}]}"#;
    dms.modify_replication_task()
        .replication_task_arn(&task_arn)
        .table_mappings(only_orders)
        .send()
        .await?;
    reach("stopped").await?;
    dms.start_replication_task()
        .replication_task_arn(&task_arn)
        .start_replication_task_type(
            aws_sdk_databasemigration::types::StartReplicationTaskTypeValue::ResumeProcessing,
        )
        .send()
        .await?;
    reach("running").await?;
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&["source.0.table_mappings"]),
        "{:#}",
        change_of(&plan)
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    Ok(())
}

/// The AWS sample's names, as its CDK stack and console steps made them.
const SAMPLE_ID: &str = "name=unified-orders,cdc_stream=unifiedOrderStream,enriched_stream=unifiedOrderEnrichedStream,sink=UnifiedOrderEnriched,application=UnifiedKDA-OrderETL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_built_pipeline_is_imported_by_component_map() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let sdk = emulator.sdk_config().await;
    // Made out of band under the sample's names, without the pipeline's tag; its SQL
    // application is gone (AWS deleted them in January 2026).
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    for stream in ["unifiedOrderStream", "unifiedOrderEnrichedStream"] {
        kinesis
            .create_stream()
            .stream_name(stream)
            .shard_count(2)
            .send()
            .await?;
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, KeyType, ProvisionedThroughput, ScalarAttributeType,
    };
    dynamodb
        .create_table()
        .table_name("UnifiedOrderEnriched")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("orderId")
                .attribute_type(ScalarAttributeType::N)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("itemId")
                .attribute_type(ScalarAttributeType::N)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("orderId")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("itemId")
                .key_type(KeyType::Range)
                .build()?,
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(300)
                .write_capacity_units(3000)
                .build()?,
        )
        .send()
        .await?;

    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/kinesis-analytics-sql"))?;
    let config = std::fs::read_to_string(tf.dir().join("main.tf"))?
        .replace(
            "name = \"unified-orders-sql\"",
            "name = \"unified-orders\"",
        )
        .replace(
            "  cdc_stream {\n    shard_count = 2\n  }",
            "  cdc_stream {\n    name            = \"unifiedOrderStream\"\n    shard_count     = 2\n    encryption_type = \"NONE\"\n  }",
        )
        .replace(
            "  enriched_stream {\n    shard_count = 2\n  }",
            "  enriched_stream {\n    name            = \"unifiedOrderEnrichedStream\"\n    shard_count     = 2\n    encryption_type = \"NONE\"\n  }",
        )
        .replace(
            "  sink {\n",
            "  sink {\n    name                   = \"UnifiedOrderEnriched\"\n    server_side_encryption = false\n",
        )
        .replace(
            "    engine      = \"kinesis-analytics-sql\"\n",
            "    engine           = \"kinesis-analytics-sql\"\n    application_name = \"UnifiedKDA-OrderETL\"\n",
        );
    assert!(
        config.contains("unifiedOrderEnrichedStream") && config.contains("UnifiedKDA-OrderETL")
    );
    tf.write(&config)?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        SAMPLE_ID,
    ])?
    .ok()?;

    // Streams and table adopted with their settings as configured; what the sample does not
    // have (the pipeline tag, the persist function, the SQL application, the sink's
    // protection) is to be made, in place.
    let plan = tf.plan_json()?;
    assert_eq!(
        plan["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["update"])
    );
    let paths = changed_paths(change_of(&plan));
    let settings: Vec<&String> = paths
        .iter()
        .filter(|p| {
            ["cdc_stream.", "enriched_stream.", "sink."]
                .iter()
                .any(|b| p.starts_with(b))
        })
        .filter(|p| {
            !["sink.point_in_time_recovery", "sink.deletion_protection"].contains(&p.as_str())
        })
        .collect();
    assert!(settings.is_empty(), "imported as configured: {settings:?}");
    for expected in [
        "analytics.application_arn",
        "persist.function_arn",
        "tags_all.unifiedetl:pipeline",
        "sink.point_in_time_recovery",
        "sink.deletion_protection",
    ] {
        assert!(paths.contains(expected), "{expected} in {paths:?}");
    }
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);
    let app = aws_sdk_kinesisanalytics::Client::new(&sdk)
        .describe_application()
        .application_name("UnifiedKDA-OrderETL")
        .send()
        .await?;
    assert_eq!(
        app.application_detail()
            .map(|d| d.application_status().as_str()),
        Some("RUNNING")
    );
    tf.destroy()?;
    Ok(())
}
