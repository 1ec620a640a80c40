//! The provider block as the AWS provider's users expect it, and the errors a person can meet
//! before anything reaches a pipeline's components: each says what happened and what to do, in
//! one or two sentences with the component and AWS's error code, never the SDK's `Debug`
//! output — and the failing command creates nothing.

use anyhow::Result;
use testkit::http::CountingProxy;
use testkit::tls::{ConnectProxy, TlsFront};
use testkit::{Emulator, Terraform};

/// A small pipeline, with `provider` as the provider block's body.
fn pipeline(provider: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    unifiedetl = {{ source = \"unifiedetl/unifiedetl\" }}\n  }}\n}}\nprovider \"unifiedetl\" {{\n  region = \"us-east-1\"\n{provider}\n}}\nresource \"unifiedetl_pipeline\" \"p\" {{\n  name = \"errs\"\n  sink {{ partition_key = \"id\" }}\n}}\n"
    )
}

/// A working directory for `emulator` holding the small pipeline with `provider`, initialised.
fn terraform(emulator: &Emulator, provider: &str) -> Result<Terraform> {
    let tf = Terraform::new(emulator)?;
    tf.write(&pipeline(provider))?;
    tf.init()?;
    Ok(tf)
}

/// Like [`terraform`], applied.
fn applied(emulator: &Emulator, provider: &str) -> Result<Terraform> {
    let tf = terraform(emulator, provider)?;
    tf.apply()?;
    Ok(tf)
}

/// A second working directory running with `env`, holding `tf`'s state and the pipeline with
/// a provider block of the region only: its settings come from the environment.
fn with_state_of(tf: &Terraform, env: Vec<(String, String)>) -> Result<Terraform> {
    let other = Terraform::with_env(env)?;
    other.write(&pipeline(""))?;
    other.init()?;
    std::fs::copy(
        tf.dir().join("terraform.tfstate"),
        other.dir().join("terraform.tfstate"),
    )?;
    Ok(other)
}

/// An ARN of the applied pipeline's `persist` block (`role_arn`, `function_arn`).
fn persist_arn(tf: &Terraform, attribute: &str) -> Result<String> {
    let state: serde_json::Value = serde_json::from_str(&tf.run(&["show", "-json"])?.ok()?.stdout)?;
    Ok(
        state["values"]["root_module"]["resources"][0]["values"]["persist"][attribute]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The applied pipeline of `tf` was made in `account` (its role's and function's ARNs say so),
/// nothing in the emulator's default account; its plan is empty, and it is destroyed.
async fn made_in_account(emulator: &Emulator, tf: &Terraform, account: &str) -> Result<()> {
    for arn in ["role_arn", "function_arn"] {
        let value = persist_arn(tf, arn)?;
        assert!(value.contains(&format!(":{account}:")), "{arn} = {value}");
    }
    assert!(
        streams(emulator).await?.is_empty(),
        "nothing in the default account"
    );
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    Ok(())
}

/// The first error Terraform printed: its summary, and its detail on one line (Terraform's box,
/// line breaks and the configuration excerpt it points at removed).
fn diagnostic(stderr: &str) -> (String, String) {
    let lines: Vec<&str> = stderr
        .lines()
        .map(|l| l.trim_start_matches('│').trim())
        .skip_while(|l| !l.starts_with("Error: "))
        .take_while(|l| !l.starts_with('╵'))
        .collect();
    let summary = lines
        .first()
        .map(|l| l.trim_start_matches("Error: ").to_string())
        .unwrap_or_default();
    let detail = lines
        .iter()
        .skip(1)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("with ")
                && !l.starts_with("on ")
                && l.split(':')
                    .next()
                    .is_none_or(|n| n.trim().parse::<u32>().is_err())
        })
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    (summary, detail)
}

/// No SDK internals in an error a person reads.
fn assert_readable(error: &str) {
    for internal in ["{", "DispatchFailure", "ConnectorError", "Some(", "kind: "] {
        assert!(!error.contains(internal), "{internal:?} in: {error}");
    }
}

/// The streams on the emulator: none is made by a failing plan.
async fn streams(emulator: &Emulator) -> Result<Vec<String>> {
    let sdk = emulator.sdk_config().await;
    let out = aws_sdk_kinesis::Client::new(&sdk)
        .list_streams()
        .send()
        .await?;
    Ok(out.stream_names().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_say_where_credentials_come_from() -> Result<()> {
    let emulator = Emulator::start()?;
    let home = tempfile::tempdir()?;
    let nowhere = home.path().join("none");
    // The emulator's endpoint and region, and no credentials anywhere the SDK looks.
    let mut env: Vec<(String, String)> = emulator
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET"))
        .collect();
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", String::new()),
        ("AWS_SECRET_ACCESS_KEY", String::new()),
        ("AWS_SESSION_TOKEN", String::new()),
        ("AWS_PROFILE", String::new()),
        ("AWS_CONFIG_FILE", nowhere.display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere.display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ] {
        env.push((k.to_string(), v));
    }
    let tf = Terraform::with_env(env)?;
    tf.write(&pipeline("  max_retries = 1"))?;
    tf.init()?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    let (summary, detail) = diagnostic(&plan.stderr);
    assert_readable(&detail);
    assert_eq!(summary, "cannot plan unifiedetl_pipeline");
    assert_eq!(
        detail,
        "reading the caller's AWS identity: no valid credential sources found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile (`profile` in the provider block, or AWS_PROFILE), or run where a role's credentials are available (web identity, SSO, a container or instance role)"
    );
    assert!(streams(&emulator).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_lists_refuse_a_plan_in_the_wrong_account_naming_both() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = terraform(&emulator, "  allowed_account_ids = [\"111111111111\"]")?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    let (summary, detail) = diagnostic(&plan.stderr);
    assert_eq!(summary, "AWS account not allowed");
    assert_eq!(
        detail,
        "the credentials are for AWS account 123456789012, which `allowed_account_ids` (111111111111) does not list: use credentials (or a profile, or `assume_role`) for an allowed account, or add 123456789012 to the list"
    );
    tf.write(&pipeline("  forbidden_account_ids = [\"123456789012\"]"))?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    assert_eq!(
        diagnostic(&plan.stderr).1,
        "the credentials are for AWS account 123456789012, which `forbidden_account_ids` lists: use credentials (or a profile, or `assume_role`) for another account"
    );
    tf.write(&pipeline("  allowed_account_ids = [\"123456789012\"]"))?;
    assert_eq!(tf.plan()?.code, 2, "the right account plans");
    assert!(streams(&emulator).await?.is_empty());
    Ok(())
}

/// `assume_role` makes every call as the role, in its account: the pipeline is made in account
/// 111111111111, although the provider's own credentials are for 123456789012.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_acts_as_the_role_in_its_account() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = applied(&emulator, "  allowed_account_ids = [\"111111111111\"]\n  assume_role {\n    role_arn     = \"arn:aws:iam::111111111111:role/deploy\"\n    session_name = \"unifiedetl-e2e\"\n    duration     = \"1h\"\n    tags         = { team = \"data\" }\n  }",)?;
    made_in_account(&emulator, &tf, "111111111111").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named_with_what_to_do() -> Result<()> {
    // A port nothing listens on: taken, then given back.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let tf = Terraform::with_env(
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
    )?;
    tf.write(&pipeline(&format!(
        "  endpoint_url = \"http://127.0.0.1:{port}\"\n  max_retries  = 1"
    )))?;
    tf.init()?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    let (summary, detail) = diagnostic(&plan.stderr);
    assert_readable(&detail);
    assert_eq!(summary, "cannot plan unifiedetl_pipeline");
    assert!(
        detail.starts_with(&format!(
            "reading the caller's AWS identity: could not reach the STS endpoint http://127.0.0.1:{port} ("
        )) && detail.ends_with(
            "). Is the local emulator running? Start it with `make emulator`"
        ),
        "{detail}"
    );
    Ok(())
}

/// Access denied, expired credentials and throttling that outlasts the retries, each met by a
/// plan of an applied pipeline (its refresh): the plan stops with AWS's code and what to do,
/// and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_expired_credentials_and_throttling_say_what_to_do() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = applied(&emulator, "")?;
    let before = streams(&emulator).await?;
    let refresh_fails = |settings: serde_json::Value| -> Result<(String, String)> {
        emulator.realism(settings)?;
        let plan = tf.plan()?;
        assert_eq!(plan.code, 1, "{}", plan.stdout);
        let (summary, detail) = diagnostic(&plan.stderr);
        assert_readable(&detail);
        Ok((summary, detail))
    };

    let (_, detail) =
        refresh_fails(serde_json::json!({"deny": ["Kinesis.DescribeStreamSummary"]}))?;
    assert!(
        detail.contains(
            "AccessDeniedException: User: arn:aws:iam::123456789012:user/moto is not authorized to perform: kinesis:DescribeStreamSummary on resource: arn:aws:kinesis:us-east-1:123456789012:stream/errs-"
        ) && detail.ends_with(
            "because no identity-based policy allows the kinesis:DescribeStreamSummary action. The caller's policies must allow that action: grant it, or use a role or profile that has it"
        ),
        "{detail}"
    );

    let (_, detail) = refresh_fails(serde_json::json!({"deny": [], "expired_token": true}))?;
    assert!(
        detail.ends_with(
            "the AWS credentials have expired (The security token included in the request is expired). Refresh them (`aws sso login`, or new session credentials) and run again"
        ),
        "{detail}"
    );

    // No retries, and every control-plane call throttled.
    tf.write(&pipeline("  max_retries = 0"))?;
    let (_, detail) = refresh_fails(serde_json::json!({
        "expired_token": false, "classes": ["throttle"], "throttle_rate": 1.0
    }))?;
    assert!(
        detail.contains("AWS went on throttling the call after 0 retries (")
            && detail.ends_with(
                "). Raise `max_retries` in the provider block, or run again when the account's API use is lower"
            ),
        "{detail}"
    );

    emulator.realism(serde_json::json!({"throttle_rate": 0.0}))?;
    tf.write(&pipeline(""))?;
    assert_eq!(streams(&emulator).await?, before, "nothing changed");
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    Ok(())
}

/// `endpoints` sends each service to its own endpoint, over `endpoint_url`; the
/// `AWS_ENDPOINT_URL_<SERVICE>` variables do the same from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_send_each_service_to_its_own_listener() -> Result<()> {
    let emulator = Emulator::start()?;
    let kinesis = CountingProxy::start(&emulator.endpoint).await?;
    let rest = CountingProxy::start(&emulator.endpoint).await?;
    let tf = applied(
        &emulator,
        &format!(
            "  endpoint_url = \"{}\"\n  endpoints {{\n    kinesis = \"{}\"\n  }}",
            rest.endpoint(),
            kinesis.endpoint()
        ),
    )?;
    let (to_kinesis, to_rest) = (kinesis.take_log(), rest.take_log());
    assert!(!to_kinesis.is_empty() && !to_rest.is_empty());
    for call in &to_kinesis {
        assert!(call.operation.starts_with("kinesis:"), "{}", call.operation);
    }
    for call in &to_rest {
        assert!(
            !call.operation.starts_with("kinesis:"),
            "{}",
            call.operation
        );
    }

    // From the environment: AWS_ENDPOINT_URL for all, AWS_ENDPOINT_URL_KINESIS for Kinesis.
    let mut env = emulator.env();
    env.push(("AWS_ENDPOINT_URL_KINESIS".into(), kinesis.endpoint()));
    let by_env = with_state_of(&tf, env)?;
    assert_eq!(by_env.plan()?.code, 0);
    let refreshed = kinesis.take_log();
    assert!(
        refreshed
            .iter()
            .any(|c| c.operation == "kinesis:DescribeStreamSummary"),
        "{refreshed:?}"
    );
    tf.destroy()?;
    Ok(())
}

/// `http_proxy` carries requests to `http://` endpoints; `no_proxy` names hosts reached
/// directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_carries_the_calls_and_no_proxy_bypasses_it() -> Result<()> {
    let emulator = Emulator::start()?;
    // A proxy that passes what it is sent on to the emulator.
    let proxy = CountingProxy::start(&emulator.endpoint).await?;
    let tf = terraform(
        &emulator,
        &format!("  http_proxy = \"{}\"", proxy.endpoint()),
    )?;
    assert_eq!(tf.plan()?.code, 2);
    let proxied = proxy.take_log();
    assert!(
        proxied
            .iter()
            .any(|c| c.operation == "sts:GetCallerIdentity"),
        "{proxied:?}"
    );
    tf.write(&pipeline(&format!(
        "  http_proxy = \"{}\"\n  no_proxy   = \"127.0.0.1,localhost\"",
        proxy.endpoint()
    )))?;
    assert_eq!(tf.plan()?.code, 2);
    assert!(proxy.take_log().is_empty(), "no_proxy bypasses the proxy");
    Ok(())
}

