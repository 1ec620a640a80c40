//! The persist function's deployment package.
//!
//! The provider ships the function beside its own executable (`make install` puts
//! `unifiedetl-lambda-<arch>.zip` next to `terraform-provider-unifiedetl_v<version>` in the
//! filesystem mirror), so users never build it. `persist.artifact` may name another zip. The
//! package's SHA-256 is what the state records, so a new build shows as an in-place update.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

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

/// Lambda's architectures, each of which a package can be bundled for.
pub const ARCHITECTURES: [&str; 2] = ["arm64", "x86_64"];

/// A package file as it was when read: path, length, modification time.
type Version = (PathBuf, u64, Option<SystemTime>);
/// Packages as this process read them (or failed to).
type Loaded = Mutex<HashMap<Version, Arc<OnceLock<Result<Artifact, String>>>>>;

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Reads a package and hashes it, once per process for a file that has not changed: the
/// plan and the apply that follows it in one process share the read, and [`prefetch_bundled`]
/// may have done it already (a caller arriving while it runs waits for it).
pub fn load(path: &Path) -> std::io::Result<Artifact> {
    let meta = std::fs::metadata(path)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let cell = loaded()
        .lock()
        .map_err(|_| std::io::Error::other("the package cache is poisoned"))?
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let zip = std::fs::read(path).map_err(|e| e.to_string())?;
        Ok(Artifact {
            sha256: content_hash(&zip),
            zip: Arc::new(zip),
        })
    })
    .clone()
    .map_err(std::io::Error::other)
}

/// Starts reading and hashing the bundled packages in the background (called when Terraform
/// configures the provider, so that the plan finds the hash ready, the reads of a refresh
/// having run meanwhile).
pub fn prefetch_bundled() {
    std::thread::spawn(|| {
        for architecture in ARCHITECTURES {
            let path = bundled_path(architecture);
            if path.is_file() {
                let _ = load(&path);
            }
        }
    });
}

/// Base64 of the SHA-256 digest: how Lambda reports `CodeSha256` of a package, and the hash the
/// state keeps of each reference object.
pub fn content_hash(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_read_again_once_it_changes() {
        let dir = std::env::temp_dir().join(format!("unifiedetl-artifact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("package.zip");
        std::fs::write(&path, b"one").unwrap();
        let first = load(&path).unwrap();
        assert_eq!(first.sha256, content_hash(b"one"));
        assert!(Arc::ptr_eq(&first.zip, &load(&path).unwrap().zip));
        std::fs::write(&path, b"second build").unwrap();
        assert_eq!(load(&path).unwrap().sha256, content_hash(b"second build"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load(&path).is_err());
    }

    #[test]
    fn code_sha256_matches_lambdas_encoding() {
        // sha256("") in base64, as Lambda would report it for an empty package.
        assert_eq!(
            content_hash(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
