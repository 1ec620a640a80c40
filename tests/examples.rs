//! The examples a user copies from: each one applies (or validates) as shipped.

use anyhow::Result;
use harness::{repo_root, Emulator, Terraform};

fn copy_tf_files(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tf") {
            std::fs::copy(&path, to.join(path.file_name().unwrap()))?;
        }
    }
    Ok(())
}

#[test]
fn quickstart_applies_on_the_emulator_with_an_empty_plan_and_destroys_cleanly() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    copy_tf_files(&repo_root().join("examples/quickstart"), tf.dir())?;
    let endpoint = format!("endpoint_url={}", emulator.endpoint);
    tf.init()?;
    tf.run(&["apply", "-auto-approve", "-no-color", "-var", &endpoint])?
        .ok()?;
    let outputs = tf.run(&["output", "-json"])?.ok()?;
    let outputs: serde_json::Value = serde_json::from_str(&outputs.stdout)?;
    assert_eq!(outputs["sink_table"]["value"], "unified-orders-sink");
    assert!(outputs["persist_function_arn"]["value"]
        .as_str()
        .is_some_and(|a| a.ends_with(":function:unified-orders-persist")));
    let plan = tf.run(&["plan", "-detailed-exitcode", "-no-color", "-var", &endpoint])?;
    assert_eq!(
        plan.code, 0,
        "plan after apply must be empty:\n{}",
        plan.stdout
    );
    tf.run(&["destroy", "-auto-approve", "-no-color", "-var", &endpoint])?
        .ok()?;
    Ok(())
}

#[test]
fn registry_examples_validate() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = Terraform::new(&emulator)?;
    copy_tf_files(&repo_root().join("examples/provider"), tf.dir())?;
    copy_tf_files(
        &repo_root().join("examples/resources/unifiedetl_pipeline"),
        tf.dir(),
    )?;
    tf.init()?;
    tf.run(&["validate", "-no-color"])?.ok()?;
    Ok(())
}
