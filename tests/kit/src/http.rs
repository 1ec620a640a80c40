//! HTTP on 127.0.0.1 for the fakes the tests and the benchmark need (the Lambda Runtime API, a
//! scripted DynamoDB, a counting and delaying proxy), on hyper:
//!
//! 1. [`serve`] answers every request on a free port with a handler's [`Reply`];
//! 2. [`send`] makes one call to an upstream and reads its [`Response`];
//! 3. [`CountingProxy`] forwards to an upstream through a pooled client, counting and logging
//!    every call by its AWS operation ([`operation_name`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

/// One request as a fake receives it.
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value, or the empty string.
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }

    /// The body as JSON, or as a JSON string when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// Reads a request hyper received, its body in full; `None` when the body cannot be read.
    async fn receive(request: hyper::Request<Incoming>) -> Option<Request> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.ok()?.to_bytes().to_vec();
        let headers = parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string());
        Some(Request {
            method: parts.method.to_string(),
            path,
            headers,
            body,
        })
    }

    /// The request for `upstream` (`host:port`) with `body` in place of its own; its headers
    /// as received (the Host included: the caller signed it) but for the framing ones, which
    /// hyper writes.
    fn to_upstream(&self, upstream: &str, body: &[u8]) -> Option<hyper::Request<Full<Bytes>>> {
        let mut builder = hyper::Request::builder()
            .method(self.method.as_str())
            .uri(format!("http://{upstream}{}", self.path));
        for (name, value) in &self.headers {
            if !is_framing(name) {
                builder = builder.header(name, value);
            }
        }
        builder.body(Full::new(Bytes::copy_from_slice(body))).ok()
    }
}

/// Headers that belong to one hop's framing, not to the message.
fn is_framing(name: &str) -> bool {
    name.eq_ignore_ascii_case("content-length")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("connection")
        || name.eq_ignore_ascii_case("keep-alive")
}

/// What a fake answers: a status, headers and a body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn into_hyper(self) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
        let mut response = hyper::Response::new(Full::new(Bytes::from(self.body)));
        *response.status_mut() = hyper::StatusCode::from_u16(self.status).map_err(|_| Dropped)?;
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Dropped)?;
            let value = HeaderValue::from_str(value).map_err(|_| Dropped)?;
            response.headers_mut().append(name, value);
        }
        Ok(response)
    }
}

/// A reply with a JSON body; `status` as on a status line (`200 OK`, `400 Bad Request`: the
/// code is what counts).
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut all = vec![("Content-Type".to_string(), "application/json".to_string())];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    Reply {
        status: status
            .split(' ')
            .next()
            .and_then(|code| code.parse().ok())
            .unwrap_or(500),
        headers: all,
        body: body.as_bytes().to_vec(),
    }
}

/// A handler's "no answer": hyper closes the connection without a response.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the fake dropped the connection")
    }
}

impl std::error::Error for Dropped {}

/// Serves HTTP/1.1 on a free port of 127.0.0.1 with `handler`, which returns the reply (see
/// [`http_response`]), or `None` to drop the connection; returns `127.0.0.1:<port>`.
pub async fn serve<H, F>(handler: H) -> std::io::Result<String>
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Option<Reply>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move {
                    let request = Request::receive(request).await.ok_or(Dropped)?;
                    handler(request).await.ok_or(Dropped)?.into_hyper()
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Ok(address)
}

/// A response read from an upstream: its status, its headers but the framing ones, its body.
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The code and its reason, as on a status line: `200 OK`.
    pub status_line: String,
    /// Headers other than Content-Length, Transfer-Encoding, Connection and Keep-Alive, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The Content-Length the upstream sent: a HEAD response's is that of the body it omits.
    content_length: Option<String>,
}

