//! The SQL engine (`analytics.engine = "kinesis-analytics-sql"`) end to end:
//! `examples/kinesis-analytics-sql` applied with the real Terraform CLI on a private emulator,
//! the application checked through the AWS SDK, updated in place and destroyed; and the
//! plan-time checks of the SQL against its mappings, each naming the attribute.

use anyhow::{Context, Result};
use aws_sdk_kinesisanalytics::types::ApplicationDetail;
use testkit::terraform::{planned_actions, replace_paths};
use testkit::{repo_root, Emulator, Terraform};

const PIPELINE: &str = "unified-orders-sql";
const APPLICATION: &str = "unified-orders-sql-analytics";
const ACCOUNT: &str = "123456789012";

async fn application(
    client: &aws_sdk_kinesisanalytics::Client,
    name: &str,
) -> Result<ApplicationDetail> {
    let out = client
        .describe_application()
        .application_name(name)
        .send()
        .await
        .with_context(|| format!("describing application {name}"))?;
    out.application_detail
        .context("DescribeApplication returned no detail")
}

/// (name, SQL type, mapping) of each input column.
fn input_columns(app: &ApplicationDetail) -> Vec<(String, String, String)> {
    app.input_descriptions()[0]
        .input_schema()
        .map(|s| {
            s.record_columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        c.sql_type().to_string(),
                        c.mapping().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn column(name: &str, sql_type: &str, mapping: &str) -> (String, String, String) {
    (name.to_string(), sql_type.to_string(), mapping.to_string())
}

/// (name, stream ARN) of each output, sorted by name.
fn outputs(app: &ApplicationDetail) -> Vec<(String, String)> {
    let mut outputs: Vec<(String, String)> = app
        .output_descriptions()
        .iter()
        .map(|o| {
            (
                o.name().unwrap_or_default().to_string(),
                o.kinesis_streams_output_description()
                    .and_then(|k| k.resource_arn())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    outputs.sort();
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_example_applies_runs_updates_in_place_and_destroys_cleanly() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/kinesis-analytics-sql"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;

    // The derived input schema is in the plan, before anything exists.
    let first = tf.run(&["plan", "-input=false", "-no-color"])?.ok()?;
    assert!(
        first.stdout.contains("\"$.metadata.table-name\"")
            && first.stdout.contains("\"$.data.itemQuantity\""),
        "the derived input columns show in the plan:\n{}",
        first.stdout
    );
    tf.apply()?;
    for _ in 0..2 {
        let plan = tf.plan()?;
        assert_eq!(
            plan.code, 0,
            "plan after apply must be empty, twice:\n{}",
            plan.stdout
        );
    }

    let sdk = emulator.sdk_config().await;
    let kda = aws_sdk_kinesisanalytics::Client::new(&sdk);
    let cdc_arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{PIPELINE}-cdc");
    let enriched_arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{PIPELINE}-enriched");

    // The application runs, reading the CDC stream with the columns derived from the DDL.
    let app = application(&kda, APPLICATION).await?;
    assert_eq!(app.application_status().as_str(), "RUNNING");
    let input = &app.input_descriptions()[0];
    assert_eq!(input.name_prefix(), Some("SOURCE_SQL_STREAM"));
    assert_eq!(
        input
            .kinesis_streams_input_description()
            .and_then(|k| k.resource_arn()),
        Some(cdc_arn.as_str())
    );
    let columns = input_columns(&app);
    for expected in [
        column("recordType", "VARCHAR(64)", "$.metadata.table-name"),
        column("operation", "VARCHAR(16)", "$.metadata.operation"),
        column("orderId", "INTEGER", "$.data.orderId"),
        column("orderAmount", "DECIMAL(6,2)", "$.data.orderAmount"),
        column("itemQuantity", "INTEGER", "$.data.itemQuantity"),
        column("billToName", "VARCHAR(45)", "$.data.billToName"),
    ] {
        assert!(columns.contains(&expected), "{expected:?} in {columns:?}");
    }
    assert_eq!(columns[0].0, "recordType");

    // The products reference table, from the uploaded file, with its inferred schema.
    let reference = &app.reference_data_source_descriptions()[0];
    assert_eq!(reference.table_name(), "products");
    let s3_source = reference
        .s3_reference_data_source_description()
        .context("an S3 reference source")?;
    assert_eq!(
        s3_source.bucket_arn(),
        format!("arn:aws:s3:::{PIPELINE}-reference-{ACCOUNT}")
    );
    assert_eq!(s3_source.file_key(), "reference/products.json");
    let reference_columns: Vec<&str> = reference
        .reference_schema()
        .map(|s| s.record_columns().iter().map(|c| c.name()).collect())
        .unwrap_or_default();
    assert_eq!(
        reference_columns,
        ["productId", "productName", "productPrice"]
    );

    // The enriched items go to the enriched stream, which the persist function reads.
    assert_eq!(
        outputs(&app),
        [(
            "ORDER_ITEM_ENRICHED_STREAM".to_string(),
            enriched_arn.clone()
        )]
    );
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let mappings = crate::common::mappings_of(&lambda, &format!("{PIPELINE}-persist")).await?;
    assert_eq!(mappings[0].event_source_arn(), Some(enriched_arn.as_str()));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role = iam
        .get_role()
        .role_name(format!("{PIPELINE}-analytics"))
        .send()
        .await?;
    let trust = urlencoding::decode(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default(),
    )?
    .to_string();
    assert!(trust.contains("kinesisanalytics.amazonaws.com"), "{trust}");

    // A change to the SQL: an in-place update through UpdateApplication, the version bumped.
    let version_before = app.application_version_id();
    let sql_path = tf.dir().join("sql/kda-orders-setup.sql");
    let sql = std::fs::read_to_string(&sql_path)?;
    let changed = format!("{sql}\n-- Tuned in place.\n");
    std::fs::write(&sql_path, &changed)?;
    let change = tf.plan_json()?;
    assert_eq!(planned_actions(&change), ["update"]);
    assert!(
        replace_paths(&change).is_empty(),
        "{:?}",
        replace_paths(&change)
    );
    tf.apply()?;
    let app = application(&kda, APPLICATION).await?;
    assert!(
        app.application_version_id() > version_before,
        "version {} after {version_before}",
        app.application_version_id()
    );
    assert_eq!(app.application_code(), Some(changed.as_str()));
    assert_eq!(app.application_status().as_str(), "RUNNING");
    assert_eq!(tf.plan()?.code, 0);

    // A second output: added in place with its own call.
    let main_tf = tf.dir().join("main.tf");
    let config = std::fs::read_to_string(&main_tf)?;
    let with_second = config.replacen(
        "    output {\n      name = \"ORDER_ITEM_ENRICHED_STREAM\"\n    }\n",
        "    output {\n      name = \"ORDER_ITEM_ENRICHED_STREAM\"\n    }\n    output {\n      name = \"ORDER_STREAM\"\n    }\n",
        1,
    );
    assert_ne!(config, with_second, "the example has the output block");
    std::fs::write(&main_tf, with_second)?;
    let change = tf.plan_json()?;
    assert_eq!(planned_actions(&change), ["update"]);
    assert!(replace_paths(&change).is_empty());
    let version_before = app.application_version_id();
    tf.apply()?;
    let app = application(&kda, APPLICATION).await?;
    assert_eq!(
        outputs(&app),
        [
            (
                "ORDER_ITEM_ENRICHED_STREAM".to_string(),
                enriched_arn.clone()
            ),
            ("ORDER_STREAM".to_string(), enriched_arn.clone()),
        ]
    );
    assert!(app.application_version_id() > version_before);
    assert_eq!(tf.plan()?.code, 0);

    // Stopped out of band: the plan shows `start`, the next apply starts it again.
    kda.stop_application()
        .application_name(APPLICATION)
        .send()
        .await?;
    for _ in 0..100 {
        if application(&kda, APPLICATION)
            .await?
            .application_status()
            .as_str()
            == "READY"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let drift = tf.plan()?;
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    assert!(drift.stdout.contains("start"), "{}", drift.stdout);
    tf.apply()?;
    assert_eq!(
        application(&kda, APPLICATION)
            .await?
            .application_status()
            .as_str(),
        "RUNNING"
    );
    assert_eq!(tf.plan()?.code, 0);

    // Deleted out of band (as AWS deleted SQL applications in January 2026): the plan shows
    // it, the apply creates it again in place.
    let created = application(&kda, APPLICATION).await?;
    kda.delete_application()
        .application_name(APPLICATION)
        .set_create_timestamp(created.create_timestamp().cloned())
        .send()
        .await?;
    for _ in 0..100 {
        if kda
            .describe_application()
            .application_name(APPLICATION)
            .send()
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let change = tf.plan_json()?;
    assert_eq!(planned_actions(&change), ["update"]);
    tf.apply()?;
    assert_eq!(
        application(&kda, APPLICATION)
            .await?
            .application_status()
            .as_str(),
        "RUNNING"
    );
    assert_eq!(tf.plan()?.code, 0);

    // Destroy leaves nothing.
    tf.destroy()?;
    let left = kda.list_applications().send().await?;
    assert!(
        left.application_summaries().is_empty(),
        "{:?}",
        left.application_summaries()
    );
    assert!(iam
        .get_role()
        .role_name(format!("{PIPELINE}-analytics"))
        .send()
        .await
        .is_err());
    let streams = aws_sdk_kinesis::Client::new(&sdk)
        .list_streams()
        .send()
        .await?;
    assert!(streams.stream_names().is_empty());
    Ok(())
}

const PROVIDER: &str = r#"
terraform {
  required_providers {
    unifiedetl = { source = "unifiedetl/unifiedetl" }
  }
}
# No endpoint here: AWS_ENDPOINT_URL from the environment points every call at the emulator.
provider "unifiedetl" {
  region = "us-east-1"
}
"#;

/// A SQL pipeline whose `analytics` block is `analytics` (the code from `sql/check.sql`).
fn sql_config(analytics: &str) -> String {
    format!(
        r#"{PROVIDER}
resource "unifiedetl_pipeline" "p" {{
  name = "checked"
  sink {{
    partition_key = "orderId"
    sort_key      = "itemId"
  }}
  analytics {{
    engine = "kinesis-analytics-sql"
    code   = file("${{path.module}}/sql/check.sql")
{analytics}
  }}
}}
"#
    )
}

const DERIVED: &str = r#"    schema_ddl = file("${path.module}/sql/orderdb-setup.sql")
    reference {
      table_name = "products"
      file       = "${path.module}/reference/products.json"
    }
    output {
      name = "ORDER_ITEM_ENRICHED_STREAM"
    }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_mistakes_fail_at_plan_naming_the_attribute() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/kinesis-analytics-sql"))?;
    // Its SQL and reference files only: the configurations below stand for its .tf files.
    for file in ["versions.tf", "variables.tf", "main.tf", "outputs.tf"] {
        std::fs::remove_file(tf.dir().join(file))?;
    }
    let good = std::fs::read_to_string(tf.dir().join("sql/kda-orders-setup.sql"))?;
    assert!(
        good.contains("\"products\""),
        "the SQL uses the reference table"
    );
    assert!(
        good.contains("\"orderId\""),
        "the SQL quotes the mixed-case columns"
    );
    let explicit = r#"    input {
      columns = [
        { name = "recordType", sql_type = "VARCHAR(64)", mapping = "$.metadata.table-name" },
        { name = "orderId", sql_type = "INTEGER", mapping = "$.data.orderId" },
        { name = "itemId", sql_type = "VARCHR(30)", mapping = "$.data[" },
      ]
    }
    output {
      name = "ORDER_ITEM_ENRICHED_STREAM"
    }"#;
    // (configuration, SQL, what the error must say)
    let cases: Vec<(String, String, Vec<&str>)> = vec![
        (
            sql_config(&DERIVED.replace("ORDER_ITEM_ENRICHED_STREAM", "ENRICHED_ITEMS")),
            good.clone(),
            vec!["analytics.output[0].name", "ENRICHED_ITEMS"],
        ),
        (
            sql_config(explicit),
            good.clone(),
            vec!["analytics.input.columns[2]", "$.data["],
        ),
        (
            sql_config(explicit),
            good.clone(),
            vec!["analytics.input.columns[2]", "VARCHR(30)"],
        ),
        (
            sql_config(DERIVED),
            good.replace("\"products\"", "\"product_catalog\""),
            vec!["analytics.reference[0].table_name", "products"],
        ),
        (
            sql_config(DERIVED),
            good.replacen(
                "WHERE \"recordType\" = 'order'",
                "WHERE \"recordtype\" = 'order'",
                1,
            ),
            vec!["analytics.code", "\"recordtype\"", "\"recordType\""],
        ),
    ];
    let mut initialised = false;
    for (config, sql, expected) in cases {
        tf.write(&config)?;
        std::fs::write(tf.dir().join("sql/check.sql"), &sql)?;
        if !initialised {
            tf.init()?;
            initialised = true;
        }
        let plan = tf.plan()?;
        assert_eq!(
            plan.code, 1,
            "plan must fail for:\n{config}\n{}",
            plan.stdout
        );
        let stderr = plan.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in expected {
            assert!(
                stderr.contains(part),
                "expected {part:?} in:\n{}",
                plan.stderr
            );
        }
        assert!(!stderr.contains("tf_provider::"), "{}", plan.stderr);
    }

    // The project's own SQL passes against the derived schema.
    tf.write(&sql_config(DERIVED))?;
    std::fs::write(tf.dir().join("sql/check.sql"), &good)?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    Ok(())
}
