//! The source (DMS from MySQL) and the data lake (Firehose into S3), with the reference data,
//! end to end: `examples/complete` applied with the real Terraform CLI on a private emulator,
//! every component checked through the AWS SDK.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_databasemigration::types::{Endpoint, Filter, ReplicationTask};
use testkit::http::CountingProxy;
use testkit::terraform::{planned_actions, replace_paths};
use testkit::{repo_root, Emulator, Terraform};

use crate::common::nothing_left;

const PIPELINE: &str = "complete-orders";
const ACCOUNT: &str = "123456789012";

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder()
        .name(name)
        .values(value)
        .build()
        .expect("name and values are set")
}

/// DMS answers ResourceNotFoundFault when nothing matches.
fn not_found<E: aws_sdk_databasemigration::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundFault")
}

async fn task(dms: &aws_sdk_databasemigration::Client, id: &str) -> Result<ReplicationTask> {
    let out = dms
        .describe_replication_tasks()
        .filters(filter("replication-task-id", id))
        .send()
        .await
        .with_context(|| format!("describing task {id}"))?;
    out.replication_tasks()
        .first()
        .cloned()
        .context("no such task")
}

async fn endpoint(dms: &aws_sdk_databasemigration::Client, id: &str) -> Result<Endpoint> {
    let out = dms
        .describe_endpoints()
        .filters(filter("endpoint-id", id))
        .send()
        .await
        .with_context(|| format!("describing endpoint {id}"))?;
    out.endpoints().first().cloned().context("no such endpoint")
}

