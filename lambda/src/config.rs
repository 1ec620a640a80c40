//! The function's settings, read once at cold start from its environment.
//!
//! Every problem is reported with the variable's name, the offending value and how to fix it, so
//! a misconfigured deployment fails its first invocation with a message that says what to change.

use std::time::Duration;

use thiserror::Error;

use crate::decode::{KeyAttribute, KeySchema, KeyType};

/// The DynamoDB table the rows are written to.
pub const SINK_TABLE: &str = "SINK_TABLE";
/// The table's partition key, `name` or `name:S` / `name:N`.
pub const SINK_PARTITION_KEY: &str = "SINK_PARTITION_KEY";
/// The table's sort key, same syntax as [`SINK_PARTITION_KEY`]; only with it.
pub const SINK_SORT_KEY: &str = "SINK_SORT_KEY";
/// How many BatchWriteItem calls may be in flight at once.
pub const WRITE_CONCURRENCY: &str = "WRITE_CONCURRENCY";
/// Milliseconds before the invocation deadline at which retries stop.
pub const DEADLINE_MARGIN_MS: &str = "DEADLINE_MARGIN_MS";

const DEFAULT_WRITE_CONCURRENCY: usize = 4;
/// Far above anything useful for one function instance; a typo such as `4000` is caught.
const MAX_WRITE_CONCURRENCY: usize = 64;
/// Leaves time to send the partial batch response (and, later, dead letters) after the last
/// retry gives up.
const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(1000);

/// Settings read from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Target table name.
    pub table: String,
    /// The key schema when the environment names it; `None` means "ask DynamoDB at cold start".
    pub keys: Option<KeySchema>,
    /// Upper bound on concurrent BatchWriteItem calls per invocation.
    pub write_concurrency: usize,
    /// Retries stop this long before the invocation deadline.
    pub deadline_margin: Duration,
}

/// A setting is missing or malformed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is absent or empty.
    #[error("environment variable `{var}` is required: {hint}")]
    Missing {
        /// The variable's name.
        var: &'static str,
        /// What it should contain.
        hint: &'static str,
    },
    /// A variable holds a value that cannot be used.
    #[error("environment variable `{var}` is {value:?}: {hint}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        hint: &'static str,
    },
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set
    /// (separate from [`Config::from_env`] so tests need not touch the process environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // An empty variable is what a Terraform `""` default produces: treat it as unset.
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let table = get(SINK_TABLE).ok_or(ConfigError::Missing {
            var: SINK_TABLE,
            hint: "set it to the name of the DynamoDB table the rows are written to",
        })?;

        let partition = get(SINK_PARTITION_KEY)
            .map(|value| parse_key(SINK_PARTITION_KEY, &value))
            .transpose()?;
        let sort = get(SINK_SORT_KEY)
            .map(|value| parse_key(SINK_SORT_KEY, &value))
            .transpose()?;
        let keys = match (partition, sort) {
            (Some(partition), sort) => Some(KeySchema { partition, sort }),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: SINK_PARTITION_KEY,
                    hint: "SINK_SORT_KEY is set, so the partition key must be named too \
                           (or unset both to read the key schema from the table)",
                })
            }
        };

        let write_concurrency = match get(WRITE_CONCURRENCY) {
            None => DEFAULT_WRITE_CONCURRENCY,
            Some(value) => value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_WRITE_CONCURRENCY).contains(n))
                .ok_or(ConfigError::Invalid {
                    var: WRITE_CONCURRENCY,
                    value,
                    hint: "expected a whole number from 1 to 64 (default 4)",
                })?,
        };

        let deadline_margin = match get(DEADLINE_MARGIN_MS) {
            None => DEFAULT_DEADLINE_MARGIN,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| ConfigError::Invalid {
                    var: DEADLINE_MARGIN_MS,
                    value,
                    hint: "expected a whole number of milliseconds (default 1000)",
                })?,
        };

        Ok(Config {
            table: table.trim().to_string(),
            keys,
            write_concurrency,
            deadline_margin,
        })
    }
}

