//! Whose a component is.
//!
//! A component of the pipeline's name is the pipeline's when
//! - the state records it (its ARN is known): the pipeline made it, or found it after a
//!   failed apply by name and tag ([`super::leftovers`]);
//! - it carries the tag `unifiedetl:pipeline = <name>` (made by an apply whose state was lost);
//! - or an import named (or found) it: the import's component map is the user saying "this is
//!   the pipeline's", so the apply adopts it whatever its tags (adds the tag and the
//!   pipeline's policies, brings its settings to the configuration). Those components are kept
//!   in the resource's private state, [`Adopted`], for as long as the resource exists: refresh
//!   may null an ARN to show an update is due, and a failed first apply may leave some
//!   untagged, yet they stay the pipeline's — for the next apply and for destroy.
//!
//! Anything else of the same name — untagged, or another pipeline's — is refused: a name clash
//! on create stays an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::aws::tags::PIPELINE_TAG;
use crate::aws::{AwsError, AwsResult};

// The kinds of component, as errors and the private state name them.
pub const STREAM: &str = "Kinesis stream";
pub const TABLE: &str = "DynamoDB table";
pub const BUCKET: &str = "S3 bucket";
pub const ROLE: &str = "IAM role";
pub const FUNCTION: &str = "Lambda function";
pub const MAPPING: &str = "Lambda event source mapping";
pub const INSTANCE: &str = "DMS replication instance";
pub const SUBNET_GROUP: &str = "DMS replication subnet group";
pub const ENDPOINT: &str = "DMS endpoint";
pub const TASK: &str = "DMS replication task";
pub const APPLICATION: &str = "Kinesis Analytics application";
pub const DELIVERY_STREAM: &str = "Firehose delivery stream";

/// The components an import named or found: (kind, name) pairs. The resource's private state.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adopted {
    pub components: BTreeSet<(String, String)>,
}

impl Adopted {
    pub fn add(&mut self, kind: &str, name: &str) {
        self.components.insert((kind.to_string(), name.to_string()));
    }

    pub fn contains(&self, kind: &str, name: &str) -> bool {
        self.components
            .contains(&(kind.to_string(), name.to_string()))
    }
}

/// The pipeline an apply works for: its name, what an import adopted, and the warnings the
/// apply gathers while adopting (shown once, by the apply that adopts).
#[derive(Debug, Default)]
pub struct Owner {
    pub name: String,
    pub adopted: Adopted,
    warnings: Mutex<Vec<String>>,
}

impl Owner {
    pub fn new(name: String, adopted: Adopted) -> Owner {
        Owner {
            name,
            adopted,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Whether an import named this component (so it is the pipeline's, tagged or not).
    pub fn adopts(&self, kind: &str, name: &str) -> bool {
        self.adopted.contains(kind, name)
    }

    /// Refuses a component of the same name that another pipeline (or nobody) owns, unless an
    /// import named it.
    pub fn check(&self, kind: &str, name: &str, tags: &BTreeMap<String, String>) -> AwsResult<()> {
        match tags.get(PIPELINE_TAG) {
            Some(owner) if *owner == self.name => Ok(()),
            _ if self.adopts(kind, name) => Ok(()),
            Some(owner) => Err(AwsError::other(format!(
                "{kind} ({name}) already exists and belongs to pipeline \"{owner}\": choose another name for this component"
            ))),
            None => Err(AwsError::other(format!(
                "{kind} ({name}) already exists and is not part of a unifiedetl pipeline: choose another name, delete it, or import the pipeline naming it in a component map (`terraform import … 'name={},{}'`)",
                self.name,
                import_key_hint(kind),
            ))),
        }
    }

    pub fn warn(&self, warning: String) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(warning);
    }

    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The import map's key for a kind of component, for the hint of the ownership error.
fn import_key_hint(kind: &str) -> &'static str {
    match kind {
        STREAM => "cdc_stream=…",
        TABLE => "sink=…",
        BUCKET => "dead_letter_bucket=…",
        ROLE => "role=…",
        FUNCTION => "function=…",
        INSTANCE => "replication_instance=…",
        SUBNET_GROUP => "replication_subnet_group=…",
        ENDPOINT => "source_endpoint=…",
        TASK => "replication_task=…",
        APPLICATION => "application=…",
        DELIVERY_STREAM => "delivery_stream=…",
        _ => "…",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adopted_component_is_the_pipelines_whatever_its_tags() {
        let mut adopted = Adopted::default();
        adopted.add(ROLE, "ProcessServiceRole");
        let owner = Owner::new("orders".into(), adopted);
        let untagged = BTreeMap::new();
        let theirs = BTreeMap::from([(PIPELINE_TAG.to_string(), "other".to_string())]);
        assert!(owner.check(ROLE, "ProcessServiceRole", &untagged).is_ok());
        assert!(owner.check(ROLE, "ProcessServiceRole", &theirs).is_ok());
        // Nobody named these: a clash stays an error, saying how to adopt it.
        let e = owner.check(ROLE, "Other", &untagged).unwrap_err();
        assert!(e.message.contains("role=…"), "{}", e.message);
        assert!(owner
            .check(FUNCTION, "ProcessServiceRole", &untagged)
            .is_err());
        let e = owner.check(TABLE, "t", &theirs).unwrap_err();
        assert!(e.message.contains("belongs to pipeline \"other\""));
    }

    #[test]
    fn the_private_state_round_trips() {
        let mut adopted = Adopted::default();
        adopted.add(TASK, "DMS-Repl-Task-Orders");
        let text = serde_json::to_string(&Some(adopted.clone())).unwrap();
        let back: Option<Adopted> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Some(adopted));
        // What earlier versions stored (null) reads as nothing adopted.
        let none: Option<Adopted> = serde_json::from_str("null").unwrap();
        assert_eq!(none, None);
    }
}
