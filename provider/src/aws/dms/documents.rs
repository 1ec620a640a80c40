//! The replication task's JSON documents (table mappings, task settings) and endpoint settings:
//! normalised for comparison, compared the way DMS stores them (server defaults filled in, rules
//! in any order), and projected onto the keys a configuration gives.

use serde_json::{Map, Value};

/// The canonical form of a JSON document: object keys sorted, no whitespace. The error is
/// serde_json's (what is wrong, with line and column).
pub fn normalize_json(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(canonical(&value).to_string())
}

/// Whether two JSON documents are the same after normalisation. For table mappings, the order
/// of the `rules` does not matter and a `rule-id` or `rule-name` written as a number equals
/// the same written as a string: AWS echoes either. Text that is not JSON is compared as is.
pub fn json_equal(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => canonical_mappings(&a) == canonical_mappings(&b),
        _ => a.trim() == b.trim(),
    }
}

/// Whether every setting the user gave is in what AWS returned: objects are compared as
/// subsets (AWS adds its defaults), arrays whole — except arrays of objects keyed by `Id`
/// (`Logging.LogComponents`), which DMS merges into its own list by `Id`, so each given
/// element is looked up by its `Id`. A given `null` matches a missing key.
pub fn settings_match(given: &str, actual: &str) -> bool {
    match (
        serde_json::from_str::<Value>(given),
        serde_json::from_str::<Value>(actual),
    ) {
        (Ok(given), Ok(actual)) => contains(&given, &actual),
        _ => false,
    }
}

/// What AWS has for exactly the settings the user gave, normalised: equal to the given
/// settings' normal form when [`settings_match`] holds, and showing AWS's values where it does
/// not (drift). Unparseable input gives `actual` back, normalised if possible.
pub fn project_settings(given: &str, actual: &str) -> String {
    let Ok(actual_value) = serde_json::from_str::<Value>(actual) else {
        return actual.to_string();
    };
    let Ok(given_value) = serde_json::from_str::<Value>(given) else {
        return canonical(&actual_value).to_string();
    };
    canonical(&project(&given_value, &actual_value)).to_string()
}

/// `value` with every object's keys in sorted order (whatever serde_json's map keeps).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// [`canonical`], plus table mappings' `rules` with string ids and names, in a fixed order.
fn canonical_mappings(value: &Value) -> Value {
    let mut value = canonical(value);
    if let Some(Value::Array(rules)) = value.get_mut("rules") {
        for rule in rules.iter_mut() {
            if let Value::Object(rule) = rule {
                for key in ["rule-id", "rule-name"] {
                    if let Some(Value::Number(n)) = rule.get(key) {
                        let text = n.to_string();
                        rule.insert(key.to_string(), Value::String(text));
                    }
                }
            }
        }
        rules.sort_by_cached_key(|rule| {
            let id = match rule.get("rule-id") {
                Some(Value::String(id)) => id.clone(),
                _ => String::new(),
            };
            (id, rule.to_string())
        });
    }
    value
}

/// Whether `given` is contained in `actual` (see [`settings_match`]).
fn contains(given: &Value, actual: &Value) -> bool {
    match (given, actual) {
        (Value::Object(given), Value::Object(actual)) => {
            given.iter().all(|(key, value)| match actual.get(key) {
                Some(have) => contains(value, have),
                None => value.is_null(),
            })
        }
        (Value::Array(given), Value::Array(actual)) if keyed_by_id(given) => {
            given.iter().all(|element| {
                by_id(actual, &element["Id"]).is_some_and(|have| contains(element, have))
            })
        }
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => canonical(given) == canonical(actual),
    }
}