/// An HTTPS endpoint whose certificate a private CA signed: refused without the CA (saying
/// where to name it), trusted with `custom_ca_bundle` or `AWS_CA_BUNDLE`, and reached through an
/// HTTPS proxy's CONNECT tunnels with `https_proxy` or `HTTPS_PROXY`, but for `no_proxy` hosts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_ca_bundle_and_https_proxy_reach_a_private_tls_endpoint() -> Result<()> {
    let emulator = Emulator::start()?;
    let front = TlsFront::start(&emulator.endpoint).await?;
    let proxy = ConnectProxy::start().await?;
    let bundle = front.ca_bundle.display().to_string();
    let tf = terraform(
        &emulator,
        &format!(
            "  endpoint_url = \"{}\"\n  max_retries  = 0",
            front.endpoint
        ),
    )?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1, "{}", plan.stdout);
    let (_, detail) = diagnostic(&plan.stderr);
    assert_readable(&detail);
    assert!(
        detail.contains(&format!(
            "could not reach the STS endpoint {}",
            front.endpoint
        )) && detail.contains("certificate")
            && detail.contains("custom_ca_bundle"),
        "{detail}"
    );

    let trusted = format!(
        "  endpoint_url     = \"{}\"\n  custom_ca_bundle = \"{bundle}\"",
        front.endpoint
    );
    tf.write(&pipeline(&trusted))?;
    tf.apply()?;
    assert_eq!(proxy.tunnels(), 0);

    tf.write(&pipeline(&format!(
        "{trusted}\n  https_proxy = \"{}\"",
        proxy.url
    )))?;
    assert_eq!(tf.plan()?.code, 0);
    let tunnels = proxy.tunnels();
    assert!(tunnels > 0, "the calls went through the proxy");

    tf.write(&pipeline(&format!(
        "{trusted}\n  https_proxy = \"{}\"\n  no_proxy    = \"localhost\"",
        proxy.url
    )))?;
    assert_eq!(tf.plan()?.code, 0);
    assert_eq!(proxy.tunnels(), tunnels, "no_proxy bypasses the proxy");

    // The same from the environment.
    let mut env = emulator.env();
    env.extend([
        ("AWS_ENDPOINT_URL".to_string(), front.endpoint.clone()),
        ("AWS_CA_BUNDLE".to_string(), bundle.clone()),
        ("HTTPS_PROXY".to_string(), proxy.url.clone()),
    ]);
    let by_env = with_state_of(&tf, env)?;
    assert_eq!(by_env.plan()?.code, 0);
    assert!(proxy.tunnels() > tunnels, "HTTPS_PROXY is read");

    tf.write(&pipeline(&trusted))?;
    tf.destroy()?;
    Ok(())
}

