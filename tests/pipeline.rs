//! `unifiedetl_pipeline` end to end: the real Terraform CLI and the provider against a private
//! emulator per test, checking what was built through the AWS SDK.

use anyhow::{ensure, Result};
use aws_sdk_kinesis::types::StreamMode;
use testkit::http::CountingProxy;
use testkit::terraform::{bundled_zip, bundled_zip_for, planned_actions, replace_paths};
use testkit::{Emulator, Terraform};

use crate::common::nothing_left;

const PROVIDER: &str = r#"
terraform {
  required_providers {
    unifiedetl = { source = "unifiedetl/unifiedetl" }
  }
}
# No endpoint here: AWS_ENDPOINT_URL from the environment points every call at the emulator.
provider "unifiedetl" {
  region = "us-east-1"
  default_tags {
    tags = { owner = "e2e" }
  }
}
"#;

struct Knobs {
    cdc_shards: u32,
    write_capacity: u32,
    sort_key: &'static str,
    memory_size: u32,
}

fn config(k: &Knobs) -> String {
    format!(
        r#"{PROVIDER}
resource "unifiedetl_pipeline" "orders" {{
  name = "orders"
  tags = {{ team = "data" }}

  cdc_stream {{
    shard_count     = {cdc_shards}
    retention_hours = 48
  }}
  enriched_stream {{
    stream_mode = "ON_DEMAND"
  }}
  sink {{
    partition_key      = "orderId"
    partition_key_type = "N"
    sort_key           = "{sort_key}"
    sort_key_type      = "N"
    billing_mode       = "PROVISIONED"
    read_capacity      = 5
    write_capacity     = {write_capacity}
  }}
  persist {{
    memory_size            = {memory_size}
    batch_size             = 500
    parallelization_factor = 5
    maximum_retry_attempts = 10
  }}
}}
"#,
        cdc_shards = k.cdc_shards,
        write_capacity = k.write_capacity,
        sort_key = k.sort_key,
        memory_size = k.memory_size,
    )
}

