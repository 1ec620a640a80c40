//! The persist function's deployment package.
//!
//! The provider ships the function beside its own executable (`make install` puts
//! `unifiedetl-lambda-<arch>.zip` next to `terraform-provider-unifiedetl_v<version>` in the
//! filesystem mirror), so users never build it. `persist.artifact` may name another zip. The
//! package's SHA-256 is what the state records, so a new build shows as an in-place update.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use sha2::{Digest, Sha256};

/// A deployment package read into memory, with its hash in Lambda's `CodeSha256` form.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub zip: Arc<Vec<u8>>,
    pub sha256: String,
}

/// Where the bundled package for `architecture` lives: beside the provider executable.
pub fn bundled_path(architecture: &str) -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(format!("unifiedetl-lambda-{architecture}.zip"))
}

/// Reads a package and hashes it.
pub fn load(path: &Path) -> std::io::Result<Artifact> {
    let zip = std::fs::read(path)?;
    Ok(Artifact {
        sha256: code_sha256(&zip),
        zip: Arc::new(zip),
    })
}

/// Base64 of the SHA-256 digest: how Lambda reports `CodeSha256`.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sha256_matches_lambdas_encoding() {
        // sha256("") in base64, as Lambda would report it for an empty package.
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