/// `ignore_tags`: tags another tool adds are neither drift nor removed; others still are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_tags_hides_tags_other_tools_manage() -> Result<()> {
    let emulator = Emulator::start()?;
    let tf = applied(&emulator, "  ignore_tags {\n    keys         = [\"CostCenter\"]\n    key_prefixes = [\"config:\"]\n  }",)?;
    let kinesis = aws_sdk_kinesis::Client::new(&emulator.sdk_config().await);
    let stream = streams(&emulator)
        .await?
        .first()
        .cloned()
        .unwrap_or_default();
    let tag = |key: &str, value: &str| {
        kinesis
            .add_tags_to_stream()
            .stream_name(&stream)
            .tags(key, value)
            .send()
    };
    tag("CostCenter", "42").await?;
    tag("config:rule", "tagged").await?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 0, "ignored tags are no drift:\n{}", plan.stdout);

    tag("Owner", "someone-else").await?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 2, "other tags still are");
    assert!(plan.stdout.contains("Owner"), "{}", plan.stdout);
    tf.apply()?;
    let tags: Vec<String> = kinesis
        .list_tags_for_stream()
        .stream_name(&stream)
        .send()
        .await?
        .tags()
        .iter()
        .map(|t| t.key().to_string())
        .collect();
    assert!(tags.contains(&"CostCenter".to_string()) && tags.contains(&"config:rule".to_string()));
    assert!(!tags.contains(&"Owner".to_string()), "{tags:?}");
    tf.destroy()?;
    Ok(())
}

