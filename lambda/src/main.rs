//! The function's `bootstrap`: wiring only. Reads the configuration, builds the one HTTP client
//! (and through [`Function::new`] or [`Engine::new`] the DynamoDB and S3 clients) every
//! invocation shares, then hands the handler to the Lambda runtime: the analytics engine when
//! `CORRELATION` is set, else the persist function. A cold-start failure is reported to Lambda's
//! `/runtime/init/error` with a message that names what to fix, then the process exits.

use anyhow::{anyhow, Result};
use aws_config::BehaviorVersion;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use lambda_runtime::LambdaEvent;
use lambda_runtime::{service_fn, Diagnostic};
use unifiedetl_lambda::config::Config;
use unifiedetl_lambda::engine::{Engine, EngineConfig};
use unifiedetl_lambda::{Function, InitError};

/// The two handlers one binary holds.
enum Handler {
    Persist(Function),
    Engine(Engine),
}

impl Handler {
    async fn handle(
        &self,
        event: LambdaEvent<KinesisEvent>,
    ) -> Result<
        aws_lambda_events::event::streams::KinesisEventResponse,
        unifiedetl_lambda::HandlerError,
    > {
        match self {
            Handler::Persist(function) => function.handle(event).await,
            Handler::Engine(engine) => engine.handle(event).await,
        }
    }
}

// One thread: a function handles one batch at a time, and at 256 MB Lambda gives it about a
// seventh of a vCPU. Worker threads handing the SDK's requests to each other cost more than
// they overlap (`make bench`: the engine's process CPU per record 0.73-0.84x, the persist
// function's 0.75-0.91x of the multi-threaded runtime's, same runs).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // Honours AWS_LAMBDA_LOG_FORMAT (JSON or Text) and AWS_LAMBDA_LOG_LEVEL.
    lambda_runtime::tracing::init_default_subscriber();

    let handler = match init().await {
        Ok(handler) => handler,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "cold start failed");
            report_init_error(&err).await;
            return Err(err);
        }
    };
    lambda_runtime::run(service_fn(|event| handler.handle(event)))
        .await
        .map_err(|err| anyhow!(err))
}

async fn init() -> Result<Handler> {
    // Configuration first: a misconfigured function should fail before any network call.
    let engine =
        EngineConfig::from_lookup(|name| std::env::var(name).ok()).map_err(InitError::from)?;
    let config = match &engine {
        Some(engine) => engine.base.clone(),
        None => Config::from_env().map_err(InitError::from)?,
    };
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    // The default chain also reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB /
    // AWS_ENDPOINT_URL_S3, which is how the tests point the function at the local emulator.
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await;
    Ok(match engine {
        Some(engine) => Handler::Engine(Engine::new(engine, &sdk_config).await?),
        None => Handler::Persist(Function::new(config, &sdk_config).await?),
    })
}

/// Tells Lambda why init failed, so the error shows up in the invoke response and the console
/// rather than as a bare "Runtime.ExitError". Best effort: the process exits either way.
async fn report_init_error(err: &anyhow::Error) {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let error_type = match err.downcast_ref::<InitError>() {
        Some(InitError::Config(_)) => "UnifiedEtl.ConfigError",
        Some(InitError::Describe(_)) => "UnifiedEtl.DescribeTableError",
        Some(InitError::Reference(_)) => "UnifiedEtl.ReferenceDataError",
        None => "UnifiedEtl.InitError",
    };
    let diagnostic = Diagnostic {
        error_type: error_type.to_string(),
        error_message: format!("{err:#}"),
    };
    let result = async {
        let body = serde_json::to_vec(&diagnostic)?;
        let request = lambda_runtime_api_client::build_request()
            .method(http::Method::POST)
            .uri("/2018-06-01/runtime/init/error")
            .header("lambda-runtime-function-error-type", error_type)
            .body(lambda_runtime_api_client::body::Body::from(body))?;
        let client = lambda_runtime_api_client::Client::builder().build()?;
        let response = client.call(request).await.map_err(|err| anyhow!(err))?;
        anyhow::Ok(response.status())
    }
    .await;
    match result {
        Ok(status) if status.is_success() => {}
        Ok(status) => tracing::warn!(%status, "the Runtime API refused the init error report"),
        Err(err) => tracing::warn!(error = %format!("{err:#}"), "could not report the init error"),
    }
}
