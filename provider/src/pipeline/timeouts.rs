//! The `timeouts` block: how long create, update and delete may take, in Go's duration syntax as
//! Terraform's own `timeouts` blocks read them; validated at plan time, read at apply and destroy.

use std::time::Duration;

use crate::schema::{group, optional};
use tf_provider::schema::{AttributeType, NestedBlock};
use tf_provider::value::Value;
use tf_provider::Diagnostics;

use super::state::{Str, TimeoutsBlock};
use super::values::path;

/// The block's schema.
pub fn schema() -> NestedBlock {
    group(
        "How long an apply may wait for components to settle, as Go durations (`40m`, `1h30m`). A DMS replication instance takes 10 minutes or more on AWS.",
        vec![
            ("create", optional(AttributeType::String, "Creating the pipeline (default `60m`).")),
            ("update", optional(AttributeType::String, "Updating it (default `60m`).")),
            ("delete", optional(AttributeType::String, "Destroying it (default `40m`).")),
        ],
    )
}

/// How long each lifecycle step may wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub create: Duration,
    pub update: Duration,
    pub delete: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            create: Duration::from_secs(60 * 60),
            update: Duration::from_secs(60 * 60),
            delete: Duration::from_secs(40 * 60),
        }
    }
}

/// Go-style durations as Terraform users write them (`40m`, `1h30m`, `90s`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            if d.is_zero() {
                Err("it must be longer than zero".to_string())
            } else {
                Ok(d)
            }
        })
}

/// The timeouts from the `timeouts` block; invalid values are reported by [`validate_timeouts`]
/// and fall back to the defaults here.
pub fn timeouts(t: &TimeoutsBlock) -> Timeouts {
    let defaults = Timeouts::default();
    let get = |v: &Str, default: Duration| {
        v.as_ref_option()
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or(default)
    };
    Timeouts {
        create: get(&t.create, defaults.create),
        update: get(&t.update, defaults.update),
        delete: get(&t.delete, defaults.delete),
    }
}

pub fn validate_timeouts(t: &TimeoutsBlock, diags: &mut Diagnostics) {
    for (attr, value) in [
        ("create", &t.create),
        ("update", &t.update),
        ("delete", &t.delete),
    ] {
        if let Value::Value(text) = value {
            if let Err(why) = parse_duration(text) {
                diags.error(
                    format!("invalid timeouts.{attr}"),
                    format!("`timeouts.{attr}` \"{text}\" is not a duration ({why}): write it like `40m` or `1h30m`"),
                    path("timeouts", attr),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::values::text;

    #[test]
    fn timeouts_read_go_style_durations() {
        let t = timeouts(&TimeoutsBlock {
            create: text("1h30m"),
            update: text("45m"),
            delete: Value::Null,
        });
        assert_eq!(t.create, Duration::from_secs(5400));
        assert_eq!(t.update, Duration::from_secs(2700));
        assert_eq!(t.delete, Timeouts::default().delete);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