/// `TF_LOG=DEBUG`: a line in Terraform's log per AWS call the emulator answered (the proxy in
/// front of it counts them), with service, operation, component, status, duration, request ID
/// and attempt — and never the database password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf_log_debug_shows_one_line_per_aws_call_and_no_secret() -> Result<()> {
    let emulator = Emulator::start()?;
    emulator.create_dms_vpc_role()?;
    let proxy = CountingProxy::start(&emulator.endpoint).await?;
    let password = "tf-log-never-shows-this";
    let log_dir = tempfile::tempdir()?;
    let log_path = log_dir.path().join("terraform.log");
    let mut env = emulator.env();
    env.extend([
        ("AWS_ENDPOINT_URL".to_string(), proxy.endpoint()),
        ("TF_LOG".to_string(), "DEBUG".to_string()),
        ("TF_LOG_PATH".to_string(), log_path.display().to_string()),
    ]);
    let tf = Terraform::with_env(env)?;
    let main = pipeline("").replace(
        "  sink { partition_key = \"id\" }",
        &format!("  sink {{ partition_key = \"id\" }}\n  source {{\n    server_name = \"mysql.internal\"\n    username    = \"dms\"\n    password    = \"{password}\"\n    subnet_ids  = [\"subnet-0a1b2c3d\", \"subnet-4e5f6a7b\"]\n    tables      = {{ orders = [\"order\"] }}\n  }}"),
    );
    tf.write(&main)?;
    tf.init()?;
    proxy.take_log();
    tf.apply()?;
    let calls = proxy.take_log();
    let log = std::fs::read_to_string(&log_path)?;
    assert!(!log.contains(password), "the password is in the log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("AWS call ")).collect();
    let mut logged: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split("AWS call ").nth(1)?.split(':').next())
        .map(str::to_string)
        .collect();
    let mut answered: Vec<String> = calls.iter().map(|c| c.operation.clone()).collect();
    logged.sort();
    answered.sort();
    assert_eq!(
        lines.len(),
        calls.len(),
        "one line per call the emulator answered:\nlogged {logged:?}\nanswered {answered:?}"
    );
    for field in [
        "aws.service=",
        "aws.operation=",
        "component=",
        "http.status=",
        "duration_ms=",
        "aws.request_id=",
        "attempt=",
    ] {
        assert!(
            lines.iter().all(|l| l.contains(field)),
            "{field} missing:\n{}",
            lines[0]
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("aws.operation=CreateStream") && l.contains("component=errs-")),
        "{}",
        lines.join("\n")
    );
    tf.destroy()?;
    Ok(())
}