fn base64_sha256(path: &std::path::Path) -> Result<String> {
    use std::process::Command;
    // Same digest the provider computes, from an independent implementation (coreutils).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sha256sum '{}' | cut -d' ' -f1 | xxd -r -p | base64",
            path.display()
        ))
        .output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_lifecycle_apply_plan_update_replace_drift_destroy() -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);

    let tf = Terraform::new(&emulator)?;
    let mut knobs = Knobs {
        cdc_shards: 2,
        write_capacity: 10,
        sort_key: "itemId",
        memory_size: 512,
    };
    tf.write(&config(&knobs))?;
    tf.init()?;
    ensure!(tf
        .dir()
        .join(".terraform/providers/registry.terraform.io/unifiedetl/unifiedetl")
        .exists());
    tf.apply()?;

    // Every component exists with the configured settings.
    let cdc = kinesis
        .describe_stream_summary()
        .stream_name("orders-cdc")
        .send()
        .await?;
    let cdc = cdc.stream_description_summary().unwrap();
    assert_eq!(cdc.open_shard_count(), 2);
    assert_eq!(cdc.retention_period_hours(), 48);
    assert_eq!(cdc.encryption_type().map(|e| e.as_str()), Some("KMS"));
    assert_eq!(cdc.key_id(), Some("alias/aws/kinesis"));
    let enriched = kinesis
        .describe_stream_summary()
        .stream_name("orders-enriched")
        .send()
        .await?;
    let enriched = enriched.stream_description_summary().unwrap();
    assert_eq!(
        enriched
            .stream_mode_details()
            .map(|d| d.stream_mode().clone()),
        Some(StreamMode::OnDemand)
    );
    let tags = kinesis
        .list_tags_for_stream()
        .stream_name("orders-cdc")
        .send()
        .await?;
    let tag = |k: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == k)
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("unifiedetl:pipeline").as_deref(), Some("orders"));
    assert_eq!(tag("team").as_deref(), Some("data"));
    assert_eq!(
        tag("owner").as_deref(),
        Some("e2e"),
        "provider default_tags reach every component"
    );

    let table = dynamodb
        .describe_table()
        .table_name("orders-sink")
        .send()
        .await?;
    let table = table.table().unwrap();
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, vec![("orderId", "HASH"), ("itemId", "RANGE")]);
    let throughput = table.provisioned_throughput().unwrap();
    assert_eq!(
        (
            throughput.read_capacity_units(),
            throughput.write_capacity_units()
        ),
        (Some(5), Some(10))
    );
    assert_eq!(
        table
            .sse_description()
            .and_then(|s| s.status())
            .map(|s| s.as_str()),
        Some("ENABLED")
    );

    let function = lambda
        .get_function()
        .function_name("orders-persist")
        .send()
        .await?;
    let fc = function.configuration().unwrap();
    assert_eq!(fc.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(
        fc.architectures()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        vec!["arm64"]
    );
    assert_eq!(fc.memory_size(), Some(512));
    assert_eq!(
        fc.code_sha256(),
        Some(base64_sha256(&bundled_zip())?.as_str()),
        "the bundled package is deployed"
    );
    let env = fc
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        env.get("SINK_TABLE").map(String::as_str),
        Some("orders-sink")
    );
    assert_eq!(
        env.get("SINK_PARTITION_KEY").map(String::as_str),
        Some("orderId:N")
    );
    assert_eq!(
        env.get("SINK_SORT_KEY").map(String::as_str),
        Some("itemId:N")
    );

    let role = iam.get_role().role_name("orders-persist").send().await?;
    let trust = urlencoding::decode(role.role().unwrap().assume_role_policy_document().unwrap())?
        .into_owned();
    assert!(trust.contains("lambda.amazonaws.com"), "{trust}");
    let policy = iam
        .get_role_policy()
        .role_name("orders-persist")
        .policy_name("unifiedetl-persist")
        .send()
        .await?;
    let policy = urlencoding::decode(policy.policy_document())?.into_owned();
    assert!(policy.contains(":stream/orders-enriched\""), "{policy}");
    assert!(policy.contains(":table/orders-sink\""), "{policy}");
    assert!(
        !policy.contains("\"*\""),
        "least privilege, no wildcard resource: {policy}"
    );

    // Dead letters: a private bucket the pipeline owns, wired to the function and to the
    // mapping's on-failure destination.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let dlq = "orders-dlq-123456789012";
    s3.head_bucket().bucket(dlq).send().await?;
    assert_eq!(env.get("DEAD_LETTER_BUCKET").map(String::as_str), Some(dlq));
    assert_eq!(
        env.get("DEAD_LETTER_PREFIX").map(String::as_str),
        Some("dead-letter/")
    );
    assert!(
        policy.contains(&format!("arn:aws:s3:::{dlq}/dead-letter/*")),
        "{policy}"
    );

    let mappings = crate::common::mappings_of(&lambda, "orders-persist").await?;
    let mapping = &mappings[0];
    assert_eq!(
        mapping
            .destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(format!("arn:aws:s3:::{dlq}").as_str()),
        "batches the mapping gives up on go to the dead-letter bucket"
    );
    assert_eq!(mapping.event_source_arn(), enriched.stream_arn().into());
    assert_eq!(mapping.batch_size(), Some(500));
    assert_eq!(mapping.parallelization_factor(), Some(5));
    assert_eq!(mapping.maximum_retry_attempts(), Some(10));
    assert_eq!(mapping.bisect_batch_on_function_error(), Some(true));
    assert_eq!(
        mapping
            .function_response_types()
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>(),
        vec!["ReportBatchItemFailures"]
    );

    // Nothing to do right after apply.
    assert_eq!(tf.plan()?.code, 0, "plan after apply must be empty");

    // The mapping invokes the function's first version, not $LATEST. A new configuration is
    // published as a new version, the mapping moves to it in place (keeping its place in the
    // stream), and the version it left is deleted.
    assert!(
        mapping
            .function_arn()
            .is_some_and(|f| f.ends_with(":function:orders-persist:1")),
        "{mapping:?}"
    );
    let version_in = |tf: &Terraform| -> Result<serde_json::Value> {
        let state: serde_json::Value =
            serde_json::from_str(&tf.run(&["show", "-json"])?.ok()?.stdout)?;
        Ok(
            state["values"]["root_module"]["resources"][0]["values"]["persist"]["function_version"]
                .clone(),
        )
    };
    assert_eq!(version_in(&tf)?, serde_json::json!("1"));
    knobs.memory_size = 1024;
    tf.write(&config(&knobs))?;
    // The plan says a new version is coming.
    let plan = tf.plan_json()?;
    let change = &plan["resource_changes"][0]["change"];
    assert_eq!(change["before"]["persist"]["function_version"], "1");
    assert_eq!(change["after_unknown"]["persist"]["function_version"], true);
    tf.apply()?;
    assert_eq!(version_in(&tf)?, serde_json::json!("2"));
    let moved = crate::common::mappings_of(&lambda, "orders-persist").await?;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].uuid(), mapping.uuid(), "the same mapping");
    let version_2 = lambda
        .get_function_configuration()
        .function_name(moved[0].function_arn().unwrap_or_default())
        .send()
        .await?;
    assert_eq!(version_2.version(), Some("2"));
    assert_eq!(version_2.memory_size(), Some(1024));
    let versions = lambda
        .list_versions_by_function()
        .function_name("orders-persist")
        .send()
        .await?;
    let versions: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version())
        .collect();
    assert_eq!(versions, ["$LATEST", "2"]);
    assert_eq!(tf.plan()?.code, 0);

    // Shard count and capacity change in place.
    knobs.cdc_shards = 3;
    knobs.write_capacity = 20;
    tf.write(&config(&knobs))?;
    let plan = tf.plan_json()?;
    assert_eq!(planned_actions(&plan), vec!["update"]);
    tf.apply()?;
    let cdc = kinesis
        .describe_stream_summary()
        .stream_name("orders-cdc")
        .send()
        .await?;
    assert_eq!(
        cdc.stream_description_summary().unwrap().open_shard_count(),
        3
    );
    let table = dynamodb
        .describe_table()
        .table_name("orders-sink")
        .send()
        .await?;
    assert_eq!(
        table
            .table()
            .unwrap()
            .provisioned_throughput()
            .unwrap()
            .write_capacity_units(),
        Some(20)
    );
    assert_eq!(tf.plan()?.code, 0);

    // A new sort key cannot be applied to a table in place: the plan says replace, on that
    // attribute.
    knobs.sort_key = "lineId";
    tf.write(&config(&knobs))?;
    let plan = tf.plan_json()?;
    assert_eq!(planned_actions(&plan), vec!["delete", "create"]);
    assert_eq!(replace_paths(&plan), vec!["sink.sort_key"]);
    knobs.sort_key = "itemId";
    tf.write(&config(&knobs))?;

    // A stream deleted out of band shows in the plan, and the apply restores it (and the
    // mapping that read from it) in place.
    kinesis
        .delete_stream()
        .stream_name("orders-enriched")
        .send()
        .await?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 2, "drift must show: {}", plan.stdout);
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    tf.apply()?;
    kinesis
        .describe_stream_summary()
        .stream_name("orders-enriched")
        .send()
        .await?;
    let mappings = crate::common::mappings_of(&lambda, "orders-persist").await?;
    assert_eq!(mappings.len(), 1, "one mapping, on the new stream");
    assert_eq!(tf.plan()?.code, 0);

    // Destroy leaves nothing behind.
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// Dead letters are records nobody has looked at yet: destroy keeps a bucket that holds
/// some, and says so, unless the configuration allows deleting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_keeps_dead_letters_unless_force_destroy_allows_it() -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let tf = Terraform::new(&emulator)?;
    let pipeline = |force: bool| {
        format!(
            "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"dl\"\n  sink {{ partition_key = \"id\" }}\n  persist {{ dead_letter_force_destroy = {force} }}\n}}\n"
        )
    };
    tf.write(&pipeline(false))?;
    tf.init()?;
    tf.apply()?;
    s3.put_object()
        .bucket("dl-dlq-123456789012")
        .key("dead-letter/2026/11/27/shardId-000000000000/1.json")
        .body(b"{}".to_vec().into())
        .send()
        .await?;
    let destroy = tf.run(&["destroy", "-auto-approve", "-no-color"])?;
    assert_ne!(
        destroy.code, 0,
        "destroy must stop at a bucket holding dead letters"
    );
    let stderr = destroy
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(stderr.contains("still holds objects"), "{}", destroy.stderr);
    assert!(
        stderr.contains("force_destroy = true"),
        "the error says how to proceed"
    );
    s3.head_bucket()
        .bucket("dl-dlq-123456789012")
        .send()
        .await?;

    tf.write(&pipeline(true))?;
    tf.apply()?;
    tf.destroy()?;
    assert!(s3.list_buckets().send().await?.buckets().is_empty());
    Ok(())
}