/// Polls the task until its status is `status` (the emulator settles after a short delay).
async fn task_reaches(
    dms: &aws_sdk_databasemigration::Client,
    id: &str,
    status: &str,
) -> Result<ReplicationTask> {
    for _ in 0..100 {
        let t = task(dms, id).await?;
        if t.status() == Some(status) {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("task {id} never reached {status}")
}

/// The `schema.table` pairs the selection rules of a task's table mappings include.
fn selected_tables(mappings: &str) -> BTreeSet<String> {
    let doc: serde_json::Value = serde_json::from_str(mappings).expect("mappings are JSON");
    doc["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["rule-type"] == "selection" && r["rule-action"] == "include")
        .map(|r| {
            format!(
                "{}.{}",
                r["object-locator"]["schema-name"].as_str().unwrap_or("?"),
                r["object-locator"]["table-name"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let out = s3.get_object().bucket(bucket).key(key).send().await?;
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

async fn trusted_service(iam: &aws_sdk_iam::Client, role: &str) -> Result<serde_json::Value> {
    let out = iam.get_role().role_name(role).send().await?;
    let document = out
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .context("no trust policy")?;
    let document: serde_json::Value = serde_json::from_str(&urlencoding::decode(document)?)?;
    Ok(document["Statement"][0]["Principal"]["Service"].clone())
}

/// A first apply only asks whether each component exists: what only an existing component
/// needs read (its tags, a role's inline policy) is not asked of the ones it then creates,
/// nor are a new stream's or table's tags read back while it settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_apply_reads_nothing_more_of_components_it_creates() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    // A DMS source: the account has the `dms-vpc-role` (docs/index.md).
    emulator.create_dms_vpc_role()?;
    let proxy = CountingProxy::start(&emulator.endpoint).await?;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/complete"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", proxy.endpoint()),
    )?;
    tf.init()?;
    tf.apply()?;
    let calls: Vec<String> = proxy.take_log().into_iter().map(|c| c.operation).collect();
    for read in [
        "kinesis:ListTagsForStream",
        "iam:GetRolePolicy",
        "s3:GET /{bucket}?tagging",
        "dms:ListTagsForResource",
        "dynamodb:ListTagsOfResource",
        "firehose:ListTagsForDeliveryStream",
    ] {
        let made = calls.iter().filter(|c| *c == read).count();
        assert_eq!(
            made, 0,
            "{read} made {made} time(s) by a first apply: {calls:?}"
        );
    }
    let plan = tf.plan()?;
    assert_eq!(
        plan.code, 0,
        "plan after apply must be empty:\n{}",
        plan.stdout
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_example_applies_updates_the_task_and_reference_in_place_and_destroys_cleanly(
) -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    // A DMS source: the account has the `dms-vpc-role` (docs/index.md).
    emulator.create_dms_vpc_role()?;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/complete"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    let applied = tf.apply()?;
    assert!(
        !applied.stdout.contains("emulator-only-password"),
        "the password never shows:\n{}",
        applied.stdout
    );
    for _ in 0..2 {
        let plan = tf.plan()?;
        assert_eq!(
            plan.code, 0,
            "plan after apply must be empty, twice:\n{}",
            plan.stdout
        );
    }

    let sdk = emulator.sdk_config().await;
    let dms = aws_sdk_databasemigration::Client::new(&sdk);
    let firehose = aws_sdk_firehose::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let cdc_arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{PIPELINE}-cdc");

    // The replication instance in the subnet group made from the configured subnets.
    let instances = dms
        .describe_replication_instances()
        .filters(filter(
            "replication-instance-id",
            &format!("{PIPELINE}-dms"),
        ))
        .send()
        .await?;
    let instance = &instances.replication_instances()[0];
    assert_eq!(instance.replication_instance_class(), Some("dms.t3.medium"));
    assert_eq!(instance.allocated_storage(), 50);
    assert!(!instance.publicly_accessible());
    assert_eq!(
        instance
            .replication_subnet_group()
            .and_then(|g| g.replication_subnet_group_identifier()),
        Some("complete-orders-dms")
    );

    // The MySQL source endpoint, SSL required by default; its password is never returned.
    let mysql = endpoint(&dms, &format!("{PIPELINE}-mysql")).await?;
    assert_eq!(mysql.engine_name(), Some("mysql"));
    assert_eq!(mysql.ssl_mode().map(|m| m.as_str()), Some("require"));
    let settings = mysql.my_sql_settings().context("MySQL settings")?;
    assert_eq!(settings.server_name(), Some("orders-db.internal.example"));
    assert_eq!(settings.port(), Some(3306));
    assert_eq!(settings.username(), Some("dms"));

    // The Kinesis target endpoint writes JSON with transaction details to the CDC stream,
    // through the pipeline's DMS role.
    let target = endpoint(&dms, &format!("{PIPELINE}-kinesis")).await?;
    let kinesis = target.kinesis_settings().context("Kinesis settings")?;
    assert_eq!(kinesis.stream_arn(), Some(cdc_arn.as_str()));
    assert_eq!(kinesis.message_format().map(|f| f.as_str()), Some("json"));
    assert_eq!(kinesis.include_transaction_details(), Some(true));
    assert_eq!(kinesis.include_partition_value(), Some(true));
    assert!(kinesis
        .service_access_role_arn()
        .is_some_and(|r| r.ends_with(":role/complete-orders-dms")));
    assert_eq!(
        trusted_service(&iam, "complete-orders-dms").await?,
        "dms.amazonaws.com"
    );

    // The task replicates the configured tables, and runs.
    let t = task_reaches(&dms, &format!("{PIPELINE}-cdc"), "running").await?;
    assert_eq!(
        t.migration_type().map(|m| m.as_str()),
        Some("full-load-and-cdc")
    );
    assert_eq!(
        selected_tables(t.table_mappings().unwrap_or_default()),
        set(&["orders.order", "orders.order_item"])
    );
    assert_eq!(t.source_endpoint_arn(), mysql.endpoint_arn());
    assert_eq!(t.target_endpoint_arn(), target.endpoint_arn());

    // The lake: Firehose reads the CDC stream and writes gzipped objects under date partitions.
    let lake = firehose
        .describe_delivery_stream()
        .delivery_stream_name(format!("{PIPELINE}-lake"))
        .send()
        .await?;
    let lake = lake.delivery_stream_description().context("description")?;
    assert_eq!(
        lake.source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn()),
        Some(cdc_arn.as_str())
    );
    let s3_destination = lake.destinations()[0]
        .extended_s3_destination_description()
        .context("an S3 destination")?;
    let lake_bucket = format!("{PIPELINE}-lake-{ACCOUNT}");
    assert_eq!(
        s3_destination.bucket_arn(),
        format!("arn:aws:s3:::{lake_bucket}")
    );
    assert!(s3_destination
        .prefix()
        .is_some_and(|p| p.starts_with("cdc/year=!{timestamp:yyyy}/")));
    assert!(s3_destination.error_output_prefix().is_some());
    assert_eq!(s3_destination.compression_format().as_str(), "GZIP");
    assert_eq!(
        s3_destination
            .buffering_hints()
            .and_then(|b| b.interval_in_seconds()),
        Some(60)
    );
    assert_eq!(
        trusted_service(&iam, "complete-orders-firehose").await?,
        "firehose.amazonaws.com"
    );

    // The reference data: the file's bytes, in the reference bucket.
    let reference_bucket = format!("{PIPELINE}-reference-{ACCOUNT}");
    let reference_file = tf.dir().join("reference/products.json");
    assert_eq!(
        object(&s3, &reference_bucket, "reference/products.json").await?,
        std::fs::read(&reference_file)?
    );

    // Another table: the task is stopped, modified and resumed in place.
    std::fs::write(
        tf.dir().join("tables.auto.tfvars"),
        "tables = { orders = [\"order\", \"order_item\", \"order_detail\"] }\n",
    )?;
    let change = tf.plan_json()?;
    assert_eq!(planned_actions(&change), ["update"]);
    assert!(replace_paths(&change).is_empty());
    let task_arn_before = t.replication_task_arn().map(str::to_string);
    tf.apply()?;
    let t = task_reaches(&dms, &format!("{PIPELINE}-cdc"), "running").await?;
    assert_eq!(
        selected_tables(t.table_mappings().unwrap_or_default()),
        set(&["orders.order", "orders.order_detail", "orders.order_item"])
    );
    assert_eq!(
        t.replication_task_arn().map(str::to_string),
        task_arn_before,
        "the same task, modified"
    );
    assert_eq!(tf.plan()?.code, 0);

    // A task stopped out of band shows in the plan, and the next apply resumes it.
    dms.stop_replication_task()
        .replication_task_arn(t.replication_task_arn().unwrap_or_default())
        .send()
        .await?;
    task_reaches(&dms, &format!("{PIPELINE}-cdc"), "stopped").await?;
    let drift = tf.plan()?;
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    assert!(
        drift.stdout.contains("start_replication"),
        "{}",
        drift.stdout
    );
    tf.apply()?;
    task_reaches(&dms, &format!("{PIPELINE}-cdc"), "running").await?;
    assert_eq!(tf.plan()?.code, 0);

    // A changed reference file: the object is replaced in place.
    let mut products = std::fs::read_to_string(&reference_file)?;
    products.push_str(
        "{\"productId\": 999909999, \"productName\": \"Added in place\", \"productPrice\": 1.5}\n",
    );
    std::fs::write(&reference_file, &products)?;
    let change = tf.plan_json()?;
    assert_eq!(planned_actions(&change), ["update"]);
    tf.apply()?;
    assert_eq!(
        object(&s3, &reference_bucket, "reference/products.json").await?,
        products.as_bytes()
    );
    assert_eq!(tf.plan()?.code, 0);

    // Destroy leaves nothing: no component, and not the subnet group the pipeline made.
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    let groups = dms
        .describe_replication_subnet_groups()
        .filters(filter("replication-subnet-group-id", "complete-orders-dms"))
        .send()
        .await;
    assert!(
        groups
            .as_ref()
            .map_or_else(not_found, |g| g.replication_subnet_groups().is_empty()),
        "{groups:?}"
    );
    Ok(())
}

/// Each bad `source` or `data_lake` configuration fails at plan, before anything is created,
/// with the attribute named and the fix said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_source_and_lake_input_fails_at_plan_naming_the_attribute() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::new(&emulator)?;
    let source = |body: &str| {
        format!(
            r#"source {{
    server_name = "db.example"
    username    = "dms"
    tables      = {{ orders = ["order"] }}
    {body}
  }}"#
        )
    };
    let cases = [
        (
            source("password = \"x\"\n    migration_type = \"full-load-once\""),
            "`source.migration_type` must be one of",
            "source[0].migration_type",
        ),
        (
            source(""),
            "the MySQL endpoint needs credentials: set `source.password`",
            "source[0].password",
        ),
        (
            r#"source {
    server_name    = "db.example"
    username       = "dms"
    password       = "x"
    table_mappings = "{\"rules\": [{\"rule-type\": \"selection\""
  }"#
            .to_string(),
            "`source.table_mappings` is not valid DMS table mappings: not JSON",
            "source[0].table_mappings",
        ),
        (
            r#"source {
    server_name    = "db.example"
    username       = "dms"
    password       = "x"
    table_mappings = jsonencode({ rules = [] })
  }"#
            .to_string(),
            "it needs at least one rule with `\"rule-type\": \"selection\"`",
            "source[0].table_mappings",
        ),
        (
            r#"analytics {
    engine       = "lambda"
    parent_table = "order"
    parent_key   = "orderId"
    children     = [{ table = "order_item", parent_key = "orderId", key = "itemId" }]
    lookups      = [{ name = "products", file = "reference/nope.json", from = "order_item.itemId", match = "productId" }]
    columns      = { orderId = "order.orderId", itemId = "order_item.itemId" }
  }"#
            .to_string(),
            "the reference file of lookup products cannot be read",
            "analytics.lookups",
        ),
        (
            "data_lake {\n    compression = \"BROTLI\"\n  }".to_string(),
            "`data_lake.compression` must be one of",
            "data_lake[0].compression",
        ),
        (
            "timeouts {\n    create = \"a while\"\n  }".to_string(),
            "`timeouts.create` \"a while\" is not a duration",
            "timeouts.create",
        ),
    ];
    let mut initialised = false;
    for (block, message, attribute) in cases {
        tf.write(&format!(
            r#"terraform {{
  required_providers {{
    unifiedetl = {{ source = "unifiedetl/unifiedetl" }}
  }}
}}
provider "unifiedetl" {{
  region = "us-east-1"
}}
resource "unifiedetl_pipeline" "p" {{
  name = "orders"
  sink {{
    partition_key = "orderId"
    sort_key      = "itemId"
  }}
  {block}
}}
"#
        ))?;
        if !initialised {
            tf.init()?;
            initialised = true;
        }
        let plan = tf.run(&["plan", "-no-color", "-json"])?;
        assert_eq!(
            plan.code, 1,
            "plan must fail for:\n{block}\n{}",
            plan.stdout
        );
        // Terraform's machine-readable diagnostics carry the attribute's address.
        let diagnostic = plan
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["type"] == "diagnostic" && l["diagnostic"]["severity"] == "error")
            .with_context(|| format!("no error diagnostic for {block}:\n{}", plan.stdout))?;
        let detail = diagnostic["diagnostic"]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(
            detail.contains(message),
            "expected {message:?} in {diagnostic}"
        );
        let snippet = diagnostic["diagnostic"]["snippet"]["code"]
            .as_str()
            .unwrap_or_default();
        let leaf = attribute.rsplit('.').next().unwrap_or(attribute);
        assert!(
            snippet.contains(leaf.trim_end_matches("[0]")) || detail.contains(leaf),
            "the diagnostic points at {attribute}: {diagnostic}"
        );
    }
    let sdk = emulator.sdk_config().await;
    let dms = aws_sdk_databasemigration::Client::new(&sdk);
    let endpoints = dms.describe_endpoints().send().await;
    assert!(
        endpoints
            .as_ref()
            .map_or_else(not_found, |e| e.endpoints().is_empty()),
        "nothing is created by a failing plan"
    );
    Ok(())
}
