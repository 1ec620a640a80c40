//! The end-to-end tests, one binary of suites (each extra test binary links the whole AWS SDK
//! again): the real Terraform CLI and the real function binary against a private emulator per
//! test, with its realism layer on. Run one suite with `cargo test -p unifiedetl-e2e --test e2e
//! <suite>::`, one test by its name.

mod common;

mod analytics_sql;
mod docs;
mod examples;
mod import_drift;
mod import_sample;
mod monitoring;
mod pipeline;
mod provider_block;
mod release;
mod source_lake;
