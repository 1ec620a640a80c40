//! A Lambda Runtime API, as Lambda serves it to a function's `bootstrap`: events queued here are
//! handed out on `/invocation/next` (long poll, with the request id, deadline, function ARN and
//! trace id headers), and every response, error and init error the function posts is reported
//! back, with the moments that bound the invocation — when the `/invocation/next` answer was
//! handed out and when the function's report had been read in full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use tokio::sync::{mpsc, Mutex};

use crate::http::{http_response, serve, Reply, Request};

/// How long [`RuntimeApi::response`] and [`RuntimeApi::init_error`] wait for the function.
pub const WAIT: Duration = Duration::from_secs(60);

/// What the function posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `/invocation/<id>/response`.
    Response,
    /// `/invocation/<id>/error`.
    Error,
    /// `/init/error`, with its `Lambda-Runtime-Function-Error-Type` header.
    InitError { error_type: String },
}

/// One report from the function, with the times that bound its invocation.
#[derive(Debug)]
pub struct Outcome {
    /// The invocation's request id (empty for an init error).
    pub id: String,
    pub report: Report,
    /// The posted body (JSON, or a JSON string when it was not JSON).
    pub body: Value,
    /// When the invocation was handed out on `/invocation/next` (`None` for an init error).
    pub handed_out: Option<Instant>,
    /// When the report had been read in full.
    pub received: Instant,
}

impl Outcome {
    /// Handed out → report received: event transfer, the handler and the response all count.
    pub fn wall(&self) -> Duration {
        self.handed_out
            .map_or(Duration::ZERO, |start| self.received - start)
    }
}

/// An invocation waiting for `/invocation/next`: request id, event, time allowed.
type Invocation = (String, String, Duration);

/// The Runtime API on a free port of 127.0.0.1.
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`, the form of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    handed_out: StdMutex<HashMap<String, Instant>>,
}

impl RuntimeApi {
    /// Starts serving.
    pub async fn start() -> Result<RuntimeApi> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            outcomes: outcomes_tx,
            handed_out: StdMutex::new(HashMap::new()),
        });
        let address = serve(move |request| {
            let shared = shared.clone();
            async move { answer(request, &shared).await }
        })
        .await?;
        Ok(RuntimeApi {
            address,
            events: events_tx,
            outcomes: outcomes_rx,
        })
    }

    /// Queues an event for the function's next `/invocation/next`, with 60 s to run.
    pub fn invoke(&self, id: &str, event: impl ToString) {
        self.invoke_with_timeout(id, event, WAIT);
    }

    /// Queues an event with `timeout` to run (the `Lambda-Runtime-Deadline-Ms` it is given).
    pub fn invoke_with_timeout(&self, id: &str, event: impl ToString, timeout: Duration) {
        let _ = self
            .events
            .send((id.to_string(), event.to_string(), timeout));
    }

    /// The function's next report, or `None` when none came within `wait`.
    pub async fn next_outcome(&mut self, wait: Duration) -> Option<Outcome> {
        tokio::time::timeout(wait, self.outcomes.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for the function's response to the invocation `id`; an error or init error, another
    /// invocation's response, or no answer within `wait` is an error.
    pub async fn outcome(&mut self, id: &str, wait: Duration) -> Result<Outcome> {
        let outcome = self
            .next_outcome(wait)
            .await
            .ok_or_else(|| anyhow!("the function did not answer invocation {id} in {wait:?}"))?;
        if outcome.report != Report::Response {
            bail!(
                "the function reported {:?} for {:?}: {}",
                outcome.report,
                outcome.id,
                outcome.body
            );
        }
        if outcome.id != id {
            bail!("expected the response to {id}, got one to {}", outcome.id);
        }
        Ok(outcome)
    }

    /// The response body to the invocation `id`; panics on anything else (for tests).
    pub async fn response(&mut self, id: &str) -> Value {
        match self.outcome(id, WAIT).await {
            Ok(outcome) => outcome.body,
            Err(err) => panic!("{err}"),
        }
    }

    /// The init error the function reported: its error type and body; panics on anything else
    /// (for tests).
    pub async fn init_error(&mut self) -> (String, Value) {
        match self.next_outcome(WAIT).await {
            Some(Outcome {
                report: Report::InitError { error_type },
                body,
                ..
            }) => (error_type, body),
            other => panic!("expected an init error, got {other:?}"),
        }
    }
}

async fn answer(request: Request, shared: &Shared) -> Option<Reply> {
    let received = Instant::now();
    let path = request
        .path
        .strip_prefix("/2018-06-01/runtime")
        .unwrap_or(&request.path);
    let accepted = || http_response("202 Accepted", &[], r#"{"status":"OK"}"#);
    let report = |id: String, report: Report, handed_out: Option<Instant>| {
        let _ = shared.outcomes.send(Outcome {
            id,
            report,
            body: request.json(),
            handed_out,
            received,
        });
    };
    Some(match (request.method.as_str(), path) {
        ("GET", "/invocation/next") => {
            // Long poll, as Lambda does: answer when an event is queued.
            let (id, event, timeout) = shared.events.lock().await.recv().await?;
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + timeout;
            let reply = http_response(
                "200 OK",
                &[
                    ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                    (
                        "Lambda-Runtime-Deadline-Ms",
                        &deadline.as_millis().to_string(),
                    ),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:persist",
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5759e988-bd862e3fe1be46a994272793",
                    ),
                ],
                &event,
            );
            // Stamped as the answer is about to be written: the event's transfer counts
            // against the function, and the stamp cannot miss a response that comes quickly.
            shared.handed_out.lock().unwrap().insert(id, Instant::now());
            reply
        }
        ("POST", "/init/error") => {
            let error_type = request.header("lambda-runtime-function-error-type");
            report(String::new(), Report::InitError { error_type }, None);
            accepted()
        }
        ("POST", path) if path.starts_with("/invocation/") => {
            let mut parts = path.trim_start_matches("/invocation/").splitn(2, '/');
            let id = parts.next().unwrap_or_default().to_string();
            let handed_out = shared.handed_out.lock().unwrap().remove(&id);
            let kind = match parts.next() {
                Some("response") => Report::Response,
                _ => Report::Error,
            };
            report(id, kind, handed_out);
            accepted()
        }
        _ => http_response("404 Not Found", &[], r#"{"errorMessage":"unknown path"}"#),
    })
}
