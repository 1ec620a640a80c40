//! The function's settings, read once at cold start from its environment.
//!
//! Every problem is reported with the variable's name, the offending value and how to fix it, so
//! a misconfigured deployment fails its first invocation with a message that says what to change.

use std::time::Duration;

use thiserror::Error;

use crate::decode::{KeyAttribute, KeySchema, KeyType};
use crate::version::VersionAttribute;

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
/// The S3 bucket poison records are written to.
pub const DEAD_LETTER_BUCKET: &str = "DEAD_LETTER_BUCKET";
/// The key prefix of dead letters in [`DEAD_LETTER_BUCKET`].
pub const DEAD_LETTER_PREFIX: &str = "DEAD_LETTER_PREFIX";
/// The attribute that orders versions of a row; turns on conditional writes.
pub const VERSION_ATTRIBUTE: &str = "VERSION_ATTRIBUTE";
/// Set by Lambda: the function's name, the metrics' `FunctionName` dimension.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

const DEFAULT_WRITE_CONCURRENCY: usize = 4;
/// Far above anything useful for one function instance; a typo such as `4000` is caught.
const MAX_WRITE_CONCURRENCY: usize = 64;
/// Leaves time to send the partial batch response (and, later, dead letters) after the last
/// retry gives up.
const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(1000);
/// Where dead letters go in the bucket unless told otherwise (the provider's default too).
pub const DEFAULT_DEAD_LETTER_PREFIX: &str = "dead-letter/";
/// A dead letter's key is the prefix plus at most 273 bytes (`yyyy/mm/dd/`, a shard id and a
/// sequence number of up to 128 characters each, `/`, `.json`); S3 keys end at 1024 bytes.
const MAX_DEAD_LETTER_PREFIX_BYTES: usize = 700;
/// The metrics' dimension outside Lambda (which always sets `AWS_LAMBDA_FUNCTION_NAME`).
const DEFAULT_FUNCTION_NAME: &str = "unifiedetl-lambda";

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
    /// Where poison records go; `None` keeps them in the batch response.
    pub dead_letter: Option<DeadLetterConfig>,
    /// The version attribute, when stale replays must not overwrite newer rows.
    pub version: Option<VersionAttribute>,
    /// The function's name, for the metrics.
    pub function_name: String,
}

/// The dead-letter location: `s3://<bucket>/<prefix>…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterConfig {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix, used as given (`dead-letter/` → `dead-letter/2024/…`).
    pub prefix: String,
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
    /// A variable holds a document with a mistake, described in full (the value is not
    /// repeated: it may be long).
    #[error("environment variable `{var}` {message}")]
    Described {
        /// The variable's name.
        var: &'static str,
        /// What is wrong and how to fix it.
        message: String,
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

        let prefix = get(DEAD_LETTER_PREFIX)
            .map(|value| parse_dead_letter_prefix(&value))
            .transpose()?;
        let dead_letter = match (get(DEAD_LETTER_BUCKET), prefix) {
            (Some(bucket), prefix) => Some(DeadLetterConfig {
                bucket: parse_bucket(&bucket)?,
                prefix: prefix.unwrap_or_else(|| DEFAULT_DEAD_LETTER_PREFIX.to_string()),
            }),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: DEAD_LETTER_BUCKET,
                    hint: "DEAD_LETTER_PREFIX is set, so the bucket must be named too \
                           (or unset both to report poison records as batch item failures)",
                })
            }
        };

        let version = get(VERSION_ATTRIBUTE)
            .map(|value| parse_version(&value))
            .transpose()?;
        if let (Some(version), Some(keys)) = (&version, &keys) {
            check_version_is_not_a_key(version, keys)?;
        }

        Ok(Config {
            table: table.trim().to_string(),
            keys,
            write_concurrency,
            deadline_margin,
            dead_letter,
            version,
            function_name: get(AWS_LAMBDA_FUNCTION_NAME)
                .unwrap_or_else(|| DEFAULT_FUNCTION_NAME.to_string()),
        })
    }
}

