//! The examples a user copies from: each one applies (or validates) as shipped.

use anyhow::Result;
use testkit::{repo_root, Emulator, Terraform};

use crate::common::nothing_left;

/// The streams the function's event source mappings read.
async fn mapping_sources(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<Vec<String>> {
    Ok(crate::common::mappings_of(lambda, function)
        .await?
        .iter()
        .filter_map(|m| m.event_source_arn().map(str::to_string))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_applies_on_the_emulator_with_an_empty_plan_and_destroys_cleanly() -> Result<()>
{
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/quickstart"))?;
    let endpoint = format!("endpoint_url={}", emulator.endpoint);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-no-color", "-var", endpoint.as_str()]);
        tf.run(&all)
    };
    tf.init()?;
    run(&["apply", "-auto-approve"])?.ok()?;
    let outputs = tf.run(&["output", "-json"])?.ok()?;
    let outputs: serde_json::Value = serde_json::from_str(&outputs.stdout)?;
    assert_eq!(outputs["sink_table"]["value"], "unified-orders-sink");
    assert_eq!(outputs["state_table"]["value"], "unified-orders-state");
    assert!(outputs["persist_function_arn"]["value"]
        .as_str()
        .is_some_and(|a| a.ends_with(":function:unified-orders-persist")));
    for _ in 0..2 {
        let plan = run(&["plan", "-detailed-exitcode"])?;
        assert_eq!(
            plan.code, 0,
            "plan after apply must be empty, twice:\n{}",
            plan.stdout
        );
    }

    // The `lambda` engine: the mapping reads the CDC stream, the function has the correlation,
    // the state table exists, the reference file is in S3 as it is on disk.
    let sdk = emulator.sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let sources = mapping_sources(&lambda, "unified-orders-persist").await?;
    assert_eq!(sources.len(), 1);
    assert!(
        sources[0].ends_with(":stream/unified-orders-cdc"),
        "{sources:?}"
    );
    let function = lambda
        .get_function_configuration()
        .function_name("unified-orders-persist")
        .send()
        .await?;
    let env = function.environment().unwrap().variables().unwrap().clone();
    assert_eq!(env["STATE_TABLE"], "unified-orders-state");
    assert_eq!(env["ENRICHED_STREAM"], "unified-orders-enriched");
    let correlation: serde_json::Value = serde_json::from_str(&env["CORRELATION"])?;
    assert_eq!(correlation["parent"]["table"], "order");
    assert_eq!(
        correlation["lookups"][0]["object_key"],
        "reference/products.json"
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamodb
        .describe_table()
        .table_name("unified-orders-state")
        .send()
        .await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = "unified-orders-reference-123456789012";
    let object = s3
        .get_object()
        .bucket(bucket)
        .key("reference/products.json")
        .send()
        .await?;
    let uploaded = object.body.collect().await?.into_bytes();
    let products_file = tf.dir().join("reference/products.json");
    assert_eq!(uploaded.as_ref(), std::fs::read(&products_file)?.as_slice());

    // A changed reference file is an in-place update of that object.
    let mut products = std::fs::read_to_string(&products_file)?;
    products.push_str(
        "{\"productId\":999909999,\"productName\":\"Felt Stool\",\"productPrice\":12.00}\n",
    );
    std::fs::write(&products_file, &products)?;
    let plan = run(&["plan", "-detailed-exitcode"])?;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("reference/products.json"),
        "{}",
        plan.stdout
    );
    run(&["apply", "-auto-approve"])?.ok()?;
    let object = s3
        .get_object()
        .bucket(bucket)
        .key("reference/products.json")
        .send()
        .await?;
    assert_eq!(
        object.body.collect().await?.into_bytes().as_ref(),
        products.as_bytes()
    );
    assert_eq!(run(&["plan", "-detailed-exitcode"])?.code, 0);

    // The object changed out of band: drift, put right by the next apply.
    s3.put_object()
        .bucket(bucket)
        .key("reference/products.json")
        .body(b"{}\n".to_vec().into())
        .send()
        .await?;
    let plan = run(&["plan", "-detailed-exitcode"])?;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("reference_objects"), "{}", plan.stdout);
    run(&["apply", "-auto-approve"])?.ok()?;
    assert_eq!(run(&["plan", "-detailed-exitcode"])?.code, 0);

    // The function's environment changed out of band (the correlation emptied): drift on the
    // correlation's attributes, put right by the next apply.
    let mut changed: std::collections::HashMap<String, String> = env.clone();
    changed.insert("CORRELATION".to_string(), "{}".to_string());
    lambda
        .update_function_configuration()
        .function_name("unified-orders-persist")
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(changed))
                .build(),
        )
        .send()
        .await?;
    let plan = run(&["plan", "-detailed-exitcode"])?;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(
        plan.stdout.contains("parent_table") && plan.stdout.contains("children"),
        "{}",
        plan.stdout
    );
    run(&["apply", "-auto-approve"])?.ok()?;
    assert_eq!(run(&["plan", "-detailed-exitcode"])?.code, 0);
    let restored = lambda
        .get_function_configuration()
        .function_name("unified-orders-persist")
        .send()
        .await?;
    assert_eq!(
        restored.environment().unwrap().variables().unwrap(),
        &env,
        "the environment is back as planned"
    );

    // Changes AWS takes a while to settle, in place: a reshard, capacity, the mapping's batch
    // settings, the function's memory and timeout (each refused by AWS while the previous one
    // settles; the emulator's realism layer answers so too).
    let main_tf = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    let settling = main_tf
        .replacen("shard_count = 2", "shard_count = 3", 1)
        .replace("write_capacity     = 3000", "write_capacity     = 3500")
        .replace(
            "    batch_size             = 500\n",
            "    batch_size             = 400\n    memory_size            = 512\n    timeout                = 90\n",
        );
    assert_ne!(settling, main_tf);
    std::fs::write(tf.dir().join("main.tf"), &settling)?;
    let plan = run(&["plan", "-detailed-exitcode"])?;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("update in-place"), "{}", plan.stdout);
    run(&["apply", "-auto-approve"])?.ok()?;
    assert_eq!(run(&["plan", "-detailed-exitcode"])?.code, 0);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let cdc = kinesis
        .describe_stream_summary()
        .stream_name("unified-orders-cdc")
        .send()
        .await?;
    assert_eq!(
        cdc.stream_description_summary().unwrap().open_shard_count(),
        3
    );
    let function = lambda
        .get_function_configuration()
        .function_name("unified-orders-persist")
        .send()
        .await?;
    assert_eq!(
        (function.memory_size(), function.timeout()),
        (Some(512), Some(90))
    );

    // The engine turned off: its state table and reference data go, the mapping moves back to
    // the enriched stream, and the plan after that is empty.
    let main_tf = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    let start = main_tf
        .find("  analytics {")
        .expect("the quickstart has an analytics block");
    let end = start + main_tf[start..].find("\n  }\n").expect("its end") + 5;
    std::fs::write(
        tf.dir().join("main.tf"),
        format!("{}{}", &main_tf[..start], &main_tf[end..])
            .replace("unifiedetl_pipeline.orders.analytics.state_table", "null")
            .replace(
                "unifiedetl_pipeline.orders.analytics.reference_objects",
                "null",
            ),
    )?;
    run(&["apply", "-auto-approve"])?.ok()?;
    assert_eq!(run(&["plan", "-detailed-exitcode"])?.code, 0);
    let tables = dynamodb.list_tables().send().await?;
    assert!(
        !tables
            .table_names()
            .iter()
            .any(|t| t == "unified-orders-state"),
        "{tables:?}"
    );
    assert!(
        s3.head_bucket().bucket(bucket).send().await.is_err(),
        "reference bucket deleted"
    );
    let sources = mapping_sources(&lambda, "unified-orders-persist").await?;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert!(
        sources[0].ends_with(":stream/unified-orders-enriched"),
        "{sources:?}"
    );
    let env = lambda
        .get_function_configuration()
        .function_name("unified-orders-persist")
        .send()
        .await?;
    let env = env.environment().unwrap().variables().unwrap();
    assert!(!env.contains_key("CORRELATION"), "{env:?}");

    run(&["destroy", "-auto-approve"])?.ok()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// `terraform test` of the quickstart (`examples/quickstart/quickstart.tftest.hcl`) on the
