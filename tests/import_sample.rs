//! Migrating the AWS sample's own pipeline, end to end with the real Terraform CLI on a private
//! emulator with its realism on: the sample's components are built out of band with the SDK as
//! its CDK stacks and console steps leave them (CDK-style names, no pipeline tag, a Python
//! function with its own role and policies, its Kinesis mapping, a running DMS task, the SQL
//! application's console-made role and the reference bucket; the SQL application itself is gone,
//! as AWS deleted them in January 2026), with data in the table and the streams. Imported by a
//! component map, the plan replaces nothing and shows only the documented differences; the
//! first apply adopts everything (tag, policies, the function's code and runtime, the mapping's
//! settings) without touching the data; destroy leaves nothing the import named. A variant
//! fails the first apply half-way (an adoption call failing until the SDK gives up): the error
//! names the component, the next apply converges, destroy leaves nothing.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use testkit::emulator::settle;
use testkit::{repo_root, Emulator, Terraform};

use serde_json::{json, Value};

use crate::common::nothing_left;
use crate::common::plan_diff::changed_paths;

const CDC: &str = "unifiedOrderStream";
const ENRICHED: &str = "unifiedOrderEnrichedStream";
const TABLE: &str = "UnifiedOrderEnriched";
const FUNCTION: &str = "UnifiedStreamETLProcessSta-ProcessFunction79F3E9F1-x7Q2mZcLk4pA";
const FUNCTION_ROLE: &str = "UnifiedStreamETLProcessS-ProcessServiceRoleF1C4E4B2-1R5T0QWJXK3M";
const FUNCTION_POLICY: &str = "ProcessServiceRoleDefaultPolicy2C6B6F4E";
const DMS_ROLE: &str = "dms-kinesis-access-role";
const ANALYTICS_ROLE: &str = "kinesis-analytics-UnifiedKDA-OrderETL-us-east-1";
const REFERENCE_BUCKET: &str = "unifiedstreametldatastack-unifiedbucketid4b7c7a3c-1p9yx0l2k8d5";
const INSTANCE: &str = "mysql-rpl-id";
const SOURCE_ENDPOINT: &str = "mysqlendpointid";
const TARGET_ENDPOINT: &str = "kinesisendpointid";
const TASK: &str = "dms-repl-task-orders";
const APPLICATION: &str = "UnifiedKDA-OrderETL";

/// The sample's table mappings, as its console step wrote them.
const TABLE_MAPPINGS: &str = r#"{"rules":[{"rule-type":"selection","rule-id":"1","rule-name":"orders-all","object-locator":{"schema-name":"orderdb","table-name":"%"},"rule-action":"include"}]}"#;

fn import_id() -> String {
    [
        "name=unified-orders",
        &format!("cdc_stream={CDC}"),
        &format!("enriched_stream={ENRICHED}"),
        &format!("sink={TABLE}"),
        &format!("function={FUNCTION}"),
        &format!("role={FUNCTION_ROLE}"),
        &format!("replication_instance={INSTANCE}"),
        &format!("source_endpoint={SOURCE_ENDPOINT}"),
        &format!("target_endpoint={TARGET_ENDPOINT}"),
        &format!("replication_task={TASK}"),
        &format!("dms_role={DMS_ROLE}"),
        &format!("application={APPLICATION}"),
        &format!("analytics_role={ANALYTICS_ROLE}"),
        &format!("reference_bucket={REFERENCE_BUCKET}"),
    ]
    .join(",")
}

/// What the sample's data and components are before the import, to compare after the apply.
#[derive(Debug, PartialEq)]
struct Kept {
    stream_arns: Vec<String>,
    stream_created: Vec<String>,
    table_created: String,
    items: usize,
    records: Vec<usize>,
    function_arn: String,
    mapping: String,
}

/// An SDK error with AWS's code and message (its Display says only "service error").
fn aws_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

fn role_trust(service: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
    .to_string()
}