/// A key attribute cannot order versions: every write of an item carries the same key, so no
/// version would ever be newer than the stored one.
pub fn check_version_is_not_a_key(
    version: &VersionAttribute,
    keys: &KeySchema,
) -> Result<(), ConfigError> {
    let is_key = keys.partition.name == version.name
        || keys
            .sort
            .as_ref()
            .is_some_and(|sort| sort.name == version.name);
    if is_key {
        return Err(ConfigError::Invalid {
            var: VERSION_ATTRIBUTE,
            value: version.name.clone(),
            hint: "the version attribute must not be one of the table's key attributes; \
                   name the attribute that orders changes of a row, e.g. `event_ts`",
        });
    }
    Ok(())
}

/// Parses `name`, `name:N` or `name:S`. Untyped, a number or a string is accepted; typed,
/// a record whose version has the other type is poison.
fn parse_version(value: &str) -> Result<VersionAttribute, ConfigError> {
    let attribute = parse_key(VERSION_ATTRIBUTE, value)?;
    Ok(VersionAttribute {
        name: attribute.name,
        value_type: attribute.key_type,
    })
}

/// Checks a general purpose bucket name against S3's naming rules, so that a typo fails the
/// cold start rather than the first dead letter.
fn parse_bucket(value: &str) -> Result<String, ConfigError> {
    let bucket = value.trim();
    let invalid = |hint| ConfigError::Invalid {
        var: DEAD_LETTER_BUCKET,
        value: value.to_string(),
        hint,
    };
    if bucket.starts_with("s3://") || bucket.starts_with("arn:") || bucket.contains('/') {
        return Err(invalid(
            "expected the bucket's name alone (e.g. `orders-dlq-123456789012`), not a URL, \
             ARN or path; set the key prefix with DEAD_LETTER_PREFIX",
        ));
    }
    let rules = "an S3 bucket name is 3 to 63 lowercase letters, digits, dots and hyphens, \
                 starts and ends with a letter or digit, has no `..` and is not an IP address";
    let bytes = bucket.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    let alphanumeric =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bytes.len())
        || !bytes.iter().all(allowed)
        || !alphanumeric(bytes.first())
        || !alphanumeric(bytes.last())
        || bucket.contains("..")
        || bucket.parse::<std::net::Ipv4Addr>().is_ok()
    {
        return Err(invalid(rules));
    }
    const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
    const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if RESERVED_PREFIXES.iter().any(|p| bucket.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| bucket.ends_with(s))
    {
        return Err(invalid(
            "the name uses a prefix or suffix S3 reserves for access points, directory and \
             table buckets; name a general purpose bucket",
        ));
    }
    Ok(bucket.to_string())
}

