//! `terraform-provider-unifiedetl`: a Terraform provider (plugin protocol 6) whose one resource,
//! `unifiedetl_pipeline`, manages a whole real-time CDC pipeline on AWS as one unit.
//!
//! Layout mirrors the pipeline: one module per AWS component (`kinesis`, `dynamodb`, `iam`,
//! `lambda`), each owning its finders, create/update/delete, waiters and expand/flatten
//! helpers; `pipeline` is the composite resource that orchestrates them and never calls the SDK
//! itself.

mod artifact;
mod aws;
mod dynamodb;
mod iam;
mod kinesis;
mod lambda;
mod pipeline;
mod provider;
mod schema;
mod tags;
mod wait;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tf_provider::serve("unifiedetl", provider::UnifiedEtlProvider::default()).await
}
