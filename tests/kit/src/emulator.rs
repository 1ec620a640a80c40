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
    /// Starts an emulator on a free port and waits until it answers. The realism layer is on
    /// (`EMULATOR_REALISM`, default `1`): AWS as it answers in the seconds after a change.
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
        let realism = std::env::var("EMULATOR_REALISM").unwrap_or_else(|_| "1".to_string());
        let child = Command::new(&python)
            .arg(root.join("tests/emulator/launcher.py"))
            .env("EMULATOR_REALISM", realism)
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

    /// Sets the account up as one that has used DMS: creates `dms-vpc-role`, as the first
    /// command in the provider's docs does, over the IAM query API (callable before any async
    /// runtime). The second command attaches AWS's managed policy, which moto does not load (it
    /// never evaluates policies anyway).
    pub fn create_dms_vpc_role(&self) -> Result<()> {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"dms.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.iam_call(&[
            ("Action", "CreateRole"),
            ("RoleName", "dms-vpc-role"),
            ("AssumeRolePolicyDocument", trust),
        ])
    }

    /// One IAM query-API call (`Action=…&…`) to this emulator; an error answer is an error.
    fn iam_call(&self, params: &[(&str, &str)]) -> Result<()> {
        let mut body = String::from("Version=2010-05-08");
        for (key, value) in params {
            body.push_str(&format!("&{key}={}", urlencoding::encode(value)));
        }
        let (status, answer) = self.post(
            "/",
            "application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            &body,
        )?;
        if status != 200 {
            bail!("IAM {params:?} on the emulator answered {status}: {answer}");
        }
        Ok(())
    }

    /// Changes the realism layer's settings (tests/emulator/README.md, "Realism": `classes`,
    /// `outage`, delays) and clears its counts; returns the settings with what it injected.
    pub fn realism(&self, settings: serde_json::Value) -> Result<serde_json::Value> {
        let (status, answer) = self.post(
            "/_emulator/realism",
            "application/json",
            &settings.to_string(),
        )?;
        if status != 200 {
            bail!("the emulator refused realism settings {settings}: {answer}");
        }
        Ok(serde_json::from_str(&answer)?)
    }

    /// What the realism layer injected so far, by class (`{"iam": {"<what>": count}}`).
    pub fn injected(&self) -> Result<serde_json::Value> {
        let (status, answer) = self.call("GET", "/_emulator/realism", "application/json", "")?;
        if status != 200 {
            bail!("the emulator's realism layer answered {status}: {answer}");
        }
        Ok(serde_json::from_str::<serde_json::Value>(&answer)?["injected"].clone())
    }

    fn post(&self, path: &str, content_type: &str, body: &str) -> Result<(u16, String)> {
        self.call("POST", path, content_type, body)
    }

    /// A blocking HTTP/1.1 call to this emulator: (status, body).
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, String)> {
        use std::io::{Read, Write};
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            len = body.len(),
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
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
    // As `aws dynamodb wait table-exists` would: right after CreateTable the table may be
    // "not found", then CREATING (the emulator's realism layer answers so too).
    settle(&format!("table {table} to be ACTIVE"), || async {
        let out = client.describe_table().table_name(table).send().await?;
        let active = out
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
        if active {
            Ok(())
        } else {
            Err(aws_sdk_dynamodb::error::SdkError::<
                aws_sdk_dynamodb::operation::describe_table::DescribeTableError,
                _,
            >::timeout_error("not ACTIVE yet"))
        }
    })
    .await
}

/// Calls `call` until it succeeds, for a minute at most: what a set-up script does about AWS
/// settling after a change (a resource not found yet, still CREATING, in use, a role still
/// propagating). Test fixtures use it; the provider has its own waiters.
pub async fn settle<T, E, F, Fut>(what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
    E: std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if Instant::now() > deadline => bail!("waiting for {what}: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
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
        // The realism layer throttles a share of control-plane calls, as AWS does: retried
        // like the provider's (`max_retries` 10).
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(11))
        .load()
        .await
}