impl Response {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    async fn receive(response: hyper::Response<Incoming>) -> Option<Response> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes().to_vec();
        let mut headers = Vec::new();
        let mut content_length = None;
        for (name, value) in &parts.headers {
            let value = value.to_str().ok()?.to_string();
            if name == hyper::header::CONTENT_LENGTH {
                content_length = Some(value);
            } else if !is_framing(name.as_str()) {
                headers.push((name.as_str().to_string(), value));
            }
        }
        Some(Response {
            status: parts.status.as_u16(),
            status_line: parts.status.to_string(),
            headers,
            body,
            content_length,
        })
    }

    /// The response handed on to the client: hyper frames the body; a HEAD response keeps the
    /// length of the body it does not carry.
    fn into_reply(self, method: &str) -> Reply {
        let mut headers = self.headers;
        if method.eq_ignore_ascii_case("HEAD") {
            if let Some(length) = self.content_length {
                headers.push(("content-length".to_string(), length));
            }
        }
        Reply {
            status: self.status,
            headers,
            body: self.body,
        }
    }
}

/// Sends `request`, with `body` in place of its own, to `upstream` (`host:port`) on a new
/// connection and reads the response; `None` when the upstream cannot be reached or answers
/// malformed.
pub async fn send(upstream: &str, request: &Request, body: &[u8]) -> Option<Response> {
    let stream = TcpStream::connect(upstream).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request.to_upstream(upstream, body)?)
        .await
        .ok()?;
    Response::receive(response).await
}

/// A forwarding proxy on a free port of 127.0.0.1 that counts the requests passing through it
/// by their `X-Amz-Target` header (`DynamoDB_20120810.PutItem`, …; requests without one, such
/// as S3's, by method as `(no X-Amz-Target) GET`), and hands back the upstream's responses
/// unchanged but for their framing. Calls go out on kept connections, as an SDK client's do.
///
/// It also logs every request as a [`Call`] (its operation, and when it arrived and was
/// answered), and can hold each request for a fixed delay before forwarding it
/// ([`CountingProxy::start_with_delay`]): a stand-in for the round trip to a remote AWS region,
/// which makes sequential calls show in the wall time.
pub struct CountingProxy {
    /// `127.0.0.1:<port>`
    pub address: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    log: Arc<Mutex<Vec<Call>>>,
    started: Instant,
}

/// One request that passed through a [`CountingProxy`].
#[derive(Debug, Clone)]
pub struct Call {
    /// `service:Operation` (see [`operation_name`]): `kinesis:DescribeStreamSummary`,
    /// `iam:GetRole`, `s3:PUT /{bucket}?tagging`, `lambda:GET /2015-03-31/functions/{}`.
    pub operation: String,
    /// When the request had been read in full, since the proxy started.
    pub start: Duration,
    /// When its response was ready to be written back (the delay included), since the proxy
    /// started.
    pub end: Duration,
}

impl CountingProxy {
    /// Starts forwarding to `upstream` (`host:port` or `http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<CountingProxy> {
        CountingProxy::start_with_delay(upstream, Duration::ZERO).await
    }

    /// Like [`CountingProxy::start`], but holds every request for `delay` before forwarding it
    /// (requests on different connections are held concurrently).
    pub async fn start_with_delay(
        upstream: &str,
        delay: Duration,
    ) -> std::io::Result<CountingProxy> {
        let upstream: Arc<str> = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .into();
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let (counts_kept, log_kept) = (counts.clone(), log.clone());
        let address = serve(move |request: Request| {
            let (upstream, counts, log, client) = (
                upstream.clone(),
                counts_kept.clone(),
                log_kept.clone(),
                client.clone(),
            );
            async move {
                let start = started.elapsed();
                let target = match request.headers.get("x-amz-target") {
                    Some(target) => target.clone(),
                    None => format!("(no X-Amz-Target) {}", request.method),
                };
                *counts.lock().unwrap().entry(target).or_insert(0) += 1;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let response = forward(&client, &upstream, &request).await?;
                log.lock().unwrap().push(Call {
                    operation: operation_name(&request),
                    start,
                    end: started.elapsed(),
                });
                Some(response.into_reply(&request.method))
            }
        })
        .await?;
        Ok(CountingProxy {
            address,
            counts,
            log,
            started,
        })
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The requests forwarded so far, by target.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    /// The requests answered since the last call (or since the start), in the order they were
    /// answered; the counts are left as they are.
    pub fn take_log(&self) -> Vec<Call> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// The time on the log's clock (since the proxy started).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Forgets the counts and the log.
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
        self.log.lock().unwrap().clear();
    }
}

