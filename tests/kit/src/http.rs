//! A minimal HTTP/1.1 server on 127.0.0.1 for the fakes the tests and the benchmark need (the
//! Lambda Runtime API, a scripted DynamoDB, a fault-injecting proxy): requests with a
//! Content-Length or chunked body, keep-alive, and raw responses written by the handler.

use std::collections::HashMap;
use std::future::Future;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request as read from the connection.
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The body, de-chunked.
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
}

/// Serves HTTP/1.1 on a free port of 127.0.0.1 with `handler`, which returns the raw response
/// (see [`http_response`]), or `None` to drop the connection; returns `127.0.0.1:<port>`.
pub async fn serve<H, F>(handler: H) -> std::io::Result<String>
where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Option<String>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                while let Some(request) = read_request(&mut reader).await {
                    let Some(reply) = handler(request).await else {
                        return;
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(address)
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body); `None` at end of stream or on
/// a malformed request.
pub async fn read_request<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length") {
        // Zeroed memory from the allocator: `resize` fills byte by byte, which in the tests'
        // unoptimised build took tens of milliseconds for a Lambda package.
        body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// A raw HTTP/1.1 response with a JSON body.
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// A forwarding proxy on a free port of 127.0.0.1 that counts the requests passing through it
/// by their `X-Amz-Target` header (`DynamoDB_20120810.PutItem`, …; requests without one, such
/// as S3's, by method as `(no X-Amz-Target) GET`). Each request is read in full, sent to the
/// upstream on a connection of its own (the emulator closes its connections after each
/// response anyway), and the upstream's response handed back unchanged apart from its framing
/// (re-sent with a Content-Length, over the client's keep-alive connection).
///
/// It also logs every request as a [`Call`] (its operation, and when it arrived and was
/// answered), and can hold each request for a fixed delay before forwarding it
/// ([`CountingProxy::start_with_delay`]): a stand-in for the round trip to a remote AWS region,
/// which makes sequential calls show in the wall time.
pub struct CountingProxy {
    /// `127.0.0.1:<port>`
    pub address: String,
    counts: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Call>>>,
    started: std::time::Instant,
}

/// One request that passed through a [`CountingProxy`].
#[derive(Debug, Clone)]
pub struct Call {
    /// `service:Operation` (see [`operation_name`]): `kinesis:DescribeStreamSummary`,
    /// `iam:GetRole`, `s3:PUT /{bucket}?tagging`, `lambda:GET /2015-03-31/functions/{}`.
    pub operation: String,
    /// When the request had been read in full, since the proxy started.
    pub start: std::time::Duration,
    /// When its response had been written back (the delay included), since the proxy started.
    pub end: std::time::Duration,
}

impl CountingProxy {
    /// Starts forwarding to `upstream` (`host:port` or `http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<CountingProxy> {
        CountingProxy::start_with_delay(upstream, std::time::Duration::ZERO).await
    }

    /// Like [`CountingProxy::start`], but holds every request for `delay` before forwarding it
    /// (requests on different connections are held concurrently).
    pub async fn start_with_delay(
        upstream: &str,
        delay: std::time::Duration,
    ) -> std::io::Result<CountingProxy> {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let counts = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let started = std::time::Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (shared, shared_log) = (counts.clone(), log.clone());
        let pool = Pool::default();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (upstream, counts, log, pool) = (
                    upstream.clone(),
                    shared.clone(),
                    shared_log.clone(),
                    pool.clone(),
                );
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while let Some(request) = read_request(&mut reader).await {
                        let start = started.elapsed();
                        let target = match request.headers.get("x-amz-target") {
                            Some(target) => target.clone(),
                            None => format!("(no X-Amz-Target) {}", request.method),
                        };
                        *counts.lock().unwrap().entry(target).or_insert(0) += 1;
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        let Some(reply) = pool.send(&upstream, &request).await else {
                            return;
                        };
                        let written = write.write_all(&reply.to_raw()).await;
                        log.lock().unwrap().push(Call {
                            operation: operation_name(&request),
                            start,
                            end: started.elapsed(),
                        });
                        if written.is_err() {
                            return;
                        }
                    }
                });
            }
        });
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
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    /// The requests answered since the last call (or since the start), in the order they were
    /// answered; the counts are left as they are.
    pub fn take_log(&self) -> Vec<Call> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// The time on the log's clock (since the proxy started).
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Forgets the counts and the log.
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
        self.log.lock().unwrap().clear();
    }
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

/// A response read from an upstream: status line, headers (framing headers left out), and the
/// de-chunked body.
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// What follows `HTTP/1.1 ` on the status line, e.g. `200 OK`.
    pub status_line: String,
    /// Headers other than Content-Length, Transfer-Encoding, Connection and Keep-Alive, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The Content-Length the upstream sent (a HEAD response's is that of the body it omits).
    content_length: Option<usize>,
    bodiless: bool,
}

impl Response {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The response as raw HTTP/1.1, re-framed with a Content-Length.
    pub fn to_raw(&self) -> Vec<u8> {
        let mut reply = format!("HTTP/1.1 {}\r\n", self.status_line);
        for (name, value) in &self.headers {
            reply.push_str(&format!("{name}: {value}\r\n"));
        }
        // A bodiless response (HEAD's) keeps the length of the body it does not carry.
        let length = if self.bodiless {
            self.content_length.unwrap_or(0)
        } else {
            self.body.len()
        };
        reply.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        let mut reply = reply.into_bytes();
        reply.extend_from_slice(&self.body);
        reply
    }
}

