//! The names the pipeline gives what the configuration leaves unnamed (deterministic, so known
//! at plan time and found again by import).

/// The reference bucket a pipeline creates when none is named.
pub fn default_reference_bucket(pipeline: &str, account: &str) -> String {
    format!(
        "{}-reference-{account}",
        pipeline.to_ascii_lowercase().replace('_', "-")
    )
}

/// The object key a lookup's file is uploaded to.
pub fn reference_key(lookup: &str) -> String {
    format!("reference/{lookup}.json")
}

/// The dead-letter bucket a pipeline creates when none is named: bucket names are global, so
/// the account id makes it unique; lowercase because S3 requires it.
pub fn default_dead_letter_bucket(pipeline: &str, account: &str) -> String {
    format!(
        "{}-dlq-{account}",
        pipeline.to_ascii_lowercase().replace('_', "-")
    )
}
