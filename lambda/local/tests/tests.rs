//! The local pipeline's integration suites, one binary: the load generator ([`load`]), the event
//! source runner ([`runner`]) and the whole local pipeline on the sample's data
//! ([`sample_pipeline`]). One suite: `cargo test -p unifiedetl-local --test local runner::`.

mod load;
mod runner;
mod sample_pipeline;
