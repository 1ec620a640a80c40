//! TLS and proxies on 127.0.0.1 for the provider block's network settings:
//!
//! 1. [`TlsFront`]: HTTPS on a free port with a throw-away certificate authority's certificate
//!    for `localhost`, passing every connection's bytes on to an upstream over plain TCP (the
//!    emulator), so the provider meets an endpoint only a custom CA bundle makes trusted;
//! 2. [`ConnectProxy`]: an HTTP proxy that answers CONNECT (how HTTPS goes through a proxy),
//!    counts the tunnels it opens and pipes them to their targets.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// HTTPS in front of a plain-TCP upstream, with a certificate signed by its own CA.
pub struct TlsFront {
    /// `https://localhost:<port>`
    pub endpoint: String,
    /// The CA's certificate, PEM, for `custom_ca_bundle`.
    pub ca_bundle: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    /// Starts serving `upstream` (`127.0.0.1:<port>` or `http://127.0.0.1:<port>`).
    pub async fn start(upstream: &str) -> Result<TlsFront> {
        let upstream: Arc<str> = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .into();
        let (ca_pem, chain, key) = certificates()?;
        let dir = tempfile::tempdir()?;
        let ca_bundle = dir.path().join("ca.pem");
        std::fs::write(&ca_bundle, ca_pem)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return; // the client refused the certificate
                    };
                    if let Ok(mut plain) = TcpStream::connect(&*upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Ok(TlsFront {
            endpoint: format!("https://localhost:{port}"),
            ca_bundle,
            _dir: dir,
        })
    }
}

/// A throw-away CA (PEM) and a certificate it signed for `localhost` and 127.0.0.1, with its key.
fn certificates() -> Result<(
    String,
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
)> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "unifiedetl test CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("the test key: {e}"))?;
    Ok((ca.pem(), vec![cert.der().clone()], key))
}

/// An HTTP proxy on a free port of 127.0.0.1 that opens CONNECT tunnels, counting them.
pub struct ConnectProxy {
    /// `http://127.0.0.1:<port>`, for `https_proxy`.
    pub url: String,
    tunnels: Arc<AtomicU64>,
}

impl ConnectProxy {
    pub async fn start() -> Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let tunnels = Arc::new(AtomicU64::new(0));
        let counted = tunnels.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counted = counted.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let counted = counted.clone();
                    async move {
                        let refuse = |status: u16| {
                            hyper::Response::builder()
                                .status(status)
                                .body(Empty::<Bytes>::new())
                        };
                        if request.method() != hyper::Method::CONNECT {
                            return refuse(405);
                        }
                        let Some(target) = request.uri().authority().map(|a| a.to_string()) else {
                            return refuse(400);
                        };
                        counted.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(async move {
                            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                                return;
                            };
                            if let Ok(mut out) = TcpStream::connect(&target).await {
                                let _ = tokio::io::copy_bidirectional(
                                    &mut TokioIo::new(upgraded),
                                    &mut out,
                                )
                                .await;
                            }
                        });
                        refuse(200)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades(),
                );
            }
        });
        Ok(ConnectProxy { url, tunnels })
    }

    /// The tunnels opened so far.
    pub fn tunnels(&self) -> u64 {
        self.tunnels.load(Ordering::SeqCst)
    }
}
