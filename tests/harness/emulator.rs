//! A private instance of the local AWS emulator (moto plus the project's extensions), started
//! through `tests/emulator/launcher.py` on a free port of 127.0.0.1 and killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::repo_root;

/// A running emulator; every test gets its own so tests run in parallel.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub port: u16,
}

impl Emulator {
    /// Starts an emulator on a free port and waits until it answers.
    pub fn start() -> Result<Emulator> {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        if !python.exists() {
            bail!(
                "{} is missing: run `make setup` (or `make test`) first",
                python.display()
            );
        }
        let port = free_port()?;
        let child = Command::new(&python)
            .arg(root.join("tests/emulator/launcher.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the emulator")?;
        let mut emulator = Emulator {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        emulator.wait_ready(Duration::from_secs(60))?;
        Ok(emulator)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the emulator exited before it was ready ({status})");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the emulator did not answer on port {} within {timeout:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An SDK configuration pointed at this emulator with fake credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_at(&self.endpoint, "us-east-1").await
    }

    /// Environment for child processes (Terraform, the function binary) that should talk to
    /// this emulator and nothing else.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("CHECKPOINT_DISABLE", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (the OS picks it).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Creates an on-demand table keyed by `hash` and `range`, both of `attribute_type` (`S`, `N`).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    (hash, range): (&str, &str),
    attribute_type: aws_sdk_dynamodb::types::ScalarAttributeType,
) -> Result<()> {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType};
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(attribute_type.clone())
            .build()
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute(hash)?)
        .attribute_definitions(attribute(range)?)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(range, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .with_context(|| format!("creating table {table}"))?;
    Ok(())
}

/// An SDK configuration pointed at an emulator's `endpoint` in `region`, with the fake
/// credentials the emulator accepts and the workspace's one HTTP stack (hyper 1, rustls/ring).
pub async fn sdk_config_at(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .load()
        .await
}