/// The prefix is used verbatim (`dead-letter/` → `dead-letter/2024/05/01/…`), as S3 and
/// Firehose prefixes are; only what would make an odd or over-long key is refused.
fn parse_dead_letter_prefix(value: &str) -> Result<String, ConfigError> {
    let invalid = |hint| ConfigError::Invalid {
        var: DEAD_LETTER_PREFIX,
        value: value.to_string(),
        hint,
    };
    if value.starts_with('/') {
        return Err(invalid(
            "S3 keys do not start with `/`; write the prefix without it, e.g. `dead-letter/`",
        ));
    }
    if value.len() > MAX_DEAD_LETTER_PREFIX_BYTES {
        return Err(invalid(
            "at most 700 bytes, so that every dead letter's key fits S3's 1024-byte limit",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("control characters are not allowed in the prefix"));
    }
    Ok(value.to_string())
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
        assert_eq!(config.dead_letter, None);
        assert_eq!(config.version, None);
        assert_eq!(config.function_name, "unifiedetl-lambda");
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

    #[test]
    fn dead_letter_bucket_gets_the_default_prefix() {
        let config = config(&[
            (SINK_TABLE, "t"),
            (DEAD_LETTER_BUCKET, "orders-dlq-123456789012"),
        ])
        .unwrap();
        assert_eq!(
            config.dead_letter,
            Some(DeadLetterConfig {
                bucket: "orders-dlq-123456789012".into(),
                prefix: "dead-letter/".into(),
            })
        );
        let config = config_with_prefix("poison/orders/");
        assert_eq!(
            config.unwrap().dead_letter.unwrap().prefix,
            "poison/orders/"
        );
    }

    fn config_with_prefix(prefix: &str) -> Result<Config, ConfigError> {
        config(&[
            (SINK_TABLE, "t"),
            (DEAD_LETTER_BUCKET, "my.bucket-1"),
            (DEAD_LETTER_PREFIX, prefix),
        ])
    }

    #[test]
    fn bad_bucket_names_name_the_variable_and_value() {
        let long = "a".repeat(64);
        for bad in [
            "ab",
            long.as_str(),
            "Orders",
            "orders_dlq",
            "-orders",
            "orders-",
            "my..bucket",
            "192.168.5.4",
            "s3://orders-dlq",
            "arn:aws:s3:::orders-dlq",
            "orders-dlq/dead-letter",
            "xn--orders",
            "orders--x-s3",
            "orders-s3alias",
        ] {
            let err = config(&[(SINK_TABLE, "t"), (DEAD_LETTER_BUCKET, bad)]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("DEAD_LETTER_BUCKET"), "{message}");
            assert!(message.contains(bad), "{message}");
        }
        for good in [
            "abc",
            "orders-dlq-123456789012",
            "my.bucket.1",
            &"a".repeat(63),
        ] {
            config(&[(SINK_TABLE, "t"), (DEAD_LETTER_BUCKET, good)])
                .unwrap_or_else(|err| panic!("{good}: {err}"));
        }
    }

    #[test]
    fn bad_prefixes_name_the_variable() {
        for bad in ["/dead-letter/", "dead\nletter/", &"p".repeat(701)] {
            let err = config_with_prefix(bad).unwrap_err();
            assert!(err.to_string().contains("DEAD_LETTER_PREFIX"), "{err}");
        }
        // Used verbatim, as S3 prefixes are.
        assert_eq!(
            config_with_prefix("dlq-")
                .unwrap()
                .dead_letter
                .unwrap()
                .prefix,
            "dlq-"
        );
    }

    #[test]
    fn a_prefix_without_a_bucket_is_rejected() {
        let err = config(&[(SINK_TABLE, "t"), (DEAD_LETTER_PREFIX, "dl/")]).unwrap_err();
        assert!(err.to_string().contains("DEAD_LETTER_BUCKET"), "{err}");
    }

    #[test]
    fn version_attribute_accepts_an_optional_type() {
        let version = |value: &str| {
            config(&[(SINK_TABLE, "t"), (VERSION_ATTRIBUTE, value)])
                .unwrap()
                .version
                .unwrap()
        };
        assert_eq!(
            version("event_ts"),
            VersionAttribute {
                name: "event_ts".into(),
                value_type: KeyType::StringOrNumber
            }
        );
        assert_eq!(version("version:N").value_type, KeyType::N);
        assert_eq!(version("updated:S").value_type, KeyType::S);
        for bad in [":N", "v:B"] {
            let err = config(&[(SINK_TABLE, "t"), (VERSION_ATTRIBUTE, bad)]).unwrap_err();
            assert!(err.to_string().contains("VERSION_ATTRIBUTE"), "{err}");
        }
    }

    #[test]
    fn version_attribute_must_not_be_a_key() {
        for key in ["orderId", "itemId"] {
            let err = config(&[
                (SINK_TABLE, "t"),
                (SINK_PARTITION_KEY, "orderId:N"),
                (SINK_SORT_KEY, "itemId:N"),
                (VERSION_ATTRIBUTE, key),
            ])
            .unwrap_err();
            let message = err.to_string();
            assert!(message.contains("VERSION_ATTRIBUTE"), "{message}");
            assert!(message.contains(key), "{message}");
        }
    }

    #[test]
    fn function_name_comes_from_lambda() {
        let config = config(&[
            (SINK_TABLE, "t"),
            (AWS_LAMBDA_FUNCTION_NAME, "orders-persist"),
        ])
        .unwrap();
        assert_eq!(config.function_name, "orders-persist");
    }
}