fn allow_all(actions: &[&str]) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
        "Resource": "*"}]})
    .to_string()
}

fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// An empty zip archive: the sample's Python function, as far as the emulator looks.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Builds the sample's pipeline out of band, as its CDK stacks and console steps leave it.
async fn build_sample(emulator: &Emulator) -> Result<()> {
    let sdk = emulator.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let dms = aws_sdk_databasemigration::Client::new(&sdk);
    let s3 = s3_client(&sdk);
    let account = "123456789012";

    for stream in [CDC, ENRICHED] {
        kinesis
            .create_stream()
            .stream_name(stream)
            .shard_count(2)
            .send()
            .await
            .map_err(aws_error)?;
    }
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ProvisionedThroughput,
        ScalarAttributeType,
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let number = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::N)
            .build()
    };
    dynamodb
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(number("orderId")?)
        .attribute_definitions(number("itemId")?)
        .key_schema(key("orderId", KeyType::Hash)?)
        .key_schema(key("itemId", KeyType::Range)?)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(300)
                .write_capacity_units(3000)
                .build()?,
        )
        .send()
        .await
        .map_err(aws_error)?;

    // The roles: the function's (CDK: an inline default policy and a managed policy), the
    // DMS target's and the SQL application's (console-made), none with the pipeline's tag.
    for (role, service) in [
        (FUNCTION_ROLE, "lambda.amazonaws.com"),
        (DMS_ROLE, "dms.amazonaws.com"),
        (ANALYTICS_ROLE, "kinesisanalytics.amazonaws.com"),
    ] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(role_trust(service))
            .send()
            .await
            .map_err(aws_error)?;
    }
    iam.put_role_policy()
        .role_name(FUNCTION_ROLE)
        .policy_name(FUNCTION_POLICY)
        .policy_document(allow_all(&["kinesis:*", "dynamodb:*"]))
        .send()
        .await
        .map_err(aws_error)?;
    let logs = iam
        .create_policy()
        .policy_name("UnifiedStreamETLProcessLogs")
        .policy_document(allow_all(&["logs:*"]))
        .send()
        .await
        .map_err(aws_error)?;
    let logs_arn = logs.policy().and_then(|p| p.arn()).unwrap_or_default();
    iam.attach_role_policy()
        .role_name(FUNCTION_ROLE)
        .policy_arn(logs_arn)
        .send()
        .await
        .map_err(aws_error)?;
    iam.put_role_policy()
        .role_name(DMS_ROLE)
        .policy_name("dms-kinesis-access")
        .policy_document(allow_all(&["kinesis:*"]))
        .send()
        .await
        .map_err(aws_error)?;
    iam.put_role_policy()
        .role_name(ANALYTICS_ROLE)
        .policy_name("kinesis-analytics-service-UnifiedKDA-OrderETL-us-east-1")
        .policy_document(allow_all(&["kinesis:*", "s3:GetObject"]))
        .send()
        .await
        .map_err(aws_error)?;

    // The reference bucket with the products, uploaded by hand.
    s3.create_bucket().bucket(REFERENCE_BUCKET).send().await?;
    settle("the reference bucket", || {
        s3.put_object()
            .bucket(REFERENCE_BUCKET)
            .key("products.json")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                br#"{"productId": 1, "productName": "widget"}"#,
            ))
            .send()
    })
    .await?;

    // The function (Python, another handler, its own environment) once its role is usable,
    // and its mapping on the enriched stream: batches of 500, five per shard, no failure
    // reporting nor destination.
    let function_role_arn = format!("arn:aws:iam::{account}:role/{FUNCTION_ROLE}");
    settle("the sample's function", || {
        lambda
            .create_function()
            .function_name(FUNCTION)
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .handler("index.handler")
            .role(&function_role_arn)
            .memory_size(256)
            .timeout(60)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(EMPTY_ZIP.to_vec()))
                    .build(),
            )
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("TABLE_NAME", TABLE)
                    .build(),
            )
            .send()
    })
    .await?;
    let enriched_arn = format!("arn:aws:kinesis:us-east-1:{account}:stream/{ENRICHED}");
    settle("the sample's mapping", || {
        lambda
            .create_event_source_mapping()
            .function_name(FUNCTION)
            .event_source_arn(&enriched_arn)
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
            .batch_size(500)
            .parallelization_factor(5)
            .send()
    })
    .await?;

    // Data: items in the table, records in both streams.
    for item in 1..=3 {
        settle("an item", || {
            dynamodb
                .put_item()
                .table_name(TABLE)
                .item("orderId", AttributeValue::N("1".into()))
                .item("itemId", AttributeValue::N(item.to_string()))
                .item("productName", AttributeValue::S("widget".into()))
                .send()
        })
        .await?;
    }
    for stream in [CDC, ENRICHED] {
        for n in 0..4 {
            settle("a record", || {
                kinesis
                    .put_record()
                    .stream_name(stream)
                    .partition_key(n.to_string())
                    .data(aws_sdk_kinesis::primitives::Blob::new(
                        json!({"orderId": 1, "n": n}).to_string(),
                    ))
                    .send()
            })
            .await?;
        }
    }

    // DMS: the instance, both endpoints (the Kinesis one with the sample's settings, not the
    // pipeline's), the connections tested as the sample's step 4 says, the task running.
    use aws_sdk_databasemigration::types::{
        KinesisSettings, MessageFormatValue, MigrationTypeValue, ReplicationEndpointTypeValue,
        StartReplicationTaskTypeValue,
    };
    let instance = dms
        .create_replication_instance()
        .replication_instance_identifier(INSTANCE)
        .replication_instance_class("dms.t3.medium")
        .allocated_storage(50)
        .publicly_accessible(false)
        .send()
        .await
        .map_err(aws_error)?;
    let instance_arn = instance
        .replication_instance()
        .and_then(|i| i.replication_instance_arn())
        .context("instance ARN")?
        .to_string();
    let source = dms
        .create_endpoint()
        .endpoint_identifier(SOURCE_ENDPOINT)
        .endpoint_type(ReplicationEndpointTypeValue::Source)
        .engine_name("mysql")
        .server_name("orders-db.cluster.internal")
        .port(3306)
        .username("dms")
        .password("sample-password")
        .send()
        .await
        .map_err(aws_error)?;
    let source_arn = source
        .endpoint()
        .and_then(|e| e.endpoint_arn())
        .context("source ARN")?
        .to_string();
    let dms_role_arn = format!("arn:aws:iam::{account}:role/{DMS_ROLE}");
    let cdc_arn = format!("arn:aws:kinesis:us-east-1:{account}:stream/{CDC}");
    let target = settle("the sample's Kinesis endpoint", || {
        dms.create_endpoint()
            .endpoint_identifier(TARGET_ENDPOINT)
            .endpoint_type(ReplicationEndpointTypeValue::Target)
            .engine_name("kinesis")
            .kinesis_settings(
                KinesisSettings::builder()
                    .stream_arn(&cdc_arn)
                    .service_access_role_arn(&dms_role_arn)
                    .message_format(MessageFormatValue::Json)
                    .build(),
            )
            .send()
    })
    .await?;
    let target_arn = target
        .endpoint()
        .and_then(|e| e.endpoint_arn())
        .context("target ARN")?
        .to_string();
    let task = settle("the sample's task", || {
        dms.create_replication_task()
            .replication_task_identifier(TASK)
            .replication_instance_arn(&instance_arn)
            .source_endpoint_arn(&source_arn)
            .target_endpoint_arn(&target_arn)
            .migration_type(MigrationTypeValue::FullLoadAndCdc)
            .table_mappings(TABLE_MAPPINGS)
            .send()
    })
    .await?;
    let task_arn = task
        .replication_task()
        .and_then(|t| t.replication_task_arn())
        .context("task ARN")?
        .to_string();
    for endpoint in [&source_arn, &target_arn] {
        settle("a connection test", || {
            dms.test_connection()
                .replication_instance_arn(&instance_arn)
                .endpoint_arn(endpoint)
                .send()
        })
        .await?;
    }
    settle("the sample's task to start", || async {
        dms.start_replication_task()
            .replication_task_arn(&task_arn)
            .start_replication_task_type(StartReplicationTaskTypeValue::StartReplication)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await?;
    settle("the sample's task to run", || async {
        match task_status(&dms, TASK).await {
            Ok(status) if status == "running" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await?;
    Ok(())
}

async fn task_status(dms: &aws_sdk_databasemigration::Client, id: &str) -> Result<String> {
    let out = dms
        .describe_replication_tasks()
        .filters(
            aws_sdk_databasemigration::types::Filter::builder()
                .name("replication-task-id")
                .values(id)
                .build()?,
        )
        .send()
        .await
        .map_err(aws_error)?;
    Ok(out.replication_tasks()[0]
        .status()
        .unwrap_or_default()
        .to_string())
}

/// The data and ids the migration must keep.
async fn kept(sdk: &SdkConfig) -> Result<Kept> {
    let kinesis = aws_sdk_kinesis::Client::new(sdk);
    let mut stream_arns = Vec::new();
    let mut stream_created = Vec::new();
    let mut records = Vec::new();
    for stream in [CDC, ENRICHED] {
        let d = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(aws_error)?;
        let d = d.stream_description_summary().context("summary")?;
        stream_arns.push(d.stream_arn().to_string());
        stream_created.push(format!("{:?}", d.stream_creation_timestamp()));
        let mut count = 0;
        let shards = kinesis.list_shards().stream_name(stream).send().await?;
        for shard in shards.shards() {
            let iterator = kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(aws_error)?;
            let got = kinesis
                .get_records()
                .shard_iterator(iterator.shard_iterator().unwrap_or_default())
                .send()
                .await
                .map_err(aws_error)?;
            count += got.records().len();
        }
        records.push(count);
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let table = dynamodb.describe_table().table_name(TABLE).send().await?;
    let items = dynamodb.scan().table_name(TABLE).send().await?;
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let function = lambda.get_function().function_name(FUNCTION).send().await?;
    let mappings = crate::common::mappings_of(&lambda, FUNCTION).await?;
    Ok(Kept {
        stream_arns,
        stream_created,
        table_created: format!("{:?}", table.table().and_then(|t| t.creation_date_time())),
        items: items.items().len(),
        records,
        function_arn: function
            .configuration()
            .and_then(|c| c.function_arn())
            .unwrap_or_default()
            .to_string(),
        mapping: mappings
            .iter()
            .filter_map(|m| m.uuid())
            .collect::<Vec<_>>()
            .join(","),
    })
}

/// The kinesis-analytics-sql example, under the sample's names.
fn configure(tf: &Terraform, emulator: &Emulator) -> Result<()> {
    tf.copy_module(&repo_root().join("examples/kinesis-analytics-sql"))?;
    let config = std::fs::read_to_string(tf.dir().join("main.tf"))?
        .replace("name = \"unified-orders-sql\"", "name = \"unified-orders\"")
        .replace(
            "  cdc_stream {\n    shard_count = 2\n  }",
            &format!("  cdc_stream {{\n    name            = \"{CDC}\"\n    shard_count     = 2\n    encryption_type = \"NONE\"\n  }}"),
        )
        .replace(
            "  enriched_stream {\n    shard_count = 2\n  }",
            &format!("  enriched_stream {{\n    name            = \"{ENRICHED}\"\n    shard_count     = 2\n    encryption_type = \"NONE\"\n  }}"),
        )
        .replace(
            "  sink {\n",
            &format!("  sink {{\n    name                   = \"{TABLE}\"\n    server_side_encryption = false\n"),
        )
        .replace(
            "  persist {\n",
            &format!("  persist {{\n    function_name     = \"{FUNCTION}\"\n    role_name         = \"{FUNCTION_ROLE}\"\n    starting_position = \"TRIM_HORIZON\"\n"),
        )
        .replace(
            "    engine      = \"kinesis-analytics-sql\"\n",
            &format!("    engine           = \"kinesis-analytics-sql\"\n    application_name = \"{APPLICATION}\"\n    role_name        = \"{ANALYTICS_ROLE}\"\n    reference_bucket = \"{REFERENCE_BUCKET}\"\n"),
        )
        .replace(
            "  analytics {\n",
            &format!(
                r#"  source {{
    server_name             = "orders-db.cluster.internal"
    username                = "dms"
    password                = "sample-password"
    replication_instance_id = "{INSTANCE}"
    source_endpoint_id      = "{SOURCE_ENDPOINT}"
    target_endpoint_id      = "{TARGET_ENDPOINT}"
    replication_task_id     = "{TASK}"
    role_name               = "{DMS_ROLE}"
    partition_key_type      = "schema-table"
    ssl_mode                = "none"
    table_mappings          = jsonencode({{ rules = [{{ "rule-type" = "selection", "rule-id" = "1", "rule-name" = "orders-all", "object-locator" = {{ "schema-name" = "orderdb", "table-name" = "%" }}, "rule-action" = "include" }}] }})
  }}

  analytics {{
"#
            ),
        );
    for wanted in [
        FUNCTION,
        ANALYTICS_ROLE,
        TASK,
        ENRICHED,
        "TRIM_HORIZON\"\n    batch",
    ] {
        assert!(config.contains(wanted), "{wanted} in\n{config}");
    }
    tf.write(&config)?;
    std::fs::write(
        tf.dir().join("emulator.auto.tfvars"),
        format!("endpoint_url = \"{}\"\n", emulator.endpoint),
    )?;
    tf.init()?;
    Ok(())
}

/// The differences `docs/resources/pipeline.md` "Import" lists for a pipeline migrated from the
/// sample: each is the first apply adopting something (see the docs for why each shows).
const DOCUMENTED: &[&str] = &[
    // Terraform-side settings.
    "timeouts.create",
    "timeouts.delete",
    // Never returned by AWS: set again.
    "source.0.password",
    // The tag the apply adds to every component, with the provider's default tags.
    "tags_all.unifiedetl:pipeline",
    "tags_all.project",
    // Roles without the pipeline's own policy: updated in place, same ARN.
    "persist.role_arn",
    "source.0.role_arn",
    "analytics.role_arn",
    // The function becomes the persist function: code, runtime and environment.
    "persist.function_arn",
    "persist.artifact_sha256",
    "persist.architecture",
    "persist.write_concurrency",
    // Published as a version, which the mapping then invokes instead of `$LATEST`.
    "persist.function_version",
    "persist.dead_letter_prefix",
    // The sink's protection, which the sample's table lacks: turned on in place.
    "sink.point_in_time_recovery",
    "sink.deletion_protection",
    // The dead-letter bucket the sample has no counterpart of, and the mapping's failure
    // handling (partial batch failures, on-failure destination), updated in place.
    "persist.dead_letter_bucket_arn",
    "persist.function_response_types",
    "persist.on_failure_destination_arn",
    // Settings the sample's mapping has otherwise.
    "persist.maximum_retry_attempts",
    "persist.bisect_batch_on_function_error",
    // The SQL application, gone, to be created (with what only the configuration knows).
    "analytics.application_arn",
    "analytics.application_version_id",
    "analytics.reference_objects",
];

fn undocumented(paths: &BTreeSet<String>) -> Vec<&String> {
    // The gone SQL application's settings come from the configuration alone.
    let of_the_application = |p: &str| {
        p.starts_with("analytics.")
            && !p.starts_with("analytics.role")
            && !p.starts_with("analytics.reference_bucket")
    };
    paths
        .iter()
        .filter(|p| !DOCUMENTED.contains(&p.as_str()) && !of_the_application(p))
        .collect()
}

async fn tags_of_components(sdk: &SdkConfig) -> Result<BTreeMap<String, Option<String>>> {
    let tag = "unifiedetl:pipeline";
    let mut out = BTreeMap::new();
    let iam = aws_sdk_iam::Client::new(sdk);
    for role in [FUNCTION_ROLE, DMS_ROLE, ANALYTICS_ROLE] {
        let r = iam.get_role().role_name(role).send().await?;
        let value = r
            .role()
            .and_then(|r| r.tags().iter().find(|t| t.key() == tag))
            .map(|t| t.value().to_string());
        out.insert(role.to_string(), value);
    }
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let f = lambda.get_function().function_name(FUNCTION).send().await?;
    out.insert(
        FUNCTION.to_string(),
        f.tags().and_then(|t| t.get(tag)).cloned(),
    );
    let dms = aws_sdk_databasemigration::Client::new(sdk);
    let filter = |name: &str, id: &str| {
        aws_sdk_databasemigration::types::Filter::builder()
            .name(name)
            .values(id)
            .build()
    };
    let task = dms
        .describe_replication_tasks()
        .filters(filter("replication-task-id", TASK)?)
        .send()
        .await
        .map_err(aws_error)?;
    let instance = dms
        .describe_replication_instances()
        .filters(filter("replication-instance-id", INSTANCE)?)
        .send()
        .await
        .map_err(aws_error)?;
    for (id, arn) in [
        (TASK, task.replication_tasks()[0].replication_task_arn()),
        (
            INSTANCE,
            instance.replication_instances()[0].replication_instance_arn(),
        ),
    ] {
        let tags = dms
            .list_tags_for_resource()
            .set_resource_arn(arn.map(str::to_string))
            .send()
            .await
            .map_err(aws_error)?;
        out.insert(
            id.to_string(),
            tags.tag_list()
                .iter()
                .find(|t| t.key() == Some(tag))
                .and_then(|t| t.value().map(str::to_string)),
        );
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_samples_pipeline_is_adopted_by_import_without_touching_its_data() -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    emulator.create_dms_vpc_role()?;
    build_sample(&emulator).await?;
    let sdk = emulator.sdk_config().await;
    let before = kept(&sdk).await?;
    assert_eq!(before.items, 3);
    assert_eq!(before.records, vec![4, 4]);

    let tf = Terraform::new(&emulator)?;
    configure(&tf, &emulator)?;
    tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        &import_id(),
    ])?
    .ok()?;

    // The plan updates in place, replaces nothing, and differs only where the docs say.
    let plan = tf.plan_json()?;
    let change = &plan["resource_changes"][0]["change"];
    assert_eq!(change["actions"], json!(["update"]), "{change:#}");
    assert!(
        plan["resource_changes"][0]["change"]["replace_paths"].is_null(),
        "{change:#}"
    );
    let paths = changed_paths(change);
    assert!(
        undocumented(&paths).is_empty(),
        "undocumented differences {:?} in {change:#}",
        undocumented(&paths)
    );
    // The mapping is the sample's, updated: same id, its settings read.
    let id = |v: &Value| v["persist"]["event_source_mapping_id"].clone();
    assert_eq!(id(&change["before"]), json!(before.mapping));
    assert_eq!(id(&change["after"]), json!(before.mapping));
    assert_eq!(change["before"]["persist"]["batch_size"], json!(500));
    assert_eq!(
        change["before"]["source"][0]["migration_type"],
        json!("full-load-and-cdc")
    );
    assert_eq!(
        change["before"]["analytics"]["reference_bucket"],
        json!(REFERENCE_BUCKET)
    );

    let applied = tf.apply()?;
    let said = format!("{}{}", applied.stdout, applied.stderr);
    assert!(
        said.contains(FUNCTION_POLICY) && said.contains("UnifiedStreamETLProcessLogs"),
        "the policies the role kept are named: {said}"
    );
    assert_eq!(tf.plan()?.code, 0, "{}", tf.plan()?.stdout);

    // Nothing replaced, no data touched; everything tagged; the task running.
    let after = kept(&sdk).await?;
    assert_eq!(after, before);
    for (component, tag) in tags_of_components(&sdk).await? {
        assert_eq!(tag.as_deref(), Some("unified-orders"), "{component}");
    }
    let dms = aws_sdk_databasemigration::Client::new(&sdk);
    assert_eq!(task_status(&dms, TASK).await?, "running");
    let iam = aws_sdk_iam::Client::new(&sdk);
    for (role, policy) in [
        (FUNCTION_ROLE, "unifiedetl-persist"),
        (DMS_ROLE, "unifiedetl-dms"),
        (ANALYTICS_ROLE, "unifiedetl-analytics"),
    ] {
        let policies = iam.list_role_policies().role_name(role).send().await?;
        assert!(
            policies.policy_names().iter().any(|p| p == policy),
            "{role}: {policies:?}"
        );
    }
    let function = aws_sdk_lambda::Client::new(&sdk)
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .map_err(aws_error)?;
    assert_eq!(
        function.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(function.handler(), Some("bootstrap"));

    destroy_with_the_samples_rows(&tf)?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}

/// The sink holds the sample's rows: destroy stops before deleting anything and says how to
/// proceed; with `sink.force_destroy = true` applied, it deletes everything.
fn destroy_with_the_samples_rows(tf: &Terraform) -> Result<()> {
    let refused = tf.run(&["destroy", "-auto-approve", "-input=false", "-no-color"])?;
    assert_ne!(refused.code, 0, "destroy must stop at a sink holding items");
    let said = refused
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!(
            "DynamoDB table ({TABLE}): the sink still holds items"
        )) && said.contains("`sink.force_destroy = true`"),
        "{said}"
    );
    let config = std::fs::read_to_string(tf.dir().join("main.tf"))?;
    assert!(config.contains("  sink {\n"));
    tf.write(&config.replacen("  sink {\n", "  sink {\n    force_destroy = true\n", 1))?;
    tf.apply()?;
    tf.destroy()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_apply_failing_half_way_converges_on_the_next_and_destroy_leaves_nothing(
) -> Result<()> {
    let emulator = tokio::task::spawn_blocking(Emulator::start).await??;
    emulator.create_dms_vpc_role()?;
    build_sample(&emulator).await?;
    let sdk = emulator.sdk_config().await;
    let before = kept(&sdk).await?;
    let tf = Terraform::new(&emulator)?;
    configure(&tf, &emulator)?;
    tf.run(&[
        "import",
        "-input=false",
        "-no-color",
        "unifiedetl_pipeline.orders",
        &import_id(),
    ])?
    .ok()?;
    // The provider gives up after one retry, so the outage ends the apply quickly; throttling
    // is off for that (its own test has it).
    std::fs::write(
        tf.dir().join("retries_override.tf"),
        "provider \"unifiedetl\" {\n  max_retries = 1\n}\n",
    )?;
    emulator.realism(json!({
        "classes": ["iam", "lag", "states", "dms", "account", "s3"],
        "outage": ["Lambda.UpdateFunctionConfiguration"],
    }))?;
    let run = tf.run(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
    assert_ne!(
        run.code, 0,
        "the function's adoption failing, the apply succeeded"
    );
    let said = format!("{}{}", run.stdout, run.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        said.contains(&format!("Lambda function ({FUNCTION})")),
        "the error names the function: {said}"
    );
    assert!(!said.contains("SdkError"), "{said}");

    emulator.realism(json!({ "outage": [] }))?;
    tf.apply()?;
    let plan = tf.plan()?;
    assert_eq!(plan.code, 0, "plan after the next apply:\n{}", plan.stdout);
    assert_eq!(kept(&sdk).await?, before);
    destroy_with_the_samples_rows(&tf)?;
    nothing_left::assert_holds_nothing(&emulator).await?;
    Ok(())
}