/// Forwards one request on a kept connection. A kept connection the upstream closed in the
/// meantime answers nothing at all (hyper: "connection closed before message completed"):
/// the call never reached the upstream, and goes out once more on a new connection.
async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
    request: &Request,
) -> Option<Response> {
    for attempt in 0..2 {
        match client
            .request(request.to_upstream(upstream, &request.body)?)
            .await
        {
            Ok(response) => return Response::receive(response).await,
            Err(e) if attempt == 0 && unanswered(&e) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Whether the upstream closed the connection before a byte of the response came.
fn unanswered(err: &hyper_util::client::legacy::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|e| e.downcast_ref::<hyper::Error>())
        .is_some_and(|e| e.is_incomplete_message() || e.is_canceled())
}

/// A readable name for an AWS request: `service:Operation`, the service taken from the SigV4
/// credential scope, the operation from `X-Amz-Target` (JSON protocols), the `Action` form
/// field (query protocols: IAM, STS) or the S3 SDK's `x-id` query parameter; other REST
/// requests (Lambda, S3) as their method and path with the names replaced by `{}` (S3:
/// `{bucket}`, `{key}`) and the query's parameter names only.
pub fn operation_name(request: &Request) -> String {
    let authorization = request.header("authorization");
    let service = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("?");
    if let Some(target) = request.headers.get("x-amz-target") {
        return format!("{service}:{}", target.rsplit('.').next().unwrap_or(target));
    }
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let parameters = |text: &str| -> Vec<(String, String)> {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    };
    if request
        .header("content-type")
        .starts_with("application/x-www-form-urlencoded")
    {
        let form = String::from_utf8_lossy(&request.body).into_owned();
        if let Some((_, action)) = parameters(&form).into_iter().find(|(k, _)| k == "Action") {
            return format!("{service}:{action}");
        }
    }
    let query = parameters(query);
    if let Some((_, id)) = query.iter().find(|(k, _)| k == "x-id") {
        return format!("{service}:{id}");
    }
    let mut shape = String::new();
    for (i, segment) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        let date = segment.starts_with(|c: char| c.is_ascii_digit())
            && segment.chars().all(|c| c.is_ascii_digit() || c == '-');
        let keyword = date || LAMBDA_PATH_WORDS.contains(&segment);
        shape.push('/');
        shape.push_str(match (service, i) {
            ("s3", 0) => "{bucket}",
            ("s3", _) => "{key}",
            _ if keyword => segment,
            _ => "{}",
        });
        if service == "s3" && i > 0 {
            break;
        }
    }
    if shape.is_empty() {
        shape.push('/');
    }
    let names: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    if !names.is_empty() {
        shape.push('?');
        shape.push_str(&names.join("&"));
    }
    format!("{service}:{} {shape}", request.method)
}

/// The fixed words of Lambda's REST paths (everything else in a path is a name or an ARN).
const LAMBDA_PATH_WORDS: &[&str] = &[
    "functions",
    "event-source-mappings",
    "tags",
    "configuration",
    "code",
    "policy",
    "versions",
    "aliases",
    "concurrency",
    "invocations",
    "url",
];

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut all: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert(
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0",
                headers
                    .iter()
                    .find(|(k, _)| *k == "service")
                    .map_or("?", |(_, v)| v)
            ),
        );
        Request {
            method: method.into(),
            path: path.into(),
            headers: all,
            body: body.as_bytes().to_vec(),
        }
    }

    /// An upstream that counts the connections it accepts and answers every bodiless call on
    /// them with `ok`; with `close_after_each`, it then closes the connection without saying so
    /// first (as a server closes an idle keep-alive connection). Written on the socket: hyper
    /// would announce the close.
    async fn upstream(close_after_each: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                        seen.extend_from_slice(&buffer[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if stream.write_all(reply).await.is_err() || close_after_each {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, accepted)
    }

    #[tokio::test]
    async fn the_proxy_forwards_call_after_call_on_one_connection() {
        let (address, accepted) = upstream(false).await;
        let proxy = CountingProxy::start(&address).await.unwrap();
        for _ in 0..3 {
            let call = request("GET", "/", &[], "");
            let reply = send(&proxy.address, &call, &call.body).await.unwrap();
            assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(proxy.take_log().len(), 3);
    }

    #[tokio::test]
    async fn the_proxy_sends_again_what_a_closed_kept_connection_did_not_answer() {
        let (address, accepted) = upstream(true).await;
        let proxy = CountingProxy::start(&address).await.unwrap();
        for _ in 0..3 {
            let call = request("GET", "/", &[], "");
            let reply = send(&proxy.address, &call, &call.body).await.unwrap();
            assert_eq!(reply.body, b"ok");
        }
        // Each call found the kept connection closed and went out on a new one.
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(proxy.counts().values().sum::<u64>(), 3);
    }

    #[tokio::test]
    async fn a_fake_reads_whole_bodies_and_its_replies_reach_the_caller() {
        let address = serve(|request: Request| async move {
            let body = format!(r#"{{"got":{}}}"#, request.body.len());
            Some(http_response(
                "400 Bad Request",
                &[("x-amzn-ErrorType", "Nope")],
                &body,
            ))
        })
        .await
        .unwrap();
        let call = request("POST", "/x?y=1", &[], &"a".repeat(100_000));
        let reply = send(&address, &call, &call.body).await.unwrap();
        assert_eq!(reply.status_line, "400 Bad Request");
        assert_eq!(reply.header("x-amzn-errortype"), Some("Nope"));
        assert_eq!(reply.body, br#"{"got":100000}"#);
    }

    #[tokio::test]
    async fn a_head_response_keeps_the_length_of_the_body_it_omits() {
        let upstream = serve(|_| async { Some(http_response("200 OK", &[], "0123456789")) })
            .await
            .unwrap();
        let proxy = CountingProxy::start(&upstream).await.unwrap();
        let call = request("HEAD", "/bucket", &[], "");
        let reply = send(&proxy.address, &call, &call.body).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_length.as_deref(), Some("10"));
        assert!(reply.body.is_empty());
    }

    #[test]
    fn operations_are_named_by_service_and_operation() {
        let name = |method, path, headers: &[(&str, &str)], body| {
            operation_name(&request(method, path, headers, body))
        };
        let json = [
            ("service", "kinesis"),
            ("x-amz-target", "Kinesis_20131202.DescribeStreamSummary"),
        ];
        assert_eq!(
            name("POST", "/", &json, "{}"),
            "kinesis:DescribeStreamSummary"
        );
        let form = [
            ("service", "iam"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ];
        assert_eq!(
            name(
                "POST",
                "/",
                &form,
                "Version=2010-05-08&Action=GetRole&RoleName=x"
            ),
            "iam:GetRole"
        );
        let s3 = [("service", "s3")];
        assert_eq!(
            name(
                "GET",
                "/bucket/reference/products.json?x-id=GetObject",
                &s3,
                ""
            ),
            "s3:GetObject"
        );
        assert_eq!(
            name("PUT", "/bucket?tagging", &s3, ""),
            "s3:PUT /{bucket}?tagging"
        );
        assert_eq!(name("HEAD", "/bucket", &s3, ""), "s3:HEAD /{bucket}");
        let lambda = [("service", "lambda")];
        assert_eq!(
            name("GET", "/2015-03-31/functions/orders-persist", &lambda, ""),
            "lambda:GET /2015-03-31/functions/{}"
        );
        assert_eq!(
            name(
                "GET",
                "/2015-03-31/event-source-mappings?FunctionName=f&EventSourceArn=a",
                &lambda,
                ""
            ),
            "lambda:GET /2015-03-31/event-source-mappings?FunctionName&EventSourceArn"
        );
    }
}
