//! Value helpers every block's plan and apply use: the planned value of an attribute (the
//! configuration's, or a default), ARNs and ids kept across plans, plan-time checks that name
//! the attribute, and reading a planned value at apply time.

use tf_provider::value::Value;
use tf_provider::{AttributePath, Diagnostics};

use super::state::{Num, Str};

/// Blocks that nest as a list of at most one element: their attributes sit under index 0.
const LIST_BLOCKS: [&str; 3] = ["source", "data_lake", "monitoring"];

/// The path of `block.attr` for a diagnostic (list blocks at their one element).
pub fn path(block: &str, attr: &str) -> AttributePath {
    let block_path = AttributePath::new(block.to_string());
    if LIST_BLOCKS.contains(&block) {
        block_path.index(0).attribute(attr.to_string())
    } else {
        block_path.attribute(attr.to_string())
    }
}

/// "must be one of "A", "B" (got "C")" when a known `value` is not one of `allowed`.
pub fn not_one_of(value: &Str, allowed: &[&str]) -> Option<String> {
    let v = value
        .as_ref_option()
        .filter(|v| !allowed.contains(&v.as_str()))?;
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!("must be one of {list} (got \"{v}\")"))
}

pub fn one_of(block: &str, attr: &str, value: &Str, allowed: &[&str], diags: &mut Diagnostics) {
    if let Some(why) = not_one_of(value, allowed) {
        diags.error(
            format!("invalid {block}.{attr}"),
            format!("`{block}.{attr}` {why}"),
            path(block, attr),
        );
    }
}

pub fn in_range(block: &str, attr: &str, value: &Num, min: i64, max: i64, diags: &mut Diagnostics) {
    if let Value::Value(v) = value {
        if !(min..=max).contains(v) {
            diags.error(
                format!("invalid {block}.{attr}"),
                format!("`{block}.{attr}` must be between {min} and {max} (got {v})"),
                path(block, attr),
            );
        }
    }
}

pub fn name_like(
    block: &str,
    attr: &str,
    value: &Str,
    max: usize,
    extra: &str,
    what: &str,
    diags: &mut Diagnostics,
) {
    if let Value::Value(v) = value {
        let ok = !v.is_empty()
            && v.len() <= max
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if !ok {
            diags.error(
                format!("invalid {block}.{attr}"),
                format!("`{block}.{attr}` must be 1 to {max} characters of letters, digits and `{extra}` for {what} (got \"{v}\")"),
                path(block, attr),
            );
        }
    }
}

/// The configured value, or `default` when the configuration leaves it unset.
pub fn pick<T: Clone>(config: &Value<T>, default: Value<T>) -> Value<T> {
    match config {
        Value::Null => default,
        other => other.clone(),
    }
}

pub fn text(s: &str) -> Str {
    Value::Value(s.to_string())
}

pub fn derive(name: &Str, suffix: &str) -> Str {
    name.as_ref().map(|n| format!("{n}-{suffix}"))
}

/// A deterministic ARN: on create (no prior block) known in the plan from the name; on update
/// kept while the component keeps its name and exists (see [`keep`]).
pub fn arn_of(
    prior: Option<(&Str, &Str)>,
    planned_name: &Str,
    arn: impl Fn(&str) -> String,
) -> Str {
    match prior {
        None => planned_name.as_ref().map(|n| arn(n)),
        Some(_) => keep(prior, planned_name),
    }
}

/// A computed id stays known while the component it identifies keeps its name.
pub fn keep(prior: Option<(&Str, &Str)>, planned_name: &Str) -> Str {
    match prior {
        Some((prior_name, Value::Value(id)))
            if prior_name == planned_name && planned_name.is_value() =>
        {
            Value::Value(id.clone())
        }
        _ => Value::Unknown,
    }
}

pub fn need<T: Clone>(value: &Value<T>, what: &str) -> Result<T, String> {
    match value {
        Value::Value(v) => Ok(v.clone()),
        Value::Null => Err(format!("`{what}` has no value")),
        Value::Unknown => Err(format!("`{what}` is still unknown at apply time")),
    }
}

pub fn opt<T: Clone>(value: &Value<T>) -> Option<T> {
    value.as_ref_option().cloned()
}

pub fn known(value: &Str) -> bool {
    value.is_value()
}

/// The last path segment of an ARN (`…:role/orders-dms` → `orders-dms`).
pub fn arn_name(arn: &str) -> String {
    arn.rsplit(['/', ':']).next().unwrap_or(arn).to_string()
}

pub fn some<T>(v: T) -> Value<T> {
    Value::Value(v)
}

/// An id as the state records it: null where there is none.
pub fn nullable(value: Option<String>) -> Str {
    value.map_or(Value::Null, Value::Value)
}

/// The name of a component whose id the state lacks (after a failed apply, say).
pub fn missing(name: &Str, id: &Str) -> Option<String> {
    name.as_ref_option().filter(|_| !known(id)).cloned()
}