/// The sink holds the pipeline's output: point-in-time recovery and deletion protection are on
/// by default (read back, so turning them off out of band shows as drift), a plan that would
/// replace the table warns that its rows are lost, and destroy keeps a sink that holds items,
/// and says so, unless the configuration allows deleting them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_is_protected_and_destroy_keeps_its_rows_unless_force_destroy_allows_it(
) -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let tf = Terraform::new(&emulator)?;
    let pipeline = |key: &str, force: bool| {
        format!(
            "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"rows\"\n  sink {{\n    partition_key = \"{key}\"\n    force_destroy = {force}\n  }}\n}}\n"
        )
    };
    let table = "rows-sink";
    let recovery = |ddb: aws_sdk_dynamodb::Client| async move {
        let out = ddb
            .describe_continuous_backups()
            .table_name(table)
            .send()
            .await?;
        Ok::<_, anyhow::Error>(
            out.continuous_backups_description()
                .and_then(|d| d.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status())
                .map(|s| s.as_str().to_string()),
        )
    };
    tf.write(&pipeline("id", false))?;
    tf.init()?;
    tf.apply()?;
    let described = ddb.describe_table().table_name(table).send().await?;
    assert_eq!(
        described
            .table()
            .and_then(|t| t.deletion_protection_enabled()),
        Some(true)
    );
    assert_eq!(recovery(ddb.clone()).await?.as_deref(), Some("ENABLED"));

    // Turned off out of band: the plan shows it on the attribute, the apply turns it back on.
    ddb.update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()?,
        )
        .send()
        .await?;
    let plan = tf.run(&["plan", "-no-color", "-detailed-exitcode"])?;
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("~ point_in_time_recovery") && plan.stdout.contains("false -> true"),
        "{}",
        plan.stdout
    );
    tf.apply()?;
    assert_eq!(recovery(ddb.clone()).await?.as_deref(), Some("ENABLED"));

    ddb.put_item()
        .table_name(table)
        .item(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("order-1".into()),
        )
        .send()
        .await?;
    // A new key replaces the table: the plan says, on the attribute, that its rows are lost.
    tf.write(&pipeline("orderId", false))?;
    let plan = tf.run(&["plan", "-no-color"])?;
    let said = format!("{}{}", plan.stdout, plan.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains("sink.partition_key replaces the sink table: its rows are lost"),
        "{said}"
    );
    // Applying it stops at the destroy, before anything is deleted.
    let apply = tf.run(&["apply", "-auto-approve", "-no-color"])?;
    assert_ne!(apply.code, 0, "replacing a sink that holds items must stop");
    tf.write(&pipeline("id", false))?;
    let destroy = tf.run(&["destroy", "-auto-approve", "-no-color"])?;
    assert_ne!(destroy.code, 0, "destroy must stop at a sink holding items");
    let stderr = destroy
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        stderr.contains("the sink still holds items"),
        "{}",
        destroy.stderr
    );
    assert!(
        stderr.contains("`sink.force_destroy = true`"),
        "the error says how to proceed: {stderr}"
    );
    let kept = ddb
        .get_item()
        .table_name(table)
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("order-1".into()),
        )
        .send()
        .await?;
    assert!(kept.item().is_some(), "the row is still there");

    // Allowed: destroy turns the protection off and deletes the table with its rows.
    tf.write(&pipeline("id", true))?;
    tf.apply()?;
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// `persist.enabled = false` pauses the mapping without deleting it (same id, so it keeps its
/// place in the stream), and `true` resumes it; both in place, each plan empty after.
/// `persist.architecture = "x86_64"` deploys the x86_64 package bundled with the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x86_64_deploys_the_bundled_x86_64_package() -> Result<()> {
    let emulator = Emulator::start()?;
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config().await);
    let tf = Terraform::new(&emulator)?;
    tf.write(&format!(
        "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"x86\"\n  sink {{ partition_key = \"id\" }}\n  persist {{ architecture = \"x86_64\" }}\n}}\n"
    ))?;
    tf.init()?;
    tf.apply()?;
    let function = lambda
        .get_function_configuration()
        .function_name("x86-persist")
        .send()
        .await?;
    let architectures: Vec<&str> = function
        .architectures()
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(architectures, vec!["x86_64"]);
    assert_eq!(
        function.code_sha256(),
        Some(base64_sha256(&bundled_zip_for("x86_64"))?.as_str()),
        "the bundled x86_64 package is deployed"
    );
    assert_ne!(
        base64_sha256(&bundled_zip_for("x86_64"))?,
        base64_sha256(&bundled_zip())?,
        "two packages"
    );
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_mapping_keeps_its_place_and_resumes() -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let tf = Terraform::new(&emulator)?;
    let pipeline = |enabled: bool| {
        format!(
            "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"pause\"\n  sink {{ partition_key = \"id\" }}\n  persist {{ enabled = {enabled} }}\n}}\n"
        )
    };
    let mapping = || -> Result<Option<String>> {
        let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            tf.dir().join("terraform.tfstate"),
        )?)?;
        Ok(
            state["resources"][0]["instances"][0]["attributes"]["persist"]
                ["event_source_mapping_id"]
                .as_str()
                .map(str::to_string),
        )
    };
    tf.write(&pipeline(true))?;
    tf.init()?;
    tf.apply()?;
    let uuid = mapping()?.expect("a mapping id");
    let state_of = |uuid: String| {
        let lambda = lambda.clone();
        async move {
            let m = lambda.get_event_source_mapping().uuid(uuid).send().await?;
            Ok::<_, anyhow::Error>(m.state().unwrap_or_default().to_string())
        }
    };
    assert_eq!(state_of(uuid.clone()).await?, "Enabled");
    for (enabled, state) in [(false, "Disabled"), (true, "Enabled")] {
        tf.write(&pipeline(enabled))?;
        let plan = tf.plan_json()?;
        assert_eq!(
            plan["resource_changes"][0]["change"]["actions"],
            serde_json::json!(["update"])
        );
        tf.apply()?;
        assert_eq!(mapping()?.as_deref(), Some(uuid.as_str()));
        assert_eq!(state_of(uuid.clone()).await?, state);
        assert_eq!(tf.plan()?.code, 0, "{}", tf.plan()?.stdout);
    }
    tf.destroy()?;
    Ok(())
}

