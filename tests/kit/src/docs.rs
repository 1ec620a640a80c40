//! The documentation generator behind `make docs`: renders `docs/` in the Terraform Registry
//! layout from the provider's schema as `terraform providers schema -json` reports it, so every
//! argument's text is its schema description and the docs cannot drift from the code.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Every generated file: its path under the repository and its content.
pub fn render(root: &Path, schema: &Value) -> Result<BTreeMap<String, String>> {
    let provider = schema["provider_schemas"]
        .as_object()
        .and_then(|m| m.values().next())
        .context("no provider in the schema")?;
    let mut files = BTreeMap::new();

    let template = std::fs::read_to_string(root.join("docs/templates/index.md.tmpl"))?;
    let example = std::fs::read_to_string(root.join("examples/provider/provider.tf"))?;
    files.insert(
        "docs/index.md".to_string(),
        template.replace("{{example}}", example.trim_end()).replace(
            "{{schema}}",
            &block_schema(&provider["provider"]["block"], ""),
        ),
    );

    let resource = &provider["resource_schemas"]["unifiedetl_pipeline"];
    let template = std::fs::read_to_string(root.join("docs/templates/resources/pipeline.md.tmpl"))?;
    let example =
        std::fs::read_to_string(root.join("examples/resources/unifiedetl_pipeline/resource.tf"))?;
    let import =
        std::fs::read_to_string(root.join("examples/resources/unifiedetl_pipeline/import.sh"))?;
    let description = resource["block"]["description"]
        .as_str()
        .unwrap_or_default();
    files.insert(
        "docs/resources/pipeline.md".to_string(),
        template
            .replace("{{description}}", description)
            .replace("{{example}}", example.trim_end())
            .replace("{{import}}", import.trim_end())
            .replace(
                "{{schema}}",
                block_schema(&resource["block"], "").trim_end(),
            ),
    );
    Ok(files)
}

fn type_name(t: &Value) -> String {
    match t {
        Value::String(s) => match s.as_str() {
            "string" => "String".into(),
            "number" => "Number".into(),
            "bool" => "Boolean".into(),
            other => other.to_string(),
        },
        Value::Array(parts) if parts.len() == 2 => {
            let inner = type_name(&parts[1]);
            match parts[0].as_str() {
                Some("map") => format!("Map of {inner}"),
                Some("list") => format!("List of {inner}"),
                Some("set") => format!("Set of {inner}"),
                _ => "Object".into(),
            }
        }
        _ => "Dynamic".into(),
    }
}

fn anchor(prefix: &str, name: &str) -> String {
    format!("nestedblock--{prefix}{name}")
}

/// The "Schema" section of one block, then a section per nested block.
fn block_schema(block: &Value, prefix: &str) -> String {
    let mut required = Vec::new();
    let mut optional = Vec::new();
    let mut read_only = Vec::new();
    if let Some(attrs) = block["attributes"].as_object() {
        let mut names: Vec<_> = attrs.keys().collect();
        names.sort();
        for name in names {
            let a = &attrs[name];
            let flag = |k: &str| a[k].as_bool().unwrap_or(false);
            let sensitive = if flag("sensitive") { ", Sensitive" } else { "" };
            let line = format!(
                "- `{name}` ({}{sensitive}) {}",
                type_name(&a["type"]),
                a["description"].as_str().unwrap_or_default()
            );
            if flag("required") {
                required.push(line);
            } else if flag("optional") {
                optional.push(line);
            } else {
                read_only.push(line);
            }
        }
    }
    let mut nested = Vec::new();
    if let Some(blocks) = block["block_types"].as_object() {
        let mut names: Vec<_> = blocks.keys().collect();
        names.sort();
        for name in names {
            let b = &blocks[name];
            let id = anchor(prefix, name);
            let kind = match (b["nesting_mode"].as_str(), b["max_items"].as_u64()) {
                (Some("list"), Some(1)) => "Block List, Max: 1",
                (Some("list"), _) => "Block List",
                _ => "Block, Optional",
            };
            optional.push(format!(
                "- `{name}` ({kind}) {} (see [below for nested schema](#{id}))",
                b["block"]["description"].as_str().unwrap_or_default()
            ));
            nested.push(format!(
                "<a id=\"{id}\"></a>\n### Nested Schema for `{prefix}{name}`\n\n{}",
                block_schema(&b["block"], &format!("{prefix}{name}."))
                    .trim_start_matches("## Schema\n\n")
            ));
        }
    }
    let heading = if prefix.is_empty() { "###" } else { "" };
    let mut out = if prefix.is_empty() {
        "## Schema\n\n".to_string()
    } else {
        String::new()
    };
    for (title, lines) in [
        ("Required", &required),
        ("Optional", &optional),
        ("Read-Only", &read_only),
    ] {
        if lines.is_empty() {
            continue;
        }
        if heading.is_empty() {
            out.push_str(&format!("{title}:\n\n{}\n\n", lines.join("\n")));
        } else {
            out.push_str(&format!("{heading} {title}\n\n{}\n\n", lines.join("\n")));
        }
    }
    for section in nested {
        out.push_str(&section);
    }
    out
}