/// Parses `name`, `name:S` or `name:N`. Without a type, string and number values are both
/// accepted and DynamoDB has the last word; with one, mismatching records are caught before the
/// write, so one bad record cannot fail the 24 others sharing its BatchWriteItem call.
fn parse_key(var: &'static str, value: &str) -> Result<KeyAttribute, ConfigError> {
    let value = value.trim();
    let (name, key_type) = match value.rsplit_once(':') {
        Some((name, "S")) => (name, KeyType::S),
        Some((name, "N")) => (name, KeyType::N),
        Some((_, "B")) => {
            return Err(ConfigError::Invalid {
                var,
                value: value.to_string(),
                hint: "binary (B) keys cannot be carried by JSON rows; use S or N",
            })
        }
        _ => (value, KeyType::StringOrNumber),
    };
    if name.is_empty() {
        return Err(ConfigError::Invalid {
            var,
            value: value.to_string(),
            hint: "expected an attribute name, optionally followed by `:S` or `:N`",
        });
    }
    Ok(KeyAttribute {
        name: name.to_string(),
        key_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn table_alone_uses_defaults_and_asks_dynamodb_for_keys() {
        let config = config(&[(SINK_TABLE, "orders")]).unwrap();
        assert_eq!(config.table, "orders");
        assert_eq!(config.keys, None);
        assert_eq!(config.write_concurrency, 4);
        assert_eq!(config.deadline_margin, Duration::from_secs(1));
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = config(&[(SINK_PARTITION_KEY, "id")]).unwrap_err();
        assert!(err.to_string().contains("SINK_TABLE"), "{err}");
        let err = config(&[(SINK_TABLE, "  ")]).unwrap_err();
        assert!(err.to_string().contains("SINK_TABLE"), "{err}");
    }

    #[test]
    fn keys_accept_an_optional_type() {
        let config = config(&[
            (SINK_TABLE, "t"),
            (SINK_PARTITION_KEY, "orderId:N"),
            (SINK_SORT_KEY, "itemId"),
        ])
        .unwrap();
        let keys = config.keys.unwrap();
        assert_eq!(keys.partition.name, "orderId");
        assert_eq!(keys.partition.key_type, KeyType::N);
        let sort = keys.sort.unwrap();
        assert_eq!(sort.name, "itemId");
        assert_eq!(sort.key_type, KeyType::StringOrNumber);
    }

    #[test]
    fn sort_key_without_partition_key_is_rejected() {
        let err = config(&[(SINK_TABLE, "t"), (SINK_SORT_KEY, "itemId")]).unwrap_err();
        assert!(err.to_string().contains("SINK_PARTITION_KEY"), "{err}");
    }

    #[test]
    fn binary_keys_are_rejected() {
        let err = config(&[(SINK_TABLE, "t"), (SINK_PARTITION_KEY, "id:B")]).unwrap_err();
        assert!(err.to_string().contains("SINK_PARTITION_KEY"), "{err}");
    }

    #[test]
    fn bad_write_concurrency_names_the_variable_and_value() {
        for bad in ["0", "-1", "four", "65"] {
            let err = config(&[(SINK_TABLE, "t"), (WRITE_CONCURRENCY, bad)]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("WRITE_CONCURRENCY"), "{message}");
            assert!(message.contains(bad), "{message}");
        }
        let ok = config(&[(SINK_TABLE, "t"), (WRITE_CONCURRENCY, "16")]).unwrap();
        assert_eq!(ok.write_concurrency, 16);
    }

    #[test]
    fn bad_deadline_margin_names_the_variable() {
        let err = config(&[(SINK_TABLE, "t"), (DEADLINE_MARGIN_MS, "1s")]).unwrap_err();
        assert!(err.to_string().contains("DEADLINE_MARGIN_MS"), "{err}");
    }
}