/// Sends `request`, with `body` in place of its own, to `upstream` (`host:port`) on a new
/// connection and reads the response; `None` when the upstream cannot be reached or answers
/// malformed.
pub async fn send(upstream: &str, request: &Request, body: &[u8]) -> Option<Response> {
    let stream = connect(upstream).await?;
    match exchange(stream, request, body, false).await {
        Exchange::Answered(response, _) => Some(response),
        Exchange::Unanswered | Exchange::Failed => None,
    }
}

/// Connections to one upstream kept open between calls, as an SDK client keeps its own: the
/// [`CountingProxy`] forwards call after call without a new connection (and a new thread or
/// channel on the emulator's side) for each.
#[derive(Clone, Default)]
struct Pool(std::sync::Arc<std::sync::Mutex<Vec<tokio::net::TcpStream>>>);

impl Pool {
    /// Like [`send`], on an idle connection of the pool when there is one. A kept connection
    /// the upstream has closed in the meantime (nothing came back) is dropped and the call
    /// sent again on a new one.
    async fn send(&self, upstream: &str, request: &Request) -> Option<Response> {
        loop {
            let idle = self.0.lock().unwrap().pop();
            let (stream, kept) = match idle {
                Some(stream) => (stream, true),
                None => (connect(upstream).await?, false),
            };
            match exchange(stream, request, &request.body, true).await {
                Exchange::Answered(response, reusable) => {
                    if let Some(stream) = reusable {
                        self.0.lock().unwrap().push(stream);
                    }
                    return Some(response);
                }
                Exchange::Unanswered if kept => continue,
                Exchange::Unanswered | Exchange::Failed => return None,
            }
        }
    }
}

async fn connect(upstream: &str) -> Option<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(upstream).await.ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}

enum Exchange {
    /// The response, and the connection when it can carry another call.
    Answered(Response, Option<tokio::net::TcpStream>),
    /// Not a byte came back: the connection was closed before the call reached the upstream.
    Unanswered,
    /// A malformed or cut-off response.
    Failed,
}

/// One call on `stream`: the request (asking the upstream to close the connection unless
/// `keep_alive`), then the response.
async fn exchange(
    stream: tokio::net::TcpStream,
    request: &Request,
    body: &[u8],
    keep_alive: bool,
) -> Exchange {
    let (read, mut write) = stream.into_split();
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    ));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    if write.write_all(&out).await.is_err() {
        return Exchange::Unanswered;
    }

    let mut reader = BufReader::new(read);
    let mut status = String::new();
    match reader.read_line(&mut status).await {
        Ok(0) | Err(_) => return Exchange::Unanswered,
        Ok(_) => {}
    }
    let Some((response, reusable)) = read_response(&mut reader, request, &status).await else {
        return Exchange::Failed;
    };
    // Reusable only when the upstream keeps it open and nothing beyond the response was read.
    let stream = (keep_alive && reusable && reader.buffer().is_empty())
        .then(|| reader.into_inner().reunite(write).ok())
        .flatten();
    Exchange::Answered(response, stream)
}

/// The rest of a response whose status line is `status`; with it, whether the connection
/// stays open after it (HTTP/1.1, no `Connection: close`, a delimited body).
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    request: &Request,
    status: &str,
) -> Option<(Response, bool)> {
    let (version, status_line) = status.trim_end().split_once(' ')?;
    let status_line = status_line.to_string();
    let code: u16 = status_line.split(' ').next()?.parse().ok()?;
    let mut reusable = version.eq_ignore_ascii_case("HTTP/1.1");
    let mut headers = Vec::new();
    let (mut content_length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let (lower, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match lower.as_str() {
            "content-length" => content_length = Some(value.parse::<usize>().ok()?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => reusable &= !value.eq_ignore_ascii_case("close"),
            "keep-alive" => {}
            _ => headers.push((name.trim().to_string(), value.to_string())),
        }
    }
    let bodiless = request.method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&code)
        || code == 204
        || code == 304;
    let mut response_body = Vec::new();
    if bodiless {
        // Nothing follows the headers.
    } else if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // data + CRLF
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            response_body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = content_length {
        response_body = vec![0; length];
        reader.read_exact(&mut response_body).await.ok()?;
    } else {
        // Delimited by the end of the connection.
        reader.read_to_end(&mut response_body).await.ok()?;
        reusable = false;
    }
    Some((
        Response {
            status: code,
            status_line,
            headers,
            body: response_body,
            content_length,
            bodiless,
        },
        reusable,
    ))
}

#[cfg(test)]
mod tests {
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

    /// An upstream that counts the connections it accepts and answers every call on them with
    /// `ok`; with `close_after_each`, it then closes the connection without saying so first
    /// (as a server closes an idle keep-alive connection).
    async fn upstream(
        close_after_each: bool,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    while read_request(&mut reader).await.is_some() {
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if write.write_all(reply).await.is_err() || close_after_each {
                            return;
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
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
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
        // Each call found the kept connection closed and went out again on a new one.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(proxy.counts().values().sum::<u64>(), 3);
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
