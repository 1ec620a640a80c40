//! How the provider reaches AWS: its one HTTP stack (hyper 1 with rustls on ring, the hyper the
//! plugin's gRPC server already links), through the proxies and with the extra certificate
//! authorities the provider block or the environment names, as the AWS provider does:
//!
//! - `http_proxy` (else `HTTP_PROXY` / `http_proxy`) for `http://` endpoints, `https_proxy`
//!   (else `HTTPS_PROXY` / `https_proxy`) for `https://` ones (tunnelled with CONNECT), and
//!   `no_proxy` (else `NO_PROXY` / `no_proxy`): hosts, domains and addresses reached directly;
//! - `custom_ca_bundle` (else `AWS_CA_BUNDLE`): PEM certificates trusted besides the system's
//!   roots (a TLS-inspecting proxy's, a private endpoint's).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The provider block's network settings, each already resolved against its environment
/// variable (see [`Network::resolve`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    /// The PEM bundle's path.
    pub ca_bundle: Option<String>,
}

/// The first of `names` set to something in the environment.
fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

impl Network {
    /// The settings from the provider block's arguments, each falling back to its variables.
    pub fn resolve(
        http_proxy: Option<String>,
        https_proxy: Option<String>,
        no_proxy: Option<String>,
        ca_bundle: Option<String>,
    ) -> Network {
        let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        Network {
            http_proxy: given(http_proxy).or_else(|| env(&["HTTP_PROXY", "http_proxy"])),
            https_proxy: given(https_proxy).or_else(|| env(&["HTTPS_PROXY", "https_proxy"])),
            no_proxy: given(no_proxy).or_else(|| env(&["NO_PROXY", "no_proxy"])),
            ca_bundle: given(ca_bundle).or_else(|| env(&["AWS_CA_BUNDLE"])),
        }
    }

    /// The HTTP client these settings make. The error names the argument at fault and says why.
    pub fn client(&self) -> Result<SharedHttpClient, (&'static str, String)> {
        let tls = self.tls()?;
        let proxy = |attribute: &'static str, url: &Option<String>, https: bool| {
            let Some(url) = url else {
                return Ok(ProxyConfig::disabled());
            };
            let config = if https {
                ProxyConfig::https(url.as_str())
            } else {
                ProxyConfig::http(url.as_str())
            }
            .map_err(|e| {
                (
                    attribute,
                    format!("`{attribute}` is not a proxy URL ({e}): give one such as \"http://proxy.example.com:3128\""),
                )
            })?;
            Ok(match &self.no_proxy {
                Some(rules) => config.no_proxy(rules),
                None => config,
            })
        };
        Ok(SharedHttpClient::new(Client {
            http: proxy("http_proxy", &self.http_proxy, false)?,
            https: proxy("https_proxy", &self.https_proxy, true)?,
            tls,
            connectors: RwLock::new(HashMap::new()),
        }))
    }

    /// The trust store: the system's roots, plus the bundle's certificates.
    fn tls(&self) -> Result<TlsContext, (&'static str, String)> {
        let mut store = TrustStore::default();
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                (
                    "custom_ca_bundle",
                    format!("cannot read the CA bundle {path} named by `custom_ca_bundle` or AWS_CA_BUNDLE ({e}): give the path of a PEM file"),
                )
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err((
                    "custom_ca_bundle",
                    format!("the CA bundle {path} named by `custom_ca_bundle` or AWS_CA_BUNDLE holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")"),
                ));
            }
            store = store.with_pem_certificate(pem);
        }
        TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| {
                (
                    "custom_ca_bundle",
                    format!("the CA bundle cannot be used: {e}"),
                )
            })
    }
}

/// The provider's HTTP client: one connector (and connection pool) per timeout setting, as the
/// SDK's default client keeps them, each sending `http://` and `https://` requests through
/// their proxies.
#[derive(Debug)]
struct Client {
    http: ProxyConfig,
    https: ProxyConfig,
    tls: TlsContext,
    connectors: RwLock<HashMap<Timeouts, SharedHttpConnector>>,
}

/// A connector's connect and read timeouts: what its settings vary by.
type Timeouts = (Option<Duration>, Option<Duration>);

impl Client {
    fn connector(
        &self,
        proxy: &ProxyConfig,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> Connector {
        let mut builder = Connector::builder()
            .connector_settings(settings.clone())
            .proxy_config(proxy.clone());
        // The runtime's sleep (tokio's when unset) times connects and reads.
        builder.set_sleep_impl(components.sleep_impl());
        builder
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(self.tls.clone())
            .build()
    }
}

impl HttpClient for Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        if let Some(found) = self
            .connectors
            .read()
            .ok()
            .and_then(|c| c.get(&key).cloned())
        {
            return found;
        }
        let connector = SharedHttpConnector::new(ByScheme {
            http: self.connector(&self.http, settings, components),
            https: self.connector(&self.https, settings, components),
        });
        if let Ok(mut cache) = self.connectors.write() {
            cache.entry(key).or_insert_with(|| connector.clone());
        }
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// Each request to the connector of its scheme (and so through that scheme's proxy).
#[derive(Debug)]
struct ByScheme {
    http: Connector,
    https: Connector,
}

impl HttpConnector for ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("http://") {
            self.http.call(request)
        } else {
            self.https.call(request)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_win_over_the_environment_and_blanks_are_unset() {
        let n = Network::resolve(
            Some("http://proxy.internal:3128".into()),
            Some(" ".into()),
            None,
            None,
        );
        assert_eq!(n.http_proxy.as_deref(), Some("http://proxy.internal:3128"));
        assert!(n.client().is_ok());
    }

    #[test]
    fn a_bad_proxy_or_bundle_names_its_argument() {
        let bad = Network {
            https_proxy: Some("not a url".into()),
            ..Network::default()
        };
        assert_eq!(bad.client().err().map(|e| e.0), Some("https_proxy"));
        let missing = Network {
            ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..Network::default()
        };
        assert_eq!(
            missing.client().err().map(|e| e.0),
            Some("custom_ca_bundle")
        );
    }
}