/// A renamed function needs a new mapping: it is made before the old one goes, so a record
/// arriving meanwhile is read by both rather than by neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_functions_mapping_is_made_before_the_old_one_goes() -> Result<()> {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let proxy = CountingProxy::start(&emulator.endpoint).await?;
    let tf = Terraform::new(&emulator)?;
    let pipeline = |function: &str| {
        format!(
            "terraform {{\n  required_providers {{\n    unifiedetl = {{ source = \"unifiedetl/unifiedetl\" }}\n  }}\n}}\nprovider \"unifiedetl\" {{\n  region       = \"us-east-1\"\n  endpoint_url = \"{}\"\n}}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"moves\"\n  sink {{ partition_key = \"id\" }}\n  persist {{ function_name = \"{function}\" }}\n}}\n",
            proxy.endpoint()
        )
    };
    tf.write(&pipeline("moves-persist"))?;
    tf.init()?;
    tf.apply()?;
    proxy.reset();
    tf.write(&pipeline("moves-writer"))?;
    tf.apply()?;
    let calls: Vec<String> = proxy.take_log().into_iter().map(|c| c.operation).collect();
    let at = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix));
    let created = at("lambda:POST /2015-03-31/event-source-mappings");
    let deleted = at("lambda:DELETE /2015-03-31/event-source-mappings");
    assert!(
        matches!((created, deleted), (Some(c), Some(d)) if c < d),
        "the new mapping is created before the old one is deleted: {calls:?}"
    );
    let mappings = lambda.list_event_source_mappings().send().await?;
    let functions: Vec<&str> = mappings
        .event_source_mappings()
        .iter()
        .filter_map(|m| m.function_arn())
        .collect();
    assert_eq!(functions.len(), 1, "{functions:?}");
    assert!(
        functions[0].ends_with(":function:moves-writer:1"),
        "the new function's first version: {functions:?}"
    );
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    Ok(())
}

