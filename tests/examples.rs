//! The examples a user copies from: each one applies (or validates) as shipped.

use anyhow::Result;
use harness::{repo_root, Emulator, Terraform};

/// The streams the function's event source mappings read.
async fn mapping_sources(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<Vec<String>> {
    let mappings = lambda
        .list_event_source_mappings()
        .function_name(function)
        .send()
        .await?;
    Ok(mappings
        .event_source_mappings()
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
    let plan = run(&["plan", "-detailed-exitcode"])?;
    assert_eq!(
        plan.code, 0,
        "plan after apply must be empty:\n{}",
        plan.stdout
    );

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

    // The function's environment changed out of band (the correlation emptied): drift, put
    // right by the next apply.
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
    assert!(plan.stdout.contains("function_arn"), "{}", plan.stdout);
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
    let tables = dynamodb.list_tables().send().await?;
    assert!(tables.table_names().is_empty(), "{tables:?}");
    let buckets = s3.list_buckets().send().await?;
    assert!(buckets.buckets().is_empty(), "{buckets:?}");
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
