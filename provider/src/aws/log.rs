//! One line in Terraform's plugin log per AWS call attempt, when the log is on (`TF_LOG` or
//! `TF_LOG_PROVIDER` at `DEBUG` or `TRACE`, or `JSON`): service, operation, component, HTTP
//! status, AWS error code, duration, request ID and attempt.
//!
//! The lines are written to stderr in hclog's JSON form, which Terraform's plugin client reads
//! and files under the provider's name at the line's level, where `TF_LOG` output goes. Only
//! what identifies a call is written: never a request or response body, a header value other
//! than the request ID, or a credential. The component is the name of the stream, table,
//! function, role, bucket… the call acts on, read from the request's name parameter or path.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The interceptor every service client carries.
#[derive(Debug, Default)]
pub struct CallLog;

/// The attempt under way: when it was sent, and what it acts on (read from the request before
/// it goes: the sent request is not kept).
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    component: String,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

/// Whether Terraform keeps the provider's debug lines: its own log level variables, which
/// Terraform passes on to its plugins.
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        ["TF_LOG_PROVIDER", "TF_LOG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .is_some_and(|level| {
                matches!(
                    level.to_ascii_uppercase().as_str(),
                    "TRACE" | "DEBUG" | "JSON" | "1"
                )
            })
    })
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_attempt(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if enabled() {
            cfg.interceptor_state().store_put(Sent {
                at: Instant::now(),
                component: component(context.request()).unwrap_or_default(),
            });
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !enabled() {
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_default();
        let sent = cfg.load::<Sent>();
        let mut line = Line {
            service,
            operation,
            component: sent.map(|s| s.component.clone()).unwrap_or_default(),
            attempt: cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts()),
            duration_ms: sent.map_or(0.0, |s| s.at.elapsed().as_secs_f64() * 1000.0),
            ..Line::default()
        };
        match context.response() {
            Some(response) => {
                let headers = response.headers();
                line.status = response.status().as_u16().to_string();
                line.request_id = ["x-amzn-requestid", "x-amz-request-id"]
                    .iter()
                    .find_map(|h| headers.get(*h))
                    .unwrap_or_default()
                    .to_string();
                line.error = headers
                    .get("x-amzn-errortype")
                    .map(|t| t.split(':').next().unwrap_or(t).to_string())
                    .unwrap_or_default();
            }
            // No answer: the connection failed or timed out.
            None => line.status = "no response".to_string(),
        }
        line.write();
        Ok(())
    }
}

/// One call attempt, as logged.
#[derive(Debug, Default)]
struct Line {
    service: String,
    operation: String,
    component: String,
    status: String,
    error: String,
    duration_ms: f64,
    request_id: String,
    attempt: u32,
}

impl Line {
    /// The hclog JSON line, on stderr (one `write` so lines of concurrent calls do not mix).
    fn write(&self) {
        let mut entry = serde_json::json!({
            "@level": "debug",
            "@message": format!("AWS call {}.{}", self.service, self.operation),
            "@module": "unifiedetl.aws",
            "@timestamp": humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            "aws.service": self.service,
            "aws.operation": self.operation,
            "component": self.component,
            "http.status": self.status,
            "duration_ms": (self.duration_ms * 10.0).round() / 10.0,
            "aws.request_id": self.request_id,
            "attempt": self.attempt,
        });
        if !self.error.is_empty() {
            entry["aws.error_code"] = self.error.clone().into();
        }
        let mut text = entry.to_string();
        text.push('\n');
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// The parameters that name what a call acts on, in the order they are looked for.
const NAME_PARAMETERS: &[&str] = &[
    "StreamName",
    "StreamARN",
    "TableName",
    "FunctionName",
    "DeliveryStreamName",
    "ApplicationName",
    "ReplicationTaskIdentifier",
    "ReplicationTaskArn",
    "ReplicationInstanceIdentifier",
    "ReplicationInstanceArn",
    "EndpointIdentifier",
    "EndpointArn",
    "logGroupName",
    "logGroupNamePrefix",
    "RoleName",
    "PolicyArn",
    "TopicArn",
    "DashboardName",
    "AlarmNamePrefix",
    "AlarmName",
    "ResourceArn",
    "ResourceARN",
    "resourceArn",
];

/// What the request acts on: a name parameter of its JSON or form body (the value only, and
/// only of the parameters above), else the resource in its path (Lambda's, S3's).
fn component(request: &HttpRequest) -> Option<String> {
    let body = request.body().bytes().unwrap_or_default();
    let content_type = request.headers().get("content-type").unwrap_or_default();
    if content_type.contains("json") {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        return NAME_PARAMETERS
            .iter()
            .find_map(|p| value.get(*p).and_then(|v| v.as_str()))
            .map(str::to_string)
            .or_else(|| path_component(request.uri()));
    }
    if content_type.contains("x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).ok()?;
        let pairs: Vec<(&str, &str)> = text.split('&').filter_map(|p| p.split_once('=')).collect();
        return NAME_PARAMETERS
            .iter()
            .find_map(|p| pairs.iter().find(|(k, _)| k == p).map(|(_, v)| *v))
            .and_then(|v| urlencoding::decode(v).ok().map(|v| v.into_owned()));
    }
    path_component(request.uri())
}

/// The resource a REST path names: Lambda's `/2015-03-31/functions/<name>/…`,
/// `/…/event-source-mappings/<uuid>`, S3's `/<bucket>/…` (path style) or the bucket host.
fn path_component(uri: &str) -> Option<String> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for marker in ["functions", "event-source-mappings", "tags"] {
        if let Some(i) = segments.iter().position(|s| *s == marker) {
            if let Some(name) = segments.get(i + 1) {
                return urlencoding::decode(name).ok().map(|n| n.into_owned());
            }
        }
    }
    if host.contains(".s3.") {
        return host.split(".s3.").next().map(str::to_string);
    }
    segments.first().map(|s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_component_is_read_from_the_path() {
        assert_eq!(
            path_component(
                "http://127.0.0.1:5000/2015-03-31/functions/orders-persist/configuration"
            ),
            Some("orders-persist".into())
        );
        assert_eq!(
            path_component("http://127.0.0.1:5000/orders-lake?versioning"),
            Some("orders-lake".into())
        );
        assert_eq!(
            path_component("https://orders-lake.s3.us-east-1.amazonaws.com/?tagging"),
            Some("orders-lake".into())
        );
        assert_eq!(
            path_component("https://kinesis.us-east-1.amazonaws.com/"),
            None
        );
    }
}