/// `assume_role_with_web_identity`: an OIDC token in a file, exchanged with STS for the role's
/// session; every call is then made as the role, in its account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_identity_acts_as_the_role_in_its_account() -> Result<()> {
    let emulator = Emulator::start()?;
    let dir = tempfile::tempdir()?;
    let token = dir.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl\n",
    )?;
    let tf = applied(&emulator, &format!(
        "  assume_role_with_web_identity {{\n    role_arn                = \"arn:aws:iam::222222222222:role/ci\"\n    web_identity_token_file = \"{}\"\n    session_name            = \"ci-run\"\n  }}",
        token.display()
    ))?;
    made_in_account(&emulator, &tf, "222222222222").await
}

/// `skip_requesting_account_id`: with STS refusing GetCallerIdentity, a plan still works when
/// the provider block names the account, and says what to do when it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_requesting_account_id_takes_the_account_from_the_block() -> Result<()> {
    let emulator = Emulator::start()?;
    emulator.realism(serde_json::json!({"deny": ["STS.GetCallerIdentity"]}))?;
    let tf = terraform(&emulator, "")?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1);
    let (_, detail) = diagnostic(&plan.stderr);
    assert!(detail.starts_with("reading the caller's AWS identity: AccessDenied: User: arn:aws:iam::123456789012:user/moto is not authorized to perform: sts:GetCallerIdentity"), "{detail}");

    tf.write(&pipeline(
        "  skip_requesting_account_id  = true\n  skip_credentials_validation = true",
    ))?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 1);
    assert_eq!(
        diagnostic(&plan.stderr).1,
        "the AWS account is needed (ARNs and default bucket names embed it), but `skip_requesting_account_id` is set and the provider block names no account: name it in `assume_role.role_arn` or as the one entry of `allowed_account_ids`, or unset `skip_requesting_account_id`"
    );

    tf.write(&pipeline(
        "  skip_requesting_account_id  = true\n  skip_credentials_validation = true\n  allowed_account_ids         = [\"123456789012\"]",
    ))?;
    tf.apply()?;
    assert_eq!(tf.plan()?.code, 0);
    tf.destroy()?;
    assert!(streams(&emulator).await?.is_empty());
    Ok(())
}
