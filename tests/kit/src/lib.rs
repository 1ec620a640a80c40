//! Test harness shared by the end-to-end tests: a private emulator per test on a free port,
//! AWS SDK clients pointed at it, and (in [`terraform`]) the real Terraform CLI with the provider
//! installed into a throw-away filesystem mirror.

pub mod dms;
pub mod docs;
pub mod emulator;
pub mod function;
pub mod http;
pub mod mariadb;
pub mod runtime_api;
pub mod terraform;

pub use emulator::Emulator;
pub use function::FunctionProcess;
pub use runtime_api::RuntimeApi;
pub use terraform::Terraform;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
