//! Import and drift end to end, with the real Terraform CLI on a private emulator: a pipeline
//! imported by its name plans clean with the configuration that made it, `-generate-config-out`
//! writes configuration that validates and plans clean, an ID that matches nothing says what was
//! looked for, a sample-built pipeline is imported by a component map (its deleted SQL
//! application shown as to be created), and settings changed out of band show in the plan on
//! exactly their attributes.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use harness::{repo_root, Emulator, Terraform};
use serde_json::Value;

/// The attribute paths whose values differ between `before` and `after` (unknown values in
/// `after_unknown` count as different), joined with dots; list indexes as numbers.
fn changed_paths(change: &Value) -> BTreeSet<String> {
    fn walk(
        before: &Value,
        after: &Value,
        unknown: &Value,
        path: &str,
        out: &mut BTreeSet<String>,
    ) {
        if unknown == &Value::Bool(true) {
            out.insert(path.to_string());
            return;
        }
        match (before, after) {
            (Value::Object(b), Value::Object(a)) => {
                let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        b.get(k).unwrap_or(&Value::Null),
                        a.get(k).unwrap_or(&Value::Null),
                        unknown.get(k).unwrap_or(&Value::Null),
                        &p,
                        out,
                    );
                }
            }
            (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
                for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                    walk(
                        bv,
                        av,
                        unknown.get(i).unwrap_or(&Value::Null),
                        &format!("{path}.{i}"),
                        out,
                    );
                }
            }
            (b, a) if b != a => {
                out.insert(path.to_string());
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &change["before"],
        &change["after"],
        &change["after_unknown"],
        "",
        &mut out,
    );
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The first resource change of a plan.
fn change_of(plan: &Value) -> &Value {
    &plan["resource_changes"][0]["change"]
}

/// A working directory on `emulator` holding `examples/quickstart`.
fn quickstart(emulator: &Emulator) -> Result<Terraform> {
    let tf = Terraform::new(emulator)?;
    tf.copy_module(&repo_root().join("examples/quickstart"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    Ok(tf)
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
    // as `false`; the quickstart sets `true`), so the first apply records it.
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&["data_lake.0.force_destroy"]),
        "{:#}",
        change_of(&plan)
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0, "the plan after the first apply is empty");
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
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("unified-orders-persist")
        .send()
        .await?;
    let uuid = mappings.event_source_mappings()[0]
        .uuid()
        .context("a mapping")?
        .to_string();
    lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .batch_size(50)
        .send()
        .await?;
    let plan = tf.plan_json()?;
    assert_eq!(
        changed_paths(change_of(&plan)),
        set(&[
            "cdc_stream.shard_count",
            "persist.batch_size",
            "sink.write_capacity"
        ]),
        "{:#}",
        change_of(&plan)
    );
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);

    // Components deleted out of band are recreated in place by the next apply.
    dynamodb
        .delete_table()
        .table_name("unified-orders-state")
        .send()
        .await?;
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