/// `actual` restricted to the shape of `given` (see [`project_settings`]).
fn project(given: &Value, actual: &Value) -> Value {
    if contains(given, actual) {
        return given.clone();
    }
    match (given, actual) {
        (Value::Object(given), Value::Object(actual)) => Value::Object(
            given
                .iter()
                .filter_map(|(key, value)| {
                    actual
                        .get(key)
                        .map(|have| (key.clone(), project(value, have)))
                })
                .collect(),
        ),
        (Value::Array(given), Value::Array(actual)) if keyed_by_id(given) => Value::Array(
            given
                .iter()
                .filter_map(|element| {
                    by_id(actual, &element["Id"]).map(|have| project(element, have))
                })
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// An array of objects that each have a distinct string `Id`.
fn keyed_by_id(items: &[Value]) -> bool {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|item| item.get("Id").and_then(Value::as_str))
        .collect();
    !items.is_empty()
        && ids.len() == items.len()
        && ids.iter().enumerate().all(|(i, id)| !ids[..i].contains(id))
}

fn by_id<'a>(items: &'a [Value], id: &Value) -> Option<&'a Value> {
    items.iter().find(|item| item.get("Id") == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_sorts_keys_and_drops_whitespace() {
        assert_eq!(
            normalize_json("{ \"b\": 1,\n \"a\": { \"d\": [1, 2], \"c\": null } }").unwrap(),
            r#"{"a":{"c":null,"d":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn normalize_says_where_the_json_is_broken() {
        let err = normalize_json("{\n  \"rules\": [\n}").unwrap_err();
        assert!(err.contains("line 3 column 1"), "{err}");
    }

    #[test]
    fn mappings_equal_regardless_of_rule_order_and_id_type() {
        let a = r#"{"rules":[
            {"rule-type":"selection","rule-id":"1","rule-name":"1","object-locator":{"schema-name":"shop","table-name":"%"},"rule-action":"include"},
            {"rule-type":"selection","rule-id":"2","rule-name":"2","object-locator":{"schema-name":"audit","table-name":"%"},"rule-action":"exclude"}]}"#;
        let b = r#"{"rules":[
            {"rule-id":2,"rule-name":2,"rule-type":"selection","object-locator":{"table-name":"%","schema-name":"audit"},"rule-action":"exclude"},
            {"rule-id":1,"rule-name":"1","rule-type":"selection","object-locator":{"schema-name":"shop","table-name":"%"},"rule-action":"include"}]}"#;
        assert!(json_equal(a, b));
        let c = b.replace("exclude", "include");
        assert!(!json_equal(a, &c));
    }

    #[test]
    fn json_equal_compares_other_arrays_in_order() {
        assert!(json_equal(r#"{"a":[1,2]}"#, r#"{ "a" : [1,2] }"#));
        assert!(!json_equal(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#));
        assert!(!json_equal("not json", r#"{"a":1}"#));
    }

    #[test]
    fn settings_match_ignores_server_defaults() {
        let given =
            r#"{"Logging":{"EnableLogging":true},"TargetMetadata":{"BatchApplyEnabled":false}}"#;
        let actual = r#"{"Logging":{"EnableLogging":true,"EnableLogContext":false,"CloudWatchLogGroup":"dms-tasks-x"},
            "TargetMetadata":{"BatchApplyEnabled":false,"LobMaxSize":32},"FullLoadSettings":{"CommitRate":10000}}"#;
        assert!(settings_match(given, actual));
        assert!(!settings_match(
            r#"{"TargetMetadata":{"BatchApplyEnabled":true}}"#,
            actual
        ));
        assert!(!settings_match(r#"{"Missing":{"X":1}}"#, actual));
        assert!(settings_match(
            r#"{"Logging":{"CloudWatchLogStream":null}}"#,
            actual
        ));
        assert!(!settings_match("{", actual));
    }

    #[test]
    fn settings_match_compares_arrays_whole_except_log_components_by_id() {
        let actual = r#"{"Logging":{"LogComponents":[
            {"Id":"SOURCE_UNLOAD","Severity":"LOGGER_SEVERITY_DEFAULT"},
            {"Id":"TARGET_APPLY","Severity":"LOGGER_SEVERITY_DEBUG"}]},
            "Rules":[1,2,3]}"#;
        assert!(settings_match(
            r#"{"Logging":{"LogComponents":[{"Id":"TARGET_APPLY","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#,
            actual
        ));
        assert!(!settings_match(
            r#"{"Logging":{"LogComponents":[{"Id":"SOURCE_UNLOAD","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#,
            actual
        ));
        assert!(settings_match(r#"{"Rules":[1,2,3]}"#, actual));
        assert!(!settings_match(r#"{"Rules":[1,2]}"#, actual));
    }

    #[test]
    fn projected_settings_show_what_aws_has_for_the_given_keys() {
        let actual = r#"{"TargetMetadata":{"BatchApplyEnabled":true,"LobMaxSize":32},
            "Logging":{"EnableLogging":false,"LogComponents":[{"Id":"IO","Severity":"LOGGER_SEVERITY_DEFAULT"},{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEFAULT"}]}}"#;
        let given = r#"{"TargetMetadata":{"BatchApplyEnabled":false},
            "Logging":{"LogComponents":[{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEBUG"}]}}"#;
        assert_eq!(
            project_settings(given, actual),
            r#"{"Logging":{"LogComponents":[{"Id":"SORTER","Severity":"LOGGER_SEVERITY_DEFAULT"}]},"TargetMetadata":{"BatchApplyEnabled":true}}"#
        );
        let matching = r#"{"TargetMetadata":{"LobMaxSize":32}}"#;
        assert_eq!(
            project_settings(matching, actual),
            normalize_json(matching).unwrap()
        );
    }
}
