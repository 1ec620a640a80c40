//! `terraform-provider-unifiedetl`: a Terraform provider (plugin protocol 6) whose one resource,
//! `unifiedetl_pipeline`, manages a whole real-time CDC pipeline on AWS as one unit.
//!
//! Layout: `aws/` holds one module per AWS service (`kinesis`, `dynamodb`, `dms`, `firehose`,
//! `iam`, `kinesisanalytics`, `lambda`, `s3`), each owning its finders, create/update/delete,
//! waiters and expand/flatten helpers; `pipeline/` is the composite resource, one module per
//! block, which orchestrates them and never calls the SDK itself.

mod artifact;
mod aws;
mod kda_sql;
mod pipeline;
mod provider;
mod schema;
#[cfg(unix)]
mod transport;
mod wait;

fn main() -> anyhow::Result<()> {
    // tf-provider appends a backtrace to every diagnostic when backtraces are enabled (many
    // shells set RUST_BACKTRACE=1): users should read the sentence, not a stack. Set before any
    // thread exists.
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    // Before tf-provider prints its handshake: Terraform's connection without Nagle's delays.
    #[cfg(unix)]
    transport::nodelay_after_handshake();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // A pipeline's apply is one deep future (every component's calls joined): 8 MiB per
        // worker instead of 2 keeps debug builds clear of stack overflows.
        .thread_stack_size(8 * 1024 * 1024)
        .build()?;
    runtime.spawn(aws::warm_up());
    // Ctrl-C in a terminal reaches Terraform's plugins too (they share its process group). By
    // default it would end this process mid-apply, losing what the apply made; Terraform itself
    // stops gracefully and waits for the provider's answer. So the signal ends every wait and
    // retry instead: the apply in progress returns what exists, and Terraform saves it.
    runtime.spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            wait::stop();
        }
    });
    let served = runtime.block_on(tf_provider::serve(
        "unifiedetl",
        provider::UnifiedEtlProvider::default(),
    ));
    // Terraform has had every answer by now and waits for the process to end, at the close of
    // every walk: end it without taking down the runtime, its idle connections and the SDK
    // clients piece by piece first.
    match served {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("Error: {e:?}");
            std::process::exit(1)
        }
    }
}
