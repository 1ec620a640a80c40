//! What a plan changes, as attribute paths: shared by the end-to-end tests that assert a plan
//! differs exactly where it should (each includes this file as a module).

use std::collections::BTreeSet;

use serde_json::Value;

/// The attribute paths whose values differ between `before` and `after` (unknown values in
/// `after_unknown` count as different), joined with dots; list indexes as numbers.
pub fn changed_paths(change: &Value) -> BTreeSet<String> {
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