/// emulator, as a user runs it: it applies, asserts on the outputs and on a second plan, and
/// destroys what it made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_passes_its_terraform_test() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/quickstart"))?;
    tf.init()?;
    let endpoint = format!("endpoint_url={}", emulator.endpoint);
    let test = tf.run(&["test", "-no-color", "-var", &endpoint])?;
    assert_eq!(test.code, 0, "{}\n{}", test.stdout, test.stderr);
    assert!(
        test.stdout.contains("2 passed, 0 failed"),
        "{}",
        test.stdout
    );
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

#[test]
fn registry_examples_validate() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/provider"))?;
    tf.copy_module(&repo_root().join("examples/resources/unifiedetl_pipeline"))?;
    tf.init()?;
    tf.run(&["validate", "-no-color"])?.ok()?;
    Ok(())
}

/// `examples/ci`: the workflow's Terraform steps run here on the quickstart against the emulator
/// (fmt -check, init, validate, plan -detailed-exitcode -out, show -json), and its summary script
/// read on each plan: a create, an empty plan, one setting changed in place, a sensitive value
/// added, and a replacement.
#[test]
fn ci_plan_summary_reads_real_plans() -> Result<()> {
    use serde_json::Value;

    /// The string leaves of `value` that `mask` (`before_sensitive` / `after_sensitive`) marks.
    fn sensitive_strings(value: &Value, mask: &Value, out: &mut Vec<String>) {
        match (mask, value) {
            (Value::Bool(true), Value::String(s)) => out.push(s.clone()),
            (Value::Bool(true), Value::Array(items)) => {
                for item in items {
                    sensitive_strings(item, mask, out);
                }
            }
            (Value::Bool(true), Value::Object(fields)) => {
                for field in fields.values() {
                    sensitive_strings(field, mask, out);
                }
            }
            (Value::Object(masks), _) => {
                for (key, sub) in masks {
                    if let Some(v) = value.get(key) {
                        sensitive_strings(v, sub, out);
                    }
                }
            }
            (Value::Array(masks), _) => {
                for (i, sub) in masks.iter().enumerate() {
                    if let Some(v) = value.get(i) {
                        sensitive_strings(v, sub, out);
                    }
                }
            }
            _ => {}
        }
    }

    let root = repo_root();
    let ci = root.join("examples/ci/.github");
    let script = ci.join("scripts/plan-summary.sh");
    // The commands below are the workflow's own.
    let workflow = std::fs::read_to_string(ci.join("workflows/terraform-plan.yml"))?;
    for step in [
        "terraform fmt -check -recursive",
        "terraform init -input=false",
        "terraform validate",
        "terraform plan -input=false -detailed-exitcode -out=tfplan",
        "terraform show -json tfplan > plan.json",
        "/.github/scripts/plan-summary.sh",
    ] {
        assert!(workflow.contains(step), "the workflow runs `{step}`");
    }

    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&root.join("examples/quickstart"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    let summarize = |args: &[&str]| -> Result<String> {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .current_dir(tf.dir())
            .output()?;
        assert!(
            out.status.success(),
            "plan-summary.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    // plan -detailed-exitcode -out, show -json > plan.json, the summary; with the plan's JSON.
    let plan = |expected_code: i32| -> Result<(Value, String)> {
        let run = tf.run(&[
            "plan",
            "-input=false",
            "-detailed-exitcode",
            "-out=tfplan",
            "-no-color",
        ])?;
        assert_eq!(
            run.code, expected_code,
            "plan exit code\n{}\n{}",
            run.stdout, run.stderr
        );
        let shown = tf.run(&["show", "-json", "tfplan"])?.ok()?;
        std::fs::write(tf.dir().join("plan.json"), &shown.stdout)?;
        let summary = summarize(&["plan.json"])?;
        let json: Value = serde_json::from_str(&shown.stdout)?;
        // Whatever the plan marks sensitive never reaches the summary.
        let mut secrets = Vec::new();
        for change in json["resource_changes"].as_array().into_iter().flatten() {
            let change = &change["change"];
            sensitive_strings(&change["before"], &change["before_sensitive"], &mut secrets);
            sensitive_strings(&change["after"], &change["after_sensitive"], &mut secrets);
        }
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            assert!(
                !summary.contains(secret.as_str()),
                "a sensitive value is printed:\n{summary}"
            );
        }
        Ok((json, summary))
    };
    // The summary's attribute lines ("    ~ sink.write_capacity = 3000 -> 4000").
    let attribute_lines = |summary: &str| -> Vec<String> {
        summary
            .lines()
            .take_while(|l| *l != "Outputs:" && !l.starts_with("Changed outside Terraform"))
            .filter(|l| l.starts_with("    "))
            .map(str::to_string)
            .collect()
    };

    tf.run(&["fmt", "-check", "-recursive", "-diff", "-no-color"])?
        .ok()?;
    tf.init()?;
    tf.run(&["validate", "-no-color"])?.ok()?;

    // A new pipeline: one resource to create, no attribute listing, no sensitive value.
    let (_, summary) = plan(2)?;
    let mut lines = summary.lines();
    assert_eq!(
        lines.next(),
        Some("Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy."),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l == "+ unifiedetl_pipeline.orders  (create)"),
        "{summary}"
    );
    assert!(attribute_lines(&summary).is_empty(), "{summary}");
    assert!(!summary.contains("(sensitive value)"), "{summary}");
    tf.run(&["apply", "-input=false", "-no-color", "tfplan"])?
        .ok()?;

    // Nothing to do: exit code 0, and the summary says so.
    let (_, summary) = plan(0)?;
    assert!(
        summary.starts_with("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy.\n"),
        "{summary}"
    );
    assert!(summary.contains("No changes"), "{summary}");

    // One setting changed: exactly that attribute, in place.
    let main_tf = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    let changed = main_tf.replace("write_capacity     = 3000", "write_capacity     = 4000");
    assert_ne!(
        changed, main_tf,
        "the quickstart sets write_capacity = 3000"
    );
    tf.write(&changed)?;
    let (_, summary) = plan(2)?;
    assert!(
        summary.starts_with("Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.\n"),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l == "~ unifiedetl_pipeline.orders  (update in place)"),
        "{summary}"
    );
    assert_eq!(
        attribute_lines(&summary),
        ["    ~ sink.write_capacity = 3000 -> 4000"],
        "{summary}"
    );
    tf.run(&["apply", "-input=false", "-no-color", "tfplan"])?
        .ok()?;

    // A DMS source with its password from a sensitive variable: the JSON plan holds the
    // password (as Terraform writes it), the summary never does.
    let password = "ci-summary-never-prints-this";
    std::fs::write(
        tf.dir().join("secret.tf"),
        "variable \"db_password\" {\n  type      = string\n  sensitive = true\n}\n",
    )?;
    std::fs::write(
        tf.dir().join("secret.auto.tfvars"),
        format!("db_password = \"{password}\"\n"),
    )?;
    tf.write(&changed.replace(
        "  # The CDC (\"unified\") stream",
        "  source {\n    server_name = \"mysql.internal\"\n    username    = \"dms\"\n    password    = var.db_password\n    subnet_ids  = [\"subnet-0a1b2c3d\", \"subnet-4e5f6a7b\"]\n    tables      = { orders = [\"order\", \"order_item\"] }\n  }\n\n  # The CDC (\"unified\") stream",
    ))?;
    let (json, summary) = plan(2)?;
    assert!(json.to_string().contains(password), "the JSON plan has it");
    assert!(!summary.contains(password), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l == "    + source[0].password = (sensitive value)"),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l == "    + source[0].server_name = \"mysql.internal\""),
        "{summary}"
    );
    let markdown = summarize(&["--markdown", "plan.json"])?;
    assert!(!markdown.contains(password), "{markdown}");
    assert!(
        markdown.starts_with("### Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy.\n"),
        "{markdown}"
    );
    std::fs::remove_file(tf.dir().join("secret.tf"))?;
    std::fs::remove_file(tf.dir().join("secret.auto.tfvars"))?;

    // A change AWS cannot make in place: a replacement, with the attribute that forces it.
    tf.write(&changed.replace("sort_key_type      = \"N\"", "sort_key_type      = \"S\""))?;
    let (json, summary) = plan(2)?;
    assert_eq!(
        json["resource_changes"][0]["change"]["replace_paths"],
        serde_json::json!([["sink", "sort_key_type"]])
    );
    assert!(
        summary.starts_with("Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy.\n"),
        "{summary}"
    );
    assert!(
        summary
            .lines()
            .any(|l| l == "-/+ unifiedetl_pipeline.orders  (replace)"),
        "{summary}"
    );
    let forcing: Vec<_> = attribute_lines(&summary)
        .into_iter()
        .filter(|l| l.ends_with("# forces replacement"))
        .collect();
    assert_eq!(
        forcing,
        ["    ~ sink.sort_key_type = \"N\" -> \"S\"   # forces replacement"],
        "{summary}"
    );
    Ok(())
}

