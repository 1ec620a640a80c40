//! `docs/` is generated from the provider's schema (`make docs`); this test fails when the
//! committed docs differ from what the schema generates, so they cannot go stale.

use anyhow::{bail, Result};
use testkit::{docs, repo_root, Terraform};

#[test]
fn docs_are_generated_from_the_schema() -> Result<()> {
    let tf = Terraform::offline()?;
    tf.write(
        "terraform {\n  required_providers {\n    unifiedetl = { source = \"unifiedetl/unifiedetl\" }\n  }\n}\n",
    )?;
    tf.init()?;
    let schema = tf.run(&["providers", "schema", "-json"])?.ok()?;
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout)?;
    let root = repo_root();
    let update = std::env::var_os("UNIFIEDETL_UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (path, content) in docs::render(&root, &schema)? {
        let file = root.join(&path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap())?;
            std::fs::write(&file, &content)?;
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(content.as_str()) {
            stale.push(path);
        }
    }
    if !stale.is_empty() {
        bail!(
            "docs are stale ({}): run `make docs` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}