/// Each bad configuration fails at plan, before anything is created, with the attribute named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_fails_at_plan_naming_the_attribute() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    let cases = [
        (
            r#"name = "orders"
  cdc_stream { shard_count = 900 }
  sink { partition_key = "orderId" }"#,
            "`cdc_stream.shard_count` must be between 1 and 500",
        ),
        (
            r#"name = "orders"
  sink {
    partition_key = "orderId"
    billing_mode  = "PAY_PER_REQUEST"
    write_capacity = 5
  }"#,
            "`sink.write_capacity` is set (5) but `sink.billing_mode` is PAY_PER_REQUEST",
        ),
        (
            r#"name = "orders pipeline!"
  sink { partition_key = "orderId" }"#,
            "`name` must be 1 to 40 letters, digits",
        ),
        (r#"name = "orders""#, "`sink.partition_key` is required"),
        (
            r#"name = "orders"
  sink { partition_key = "orderId" }
  persist { artifact = "does/not/exist.zip" }"#,
            "`persist.artifact` cannot be read",
        ),
        (
            r#"name = "orders"
  sink {
    partition_key = "orderId"
    sort_key      = "itemId"
  }
  analytics {
    engine       = "lambda"
    parent_table = "order"
    parent_key   = "orderId"
    children     = [{ table = "order_item", parent_key = "orderId", key = "itemId" }]
    columns      = { orderId = "order.orderId", productName = "product.productName" }
  }"#,
            "`analytics.columns.productName` is \"product.productName\"",
        ),
        (
            r#"name = "orders"
  sink {
    partition_key = "orderId"
    sort_key      = "itemId"
  }
  analytics {
    engine       = "lambda"
    parent_table = "order"
    parent_key   = "orderId"
    children     = [{ table = "order_item", parent_key = "orderId", key = "itemId" }]
    columns      = { orderId = "order.orderId" }
  }"#,
            "`analytics.columns` must include the sink's key attribute \"itemId\"",
        ),
        (
            r#"name = "orders"
  sink { partition_key = "orderId" }
  analytics { engine = "kinesis-analytics-sql" }"#,
            "`analytics.code` is required with `engine = \"kinesis-analytics-sql\"`",
        ),
        (
            r#"name = "orders"
  sink { partition_key = "orderId" }
  analytics {
    engine       = "kinesis-analytics-sql"
    parent_table = "order"
  }"#,
            "`analytics.parent_table` is only for `engine = \"lambda\"`",
        ),
        (
            r#"name = "orders"
  sink {
    partition_key = "orderId"
    sort_key      = "itemId"
  }
  analytics {
    engine       = "lambda"
    parent_table = "order"
    parent_key   = "orderId"
    children     = [{ table = "order_item", parent_key = "orderId", key = "itemId" }]
    lookups      = [{ name = "products", file = "/dev/null", from = "item.itemId", match = "productId" }]
    columns      = { orderId = "order.orderId", itemId = "order_item.itemId" }
  }"#,
            "lookup products: `from = \"item.itemId\"` must be `<table>.<column>` of a table the engine reads (order, order_item)",
        ),
        (
            r#"name = "orders"
  tags = { "unifiedetl:pipeline" = "other" }
  sink { partition_key = "orderId" }"#,
            "`tags` may not set `unifiedetl:pipeline`",
        ),
    ];
    let mut initialised = false;
    for (body, message) in cases {
        tf.write(&format!(
            "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  {body}\n}}\n"
        ))?;
        if !initialised {
            tf.init()?;
            initialised = true;
        }
        let plan = tf.plan()?;
        assert_eq!(plan.code, 1, "plan must fail for:\n{body}\n{}", plan.stdout);
        let stderr = plan.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            stderr.contains(message),
            "expected {message:?} in:\n{}",
            plan.stderr
        );
        assert!(
            stderr.contains("unifiedetl_pipeline.p"),
            "the diagnostic points at the resource"
        );
        assert!(
            !stderr.contains("tf_provider::"),
            "no backtraces in diagnostics:\n{}",
            plan.stderr
        );
    }
    let sdk = emulator.sdk_config().await;
    let streams = aws_sdk_kinesis::Client::new(&sdk)
        .list_streams()
        .send()
        .await?;
    assert!(
        streams.stream_names().is_empty(),
        "nothing is created by a failing plan"
    );
    Ok(())
}

/// A state written by an earlier provider version lacks the blocks that version did not know
/// (`analytics` came later): the current provider reads it, plans no change, and applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_from_before_a_block_existed_still_plans_and_applies() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    tf.write(&format!(
        "{PROVIDER}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"older\"\n  sink {{ partition_key = \"orderId\" }}\n}}\n"
    ))?;
    tf.init()?;
    tf.apply()?;
    let path = tf.dir().join("terraform.tfstate");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let attributes = state["resources"][0]["instances"][0]["attributes"]
        .as_object_mut()
        .expect("the pipeline's attributes");
    assert!(attributes.remove("analytics").is_some());
    state["serial"] = serde_json::json!(state["serial"].as_u64().unwrap_or(1) + 1);
    std::fs::write(&path, serde_json::to_string_pretty(&state)?)?;

    let plan = tf.run(&["plan", "-detailed-exitcode", "-no-color"])?;
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    tf.apply()?;
    tf.destroy()?;
    Ok(())
}