// ------------------------------------------------------------------ surviving real AWS

/// `examples/<module>` in a fresh directory, pointed at `emulator`, initialised; the provider
/// gives up on a failing call after one retry (so that a test's outage ends an apply quickly),
/// so the emulator's throttling is off (its own test has it).
fn example(emulator: &Emulator, module: &str) -> Result<Terraform> {
    emulator.realism(serde_json::json!({
        "classes": ["iam", "lag", "states", "dms", "account", "s3"]
    }))?;
    let tf = Terraform::new(emulator)?;
    tf.copy_module(&repo_root().join("examples").join(module))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    std::fs::write(
        tf.dir().join("retries_override.tf"),
        "provider \"unifiedetl\" {\n  max_retries = 1\n}\n",
    )?;
    tf.init()?;
    Ok(tf)
}

/// With one class of the realism layer alone, `examples/complete` (every service the pipeline
/// uses) applies, plans empty and destroys to nothing, and the class was injected.
async fn complete_survives(class: &str, extra: serde_json::Value) -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let mut settings = serde_json::json!({ "enabled": true, "classes": [class] });
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    emulator.realism(settings)?;
    let tf = Terraform::new(&emulator)?;
    tf.copy_module(&repo_root().join("examples/complete"))?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    // Made right before the apply, as a user following the docs would: still propagating.
    emulator.create_dms_vpc_role()?;
    tf.apply()?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 0, "plan after apply:\n{}", plan.stdout);
    tf.destroy()?;
    if class == "s3" {
        // Buckets of the same names made again right after their delete.
        tf.apply()?;
        tf.destroy()?;
    }
    nothing_left::assert_holds_nothing(&emulator).await?;
    let injected = emulator.injected()?;
    let counts = injected[class].as_object().cloned().unwrap_or_default();
    assert!(
        counts.values().any(|n| n.as_u64() > Some(0)),
        "no {class} fault was injected: {injected}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_propagation_is_waited_out() -> Result<()> {
    complete_survives("iam", serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_lag_behind_creates_are_waited_out() -> Result<()> {
    complete_survives("lag", serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_updating_and_pending_states_are_waited_out() -> Result<()> {
    complete_survives("states", serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_connections_are_tested_before_the_task_starts() -> Result<()> {
    complete_survives("dms", serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dms_vpc_role_still_propagating_is_waited_out() -> Result<()> {
    complete_survives("account", serde_json::json!({ "iam_seconds": 10 })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_name_taken_right_after_its_delete_is_waited_out() -> Result<()> {
    complete_survives("s3", serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_are_retried() -> Result<()> {
    // One call in ten: a run of the example makes a few hundred control-plane calls.
    complete_survives("throttle", serde_json::json!({ "throttle_rate": 0.1 })).await
}

/// Without `dms-vpc-role` a first apply with a `source` fails at once, naming the role and
/// giving the two commands that create it; nothing is left behind by its destroy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dms_vpc_role_fails_at_once_with_the_commands_that_fix_it() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = example(&emulator, "complete")?;
    let started = std::time::Instant::now();
    let run = tf.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    assert_ne!(run.code, 0, "{}", run.stdout);
    let said = format!("{}{}", run.stdout, run.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(said.contains("`dms-vpc-role`"), "{said}");
    assert!(
        said.contains("aws iam create-role --role-name dms-vpc-role"),
        "{said}"
    );
    assert!(said.contains("AmazonDMSVPCManagementRole"), "{said}");
    // Not after minutes of retries that cannot cure it.
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// One failure point: `operation` fails until the SDK gives up. The apply's error names
/// `component`; then either the next apply converges (plan empty) and destroy leaves nothing,
/// or (`destroy_at_once`) destroy right after the failure leaves nothing.
async fn half_failed_apply(
    module: &str,
    operation: &str,
    component: &str,
    destroy_at_once: bool,
) -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    emulator.create_dms_vpc_role()?;
    let tf = example(&emulator, module)?;
    emulator.realism(serde_json::json!({ "outage": [operation] }))?;
    let run = tf.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    assert_ne!(run.code, 0, "{operation} failing, the apply succeeded");
    // Terraform wraps its messages at 80 columns.
    let said = format!("{}{}", run.stdout, run.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(component),
        "the error for {operation} does not name {component}: {said}"
    );
    // One or two sentences, not the SDK's Debug output.
    assert!(
        !said.contains("DispatchFailure") && !said.contains("SdkError"),
        "{said}"
    );
    emulator.realism(serde_json::json!({ "outage": [] }))?;
    if !destroy_at_once {
        tf.apply()?;
        let plan = tf.plan()?;
        assert_eq!(plan.code, 0, "plan after the next apply:\n{}", plan.stdout);
    }
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_that_cannot_be_created_fails_the_apply_and_the_next_converges() -> Result<()> {
    half_failed_apply(
        "quickstart",
        "Lambda.CreateEventSourceMapping",
        "event source mapping of Lambda function (unified-orders-persist)",
        false,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_left_unencrypted_by_a_failed_apply_is_destroyed() -> Result<()> {
    half_failed_apply("quickstart", "S3.PutBucketEncryption", "S3 bucket", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_its_policy_is_adopted_by_the_next_apply() -> Result<()> {
    half_failed_apply("quickstart", "IAM.PutRolePolicy", "IAM role", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_cannot_start_leaves_no_dms_component_behind() -> Result<()> {
    half_failed_apply(
        "complete",
        "DMS.StartReplicationTask",
        "DMS replication task",
        true,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_stream_that_cannot_be_created_fails_the_apply_and_the_next_converges(
) -> Result<()> {
    half_failed_apply(
        "complete",
        "Firehose.CreateDeliveryStream",
        "Firehose delivery stream",
        false,
    )
    .await
}

/// After a failed first apply, `terraform untaint` and an apply keep what the failed apply made
/// (the same table and stream, not new ones) and create only what is missing; without the
/// untaint, Terraform replaces the whole pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untaint_after_a_failed_first_apply_keeps_what_was_made() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = example(&emulator, "quickstart")?;
    emulator.realism(serde_json::json!({ "outage": ["Lambda.CreateEventSourceMapping"] }))?;
    let run = tf.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    assert_ne!(run.code, 0);
    emulator.realism(serde_json::json!({ "outage": [] }))?;
    let plan = tf.plan()?;
    assert!(
        plan.stdout.contains("is tainted, so must be replaced"),
        "{}",
        plan.stdout
    );

    let sdk = emulator.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let made = || async {
        let table = dynamodb
            .describe_table()
            .table_name("unified-orders-sink")
            .send()
            .await?;
        let stream = kinesis
            .describe_stream_summary()
            .stream_name("unified-orders-cdc")
            .send()
            .await?;
        anyhow::Ok((
            table.table().and_then(|t| t.creation_date_time()).cloned(),
            stream
                .stream_description_summary()
                .map(|s| s.stream_creation_timestamp),
        ))
    };
    let before = made().await?;
    tf.run(&["untaint", "-no-color", "unifiedetl_pipeline.orders"])?
        .ok()?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    tf.apply()?;
    assert_eq!(
        made().await?,
        before,
        "the table and stream were made again"
    );
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// Ctrl-C while the provider waits for AWS (a stream that stays CREATING): Terraform and the
/// provider end within seconds, not when the wait would have ended; what the apply made is
/// saved in the state; the next apply converges and destroy leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_the_waits_promptly_and_saves_what_exists() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    let tf = example(&emulator, "quickstart")?;
    emulator.realism(serde_json::json!({ "classes": ["states"], "state_seconds": 600 }))?;
    let mut child = tf.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    // Until the provider is waiting for the stream to leave CREATING.
    let waiting = |injected: &serde_json::Value| {
        injected["states"].as_object().is_some_and(|c| {
            c.keys()
                .any(|k| k.starts_with("Kinesis.DescribeStreamSummary"))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !waiting(&emulator.injected()?) {
        assert!(
            std::time::Instant::now() < deadline,
            "the apply never waited"
        );
        assert!(
            child.try_wait()?.is_none(),
            "the apply ended before waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let interrupted = std::time::Instant::now();
    testkit::terraform::interrupt(&child)?;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let took = interrupted.elapsed();
    assert!(
        took < std::time::Duration::from_secs(30),
        "Terraform took {took:?} to stop"
    );
    let said = String::from_utf8_lossy(&output.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!output.status.success());
    assert!(said.contains("interrupted while waiting for"), "{said}");

    // Saved: the state records the pipeline with what exists (the sink table, made beside
    // the stream).
    let shown = tf.run(&["show", "-json", "-no-color"])?.ok()?;
    let state: serde_json::Value = serde_json::from_str(&shown.stdout)?;
    let pipeline = &state["values"]["root_module"]["resources"][0]["values"];
    assert!(
        pipeline["sink"]["arn"]
            .as_str()
            .is_some_and(|a| a.ends_with(":table/unified-orders-sink")),
        "{pipeline:#}"
    );

    // AWS finishes what it was doing.
    emulator.realism(serde_json::json!({
        "classes": ["iam", "lag", "states", "dms", "account", "s3"],
        "state_seconds": 1.5,
        "settle": true
    }))?;
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}
