//! Kinesis Data Analytics (SQL applications, API v1): the application that reads the CDC
//! stream, joins it with the reference data in S3 and writes the results to its output
//! streams.
//!
//! Finders, create/update/delete, start/stop and waiters, in that order. An application is
//! READY (configured, not processing) or RUNNING, and passes through STARTING, STOPPING,
//! UPDATING, AUTOSCALING and DELETING on its way between them. Every configuration change
//! (UpdateApplication and each Add/Delete call) must name the application's current version id,
//! which grows by one with each change, and is refused while the application is busy
//! (ResourceInUseException) or when the version named is stale
//! (ConcurrentModificationException): [`update`] makes one change at a time, re-describing the
//! application after each, and plans the next change from that fresh description. The
//! description is fixed at creation: a different one means a new application
//! ([`needs_replacement`]). A reference object that changed in S3 is loaded again by
//! [`reload_references`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_kinesisanalytics::types::{
    ApplicationDetail, ApplicationUpdate, DestinationSchema, InputConfiguration, InputDescription,
    InputParallelism, InputParallelismUpdate, InputSchemaUpdate, InputStartingPosition,
    InputStartingPositionConfiguration, InputUpdate, JsonMappingParameters, KinesisStreamsInput,
    KinesisStreamsInputUpdate, KinesisStreamsOutput, KinesisStreamsOutputUpdate, MappingParameters,
    OutputDescription, OutputUpdate, RecordColumn, RecordFormat, RecordFormatType,
    ReferenceDataSource, ReferenceDataSourceDescription, ReferenceDataSourceUpdate,
    S3ReferenceDataSource, S3ReferenceDataSourceUpdate, SourceSchema, Tag,
};
use aws_sdk_kinesisanalytics::Client;

use crate::aws::tags::{tag_diff, TagDiff};
use crate::aws::{context, found, gone, AwsError, AwsResult};
use crate::wait;

pub use crate::kda_sql::Column;

/// What errors call this service's component.
const COMPONENT: &str = "Kinesis Analytics application";

/// An application has at most 50 user tags; TagResource and UntagResource take them at once.
const TAGS_PER_CALL: usize = 50;

/// How many times a call refused because the application was busy or the version named was
/// stale is tried again (after re-describing the application) before giving up.
const MAX_REFUSALS: u32 = 10;

/// How many configuration changes one [`update`] makes at most: one input, three outputs and
/// one reference source deleted and added again, and one UpdateApplication, fit well within.
const MAX_CHANGES: usize = 16;

/// How long a waiter for RUNNING accepts READY right after StartApplication before it takes
/// it for a start that failed (AWS reports STARTING at once; this only covers a stale read).
const START_GRACE: Duration = Duration::from_secs(30);

const READY: &str = "READY";
const RUNNING: &str = "RUNNING";
const STARTING: &str = "STARTING";
const DELETING: &str = "DELETING";

/// The settings an application should have.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationSpec {
    pub name: String,
    pub description: String,
    /// The SQL.
    pub code: String,
    /// The role KDA assumes to read the input, write the outputs and read the reference object.
    pub role_arn: String,
    pub input: InputSpec,
    /// At most one (KDA's limit).
    pub references: Vec<ReferenceSpec>,
    /// At most three.
    pub outputs: Vec<OutputSpec>,
    pub tags: BTreeMap<String, String>,
}

/// The application's one streaming source: a Kinesis stream of JSON records.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// The in-application streams are `<prefix>_001`, `<prefix>_002`...
    pub name_prefix: String,
    pub stream_arn: String,
    /// JSON RecordRowPath, e.g. "$"
    pub row_path: String,
    pub columns: Vec<Column>,
    /// How many in-application streams read the input (1 to 64).
    pub parallelism: i32,
}

/// A reference table: a JSON-lines object in S3, loaded into the in-application table
/// `table_name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceSpec {
    pub table_name: String,
    pub bucket_arn: String,
    pub key: String,
    pub row_path: String,
    pub columns: Vec<Column>,
}

/// An in-application stream written to a Kinesis stream.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The in-application stream's name.
    pub name: String,
    pub stream_arn: String,
    /// "JSON" or "CSV"
    pub format: String,
}

/// An application as AWS describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub name: String,
    pub arn: String,
    /// DELETING, STARTING, STOPPING, READY, RUNNING, UPDATING, AUTOSCALING (any string AWS returns).
    pub status: String,
    /// Grows by one with every configuration change; the next change must name it.
    pub version_id: i64,
    /// DeleteApplication must name it.
    pub create_timestamp: Option<aws_smithy_types::DateTime>,
    pub description: String,
    pub code: String,
    /// `None` when the application has no input (not one the pipeline made).
    pub input: Option<Input>,
    pub references: Vec<Reference>,
    pub outputs: Vec<Output>,
    pub tags: BTreeMap<String, String>,
}

/// Each described part carries its id (needed by update/delete calls), its settings in spec
/// shape, and the role it uses.
///
/// An input read from a Firehose delivery stream has the delivery stream's ARN as
/// `spec.stream_arn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub id: String,
    pub spec: InputSpec,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub id: String,
    pub spec: ReferenceSpec,
    pub role_arn: String,
}

/// An output to a Firehose delivery stream or a Lambda function has that resource's ARN as
/// `spec.stream_arn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub id: String,
    pub spec: OutputSpec,
    pub role_arn: String,
}

impl Application {
    /// RUNNING, or on its way there (STARTING).
    pub fn running(&self) -> bool {
        self.status == RUNNING || self.status == STARTING
    }
}

/// Describes the application `name` with its tags; `None` if it does not exist or is being
/// deleted (it is going away whatever happens next).
pub async fn find_by_name(client: &Client, name: &str) -> AwsResult<Option<Application>> {
    let Some(app) = describe(client, name).await? else {
        return Ok(None);
    };
    if app.status == DELETING {
        return Ok(None);
    }
    let tags = found(list_tags(client, &app.arn).await)?.unwrap_or_default();
    Ok(Some(Application { tags, ..app }))
}

/// DescribeApplication, whatever the status, without the tags.
async fn describe(client: &Client, name: &str) -> AwsResult<Option<Application>> {
    let out = found(
        client
            .describe_application()
            .application_name(name)
            .send()
            .await
            .map_err(AwsError::from),
    )?;
    Ok(out.and_then(|o| o.application_detail).map(|d| flatten(&d)))
}

fn flatten(d: &ApplicationDetail) -> Application {
    Application {
        name: d.application_name().to_string(),
        arn: d.application_arn().to_string(),
        status: d.application_status().as_str().to_string(),
        version_id: d.application_version_id(),
        create_timestamp: d.create_timestamp().copied(),
        description: d.application_description().unwrap_or_default().to_string(),
        code: d.application_code().unwrap_or_default().to_string(),
        // KDA allows one input per application.
        input: d.input_descriptions().first().map(flatten_input),
        references: d
            .reference_data_source_descriptions()
            .iter()
            .map(flatten_reference)
            .collect(),
        outputs: d.output_descriptions().iter().map(flatten_output).collect(),
        tags: BTreeMap::new(),
    }
}

fn flatten_input(d: &InputDescription) -> Input {
    let (stream_arn, role_arn) = match (
        d.kinesis_streams_input_description(),
        d.kinesis_firehose_input_description(),
    ) {
        (Some(s), _) => (s.resource_arn(), s.role_arn()),
        (None, Some(f)) => (f.resource_arn(), f.role_arn()),
        (None, None) => (None, None),
    };
    Input {
        id: d.input_id().unwrap_or_default().to_string(),
        spec: InputSpec {
            name_prefix: d.name_prefix().unwrap_or_default().to_string(),
            stream_arn: stream_arn.unwrap_or_default().to_string(),
            row_path: row_path(d.input_schema()),
            columns: columns(d.input_schema()),
            // AWS reports the parallelism it defaulted to; 1 is that default.
            parallelism: d.input_parallelism().and_then(|p| p.count()).unwrap_or(1),
        },
        role_arn: role_arn.unwrap_or_default().to_string(),
    }
}

fn flatten_reference(d: &ReferenceDataSourceDescription) -> Reference {
    let s3 = d.s3_reference_data_source_description();
    Reference {
        id: d.reference_id().to_string(),
        spec: ReferenceSpec {
            table_name: d.table_name().to_string(),
            bucket_arn: s3.map(|s| s.bucket_arn().to_string()).unwrap_or_default(),
            key: s3.map(|s| s.file_key().to_string()).unwrap_or_default(),
            row_path: row_path(d.reference_schema()),
            columns: columns(d.reference_schema()),
        },
        role_arn: s3
            .map(|s| s.reference_role_arn().to_string())
            .unwrap_or_default(),
    }
}

fn flatten_output(d: &OutputDescription) -> Output {
    let (arn, role) = if let Some(s) = d.kinesis_streams_output_description() {
        (s.resource_arn(), s.role_arn())
    } else if let Some(f) = d.kinesis_firehose_output_description() {
        (f.resource_arn(), f.role_arn())
    } else if let Some(l) = d.lambda_output_description() {
        (l.resource_arn(), l.role_arn())
    } else {
        (None, None)
    };
    Output {
        id: d.output_id().unwrap_or_default().to_string(),
        spec: OutputSpec {
            name: d.name().unwrap_or_default().to_string(),
            stream_arn: arn.unwrap_or_default().to_string(),
            format: d
                .destination_schema()
                .map(|s| s.record_format_type().as_str().to_string())
                .unwrap_or_default(),
        },
        role_arn: role.unwrap_or_default().to_string(),
    }
}

/// The JSON RecordRowPath of a schema; "" for CSV records.
fn row_path(schema: Option<&SourceSchema>) -> String {
    schema
        .and_then(|s| s.record_format())
        .filter(|f| *f.record_format_type() == RecordFormatType::Json)
        .and_then(|f| f.mapping_parameters())
        .and_then(|m| m.json_mapping_parameters())
        .map(|j| j.record_row_path().to_string())
        .unwrap_or_default()
}

fn columns(schema: Option<&SourceSchema>) -> Vec<Column> {
    schema
        .map(|s| {
            s.record_columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_string(),
                    sql_type: c.sql_type().to_string(),
                    mapping: c.mapping().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn list_tags(client: &Client, arn: &str) -> AwsResult<BTreeMap<String, String>> {
    // ListTagsForResource is not paginated: an application has at most 50 user tags.
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await?;
    Ok(out
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value.unwrap_or_default()))
        .collect())
}

/// Whether the application must be replaced to match `spec`: UpdateApplication cannot change
/// the description, and an input read from anything but a Kinesis stream (a Firehose delivery
/// stream) can neither be deleted nor reliably switched to a stream in place.
pub fn needs_replacement(current: &Application, spec: &ApplicationSpec) -> bool {
    current.description != spec.description
        || current
            .input
            .as_ref()
            .is_some_and(|i| !is_kinesis_stream(&i.spec.stream_arn))
}

/// Whether any setting the pipeline manages differs from `spec` (drift): code, input settings
/// (role included), references (by table name), outputs (by name, in any order) or tags.
pub fn differs(current: &Application, spec: &ApplicationSpec) -> bool {
    needs_replacement(current, spec)
        || next_change(current, spec).is_some()
        || current.tags != spec.tags
}

/// Whether `arn` names a Kinesis data stream (not a delivery stream or a function).
fn is_kinesis_stream(arn: &str) -> bool {
    arn.split(':').nth(2) == Some("kinesis")
}

/// One configuration change: one call that names the current version id. The parts refer to
/// the description the change was planned from (ids) and to the spec (indices).
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// AddApplicationInput (the application has none).
    AddInput,
    /// DeleteApplicationOutput: (id, name).
    DeleteOutput(String, String),
    /// DeleteApplicationReferenceDataSource: (id, table name).
    DeleteReference(String, String),
    /// UpdateApplication.
    Update(Vec<Part>),
    /// AddApplicationReferenceDataSource of `spec.references[i]`.
    AddReference(usize),
    /// AddApplicationOutput of `spec.outputs[i]`.
    AddOutput(usize),
}

/// What one UpdateApplication changes; only what differs is sent.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Code,
    Input {
        id: String,
        prefix: bool,
        source: bool,
        schema: bool,
        parallelism: bool,
    },
    /// The reference `id` (kept by table name) to `spec.references[wanted]`.
    Reference {
        id: String,
        wanted: usize,
        location: bool,
        schema: bool,
    },
    /// The output `id` (kept by name) to `spec.outputs[wanted]`.
    Output {
        id: String,
        wanted: usize,
        destination: bool,
        format: bool,
    },
}

impl Change {
    fn summary(&self, spec: &ApplicationSpec) -> String {
        match self {
            Change::AddInput => "adding the input".to_string(),
            Change::DeleteOutput(id, name) => format!("deleting output {name} ({id})"),
            Change::DeleteReference(id, table) => {
                format!("deleting reference data source {table} ({id})")
            }
            Change::Update(parts) => {
                let what: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        Part::Code => "code".to_string(),
                        Part::Input { .. } => "input".to_string(),
                        Part::Reference { wanted, .. } => {
                            format!("reference {}", spec.references[*wanted].table_name)
                        }
                        Part::Output { wanted, .. } => {
                            format!("output {}", spec.outputs[*wanted].name)
                        }
                    })
                    .collect();
                format!("updating the {}", what.join(", "))
            }
            Change::AddReference(i) => {
                format!(
                    "adding reference data source {}",
                    spec.references[*i].table_name
                )
            }
            Change::AddOutput(i) => format!("adding output {}", spec.outputs[*i].name),
        }
    }
}

/// For each wanted output, the index of the current output it keeps (and updates in place):
/// the first of the same name that writes to a Kinesis stream. An output of that name to
/// another kind of destination is deleted and added again.
fn kept_outputs(current: &Application, spec: &ApplicationSpec) -> Vec<Option<usize>> {
    let mut taken = vec![false; current.outputs.len()];
    spec.outputs
        .iter()
        .map(|wanted| {
            let found = current.outputs.iter().enumerate().position(|(i, o)| {
                !taken[i] && o.spec.name == wanted.name && is_kinesis_stream(&o.spec.stream_arn)
            });
            if let Some(i) = found {
                taken[i] = true;
            }
            found
        })
        .collect()
}

/// For each wanted reference, the index of the current one of the same table it keeps.
fn kept_references(current: &Application, spec: &ApplicationSpec) -> Vec<Option<usize>> {
    let mut taken = vec![false; current.references.len()];
    spec.references
        .iter()
        .map(|wanted| {
            let found = current
                .references
                .iter()
                .enumerate()
                .position(|(i, r)| !taken[i] && r.spec.table_name == wanted.table_name);
            if let Some(i) = found {
                taken[i] = true;
            }
            found
        })
        .collect()
}

/// The next configuration change that brings `current` closer to `spec`, `None` when its
/// configuration matches (tags and description aside). Deletions come before the update and
/// additions after it: a deletion frees a slot (three outputs, one reference source) for an
/// addition, and the new code creates the in-application streams the new outputs read.
fn next_change(current: &Application, spec: &ApplicationSpec) -> Option<Change> {
    let Some(input) = &current.input else {
        return Some(Change::AddInput);
    };
    let outputs = kept_outputs(current, spec);
    let references = kept_references(current, spec);
    if let Some(o) = (0..current.outputs.len())
        .find(|i| !outputs.contains(&Some(*i)))
        .map(|i| &current.outputs[i])
    {
        return Some(Change::DeleteOutput(o.id.clone(), o.spec.name.clone()));
    }
    if let Some(r) = (0..current.references.len())
        .find(|i| !references.contains(&Some(*i)))
        .map(|i| &current.references[i])
    {
        return Some(Change::DeleteReference(
            r.id.clone(),
            r.spec.table_name.clone(),
        ));
    }

    let mut parts = Vec::new();
    if current.code != spec.code {
        parts.push(Part::Code);
    }
    let (have, want) = (&input.spec, &spec.input);
    let prefix = have.name_prefix != want.name_prefix;
    let source = have.stream_arn != want.stream_arn || input.role_arn != spec.role_arn;
    let schema = have.row_path != want.row_path || have.columns != want.columns;
    let parallelism = have.parallelism != want.parallelism;
    if prefix || source || schema || parallelism {
        parts.push(Part::Input {
            id: input.id.clone(),
            prefix,
            source,
            schema,
            parallelism,
        });
    }
    for (wanted, kept) in references.iter().enumerate() {
        let Some(r) = kept.map(|i| &current.references[i]) else {
            continue;
        };
        let want = &spec.references[wanted];
        let location = r.spec.bucket_arn != want.bucket_arn
            || r.spec.key != want.key
            || r.role_arn != spec.role_arn;
        let schema = r.spec.row_path != want.row_path || r.spec.columns != want.columns;
        if location || schema {
            parts.push(Part::Reference {
                id: r.id.clone(),
                wanted,
                location,
                schema,
            });
        }
    }
    for (wanted, kept) in outputs.iter().enumerate() {
        let Some(o) = kept.map(|i| &current.outputs[i]) else {
            continue;
        };
        let want = &spec.outputs[wanted];
        let destination = o.spec.stream_arn != want.stream_arn || o.role_arn != spec.role_arn;
        let format = o.spec.format != want.format;
        if destination || format {
            parts.push(Part::Output {
                id: o.id.clone(),
                wanted,
                destination,
                format,
            });
        }
    }
    if !parts.is_empty() {
        return Some(Change::Update(parts));
    }

    if let Some(i) = references.iter().position(Option::is_none) {
        return Some(Change::AddReference(i));
    }
    outputs
        .iter()
        .position(Option::is_none)
        .map(Change::AddOutput)
}

/// Only the reference additions of [`next_change`]: what [`create`] does after
/// CreateApplication.
fn next_reference(current: &Application, spec: &ApplicationSpec) -> Option<Change> {
    kept_references(current, spec)
        .iter()
        .position(Option::is_none)
        .map(Change::AddReference)
}

fn build_error(err: aws_smithy_types::error::operation::BuildError) -> AwsError {
    AwsError::other(err.to_string())
}

fn record_format(row_path: &str) -> AwsResult<RecordFormat> {
    let json = JsonMappingParameters::builder()
        .record_row_path(row_path)
        .build()
        .map_err(build_error)?;
    RecordFormat::builder()
        .record_format_type(RecordFormatType::Json)
        .mapping_parameters(
            MappingParameters::builder()
                .json_mapping_parameters(json)
                .build(),
        )
        .build()
        .map_err(build_error)
}

fn record_columns(columns: &[Column]) -> AwsResult<Vec<RecordColumn>> {
    columns
        .iter()
        .map(|c| {
            RecordColumn::builder()
                .name(&c.name)
                .sql_type(&c.sql_type)
                .set_mapping((!c.mapping.is_empty()).then(|| c.mapping.clone()))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// A JSON, UTF-8 source schema (the input's or a reference's).
fn source_schema(row_path: &str, columns: &[Column]) -> AwsResult<SourceSchema> {
    SourceSchema::builder()
        .record_format(record_format(row_path)?)
        .record_encoding("UTF-8")
        .set_record_columns(Some(record_columns(columns)?))
        .build()
        .map_err(build_error)
}

fn input(spec: &ApplicationSpec) -> AwsResult<aws_sdk_kinesisanalytics::types::Input> {
    let source = KinesisStreamsInput::builder()
        .resource_arn(&spec.input.stream_arn)
        .role_arn(&spec.role_arn)
        .build()
        .map_err(build_error)?;
    aws_sdk_kinesisanalytics::types::Input::builder()
        .name_prefix(&spec.input.name_prefix)
        .kinesis_streams_input(source)
        .input_parallelism(
            InputParallelism::builder()
                .count(spec.input.parallelism)
                .build(),
        )
        .input_schema(source_schema(&spec.input.row_path, &spec.input.columns)?)
        .build()
        .map_err(build_error)
}

fn output(
    spec: &ApplicationSpec,
    wanted: &OutputSpec,
) -> AwsResult<aws_sdk_kinesisanalytics::types::Output> {
    let destination = KinesisStreamsOutput::builder()
        .resource_arn(&wanted.stream_arn)
        .role_arn(&spec.role_arn)
        .build()
        .map_err(build_error)?;
    aws_sdk_kinesisanalytics::types::Output::builder()
        .name(&wanted.name)
        .kinesis_streams_output(destination)
        .destination_schema(destination_schema(&wanted.format)?)
        .build()
        .map_err(build_error)
}

fn destination_schema(format: &str) -> AwsResult<DestinationSchema> {
    DestinationSchema::builder()
        .record_format_type(RecordFormatType::from(format))
        .build()
        .map_err(build_error)
}

fn reference(spec: &ApplicationSpec, wanted: &ReferenceSpec) -> AwsResult<ReferenceDataSource> {
    let s3 = S3ReferenceDataSource::builder()
        .bucket_arn(&wanted.bucket_arn)
        .file_key(&wanted.key)
        .reference_role_arn(&spec.role_arn)
        .build()
        .map_err(build_error)?;
    ReferenceDataSource::builder()
        .table_name(&wanted.table_name)
        .s3_reference_data_source(s3)
        .reference_schema(source_schema(&wanted.row_path, &wanted.columns)?)
        .build()
        .map_err(build_error)
}

/// The UpdateApplication request body for `parts`.
fn application_update(spec: &ApplicationSpec, parts: &[Part]) -> AwsResult<ApplicationUpdate> {
    let mut update = ApplicationUpdate::builder();
    for part in parts {
        update = match part {
            Part::Code => update.application_code_update(&spec.code),
            Part::Input {
                id,
                prefix,
                source,
                schema,
                parallelism,
            } => {
                let want = &spec.input;
                let schema = if *schema {
                    Some(
                        InputSchemaUpdate::builder()
                            .record_format_update(record_format(&want.row_path)?)
                            .record_encoding_update("UTF-8")
                            .set_record_column_updates(Some(record_columns(&want.columns)?))
                            .build(),
                    )
                } else {
                    None
                };
                update.input_updates(
                    InputUpdate::builder()
                        .input_id(id)
                        .set_name_prefix_update(prefix.then(|| want.name_prefix.clone()))
                        .set_kinesis_streams_input_update(source.then(|| {
                            KinesisStreamsInputUpdate::builder()
                                .resource_arn_update(&want.stream_arn)
                                .role_arn_update(&spec.role_arn)
                                .build()
                        }))
                        .set_input_schema_update(schema)
                        .set_input_parallelism_update(parallelism.then(|| {
                            InputParallelismUpdate::builder()
                                .count_update(want.parallelism)
                                .build()
                        }))
                        .build()
                        .map_err(build_error)?,
                )
            }
            Part::Reference {
                id,
                wanted,
                location,
                schema,
            } => {
                let want = &spec.references[*wanted];
                let schema = if *schema {
                    Some(source_schema(&want.row_path, &want.columns)?)
                } else {
                    None
                };
                update.reference_data_source_updates(
                    ReferenceDataSourceUpdate::builder()
                        .reference_id(id)
                        .set_s3_reference_data_source_update(location.then(|| {
                            S3ReferenceDataSourceUpdate::builder()
                                .bucket_arn_update(&want.bucket_arn)
                                .file_key_update(&want.key)
                                .reference_role_arn_update(&spec.role_arn)
                                .build()
                        }))
                        .set_reference_schema_update(schema)
                        .build()
                        .map_err(build_error)?,
                )
            }
            Part::Output {
                id,
                wanted,
                destination,
                format,
            } => {
                let want = &spec.outputs[*wanted];
                let format = if *format {
                    Some(destination_schema(&want.format)?)
                } else {
                    None
                };
                update.output_updates(
                    OutputUpdate::builder()
                        .output_id(id)
                        .set_kinesis_streams_output_update(destination.then(|| {
                            KinesisStreamsOutputUpdate::builder()
                                .resource_arn_update(&want.stream_arn)
                                .role_arn_update(&spec.role_arn)
                                .build()
                        }))
                        .set_destination_schema_update(format)
                        .build()
                        .map_err(build_error)?,
                )
            }
        };
    }
    Ok(update.build())
}

fn tag_list(tags: &BTreeMap<String, String>) -> AwsResult<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
        .collect()
}

/// KDA checks that it can assume the role (and reach the stream, delivery stream, function or
/// S3 object through it) on every call that names one; a role just created, or just given its
/// policy, is refused until IAM has propagated it. These are the messages AWS gives then.
fn is_role_propagation(err: &AwsError) -> bool {
    err.code_is("InvalidArgumentException")
        && (err
            .message
            .contains("Kinesis Analytics service doesn't have sufficient privileges")
            || err
                .message
                .contains("Kinesis Analytics doesn't have sufficient privileges")
            || err
                .message
                .contains("does not provide Invoke permissions on the Lambda resource")
            || err
                .message
                .contains("Please check the role provided or validity of S3 location"))
}

/// A call refused because the application is momentarily busy (UPDATING, STARTING...) or
/// because the version id it named is no longer the current one: worth another try after
/// re-describing the application.
fn is_refused(err: &AwsError) -> bool {
    err.code_is("ResourceInUseException") || err.code_is("ConcurrentModificationException")
}

/// The pause before the `n`th try after a refusal (200 ms, doubling, at most 5 s).
fn refusal_delay(n: u32) -> Duration {
    (Duration::from_millis(200) * 2u32.pow(n.min(5))).min(Duration::from_secs(5))
}

/// Runs `attempt` until it is not refused: each attempt describes the application afresh
/// (waiting for it to settle) before its call, so a retry works on the current status and
/// version. `retryable` says which errors are a refusal; [`refusal_delay`]'s pauses, at most
/// [`MAX_REFUSALS`] retries.
async fn retry_refused<T, F, Fut>(retryable: fn(&AwsError) -> bool, attempt: F) -> AwsResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AwsResult<T>>,
{
    use backon::{ExponentialBuilder, Retryable};
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(refusal_delay(0))
                .with_max_delay(refusal_delay(u32::MAX))
                .with_factor(2.0)
                .with_max_times(MAX_REFUSALS as usize),
        )
        .when(retryable)
        .await
}

/// Creates the application (its input, outputs, code and tags in CreateApplication, then its
/// reference data sources one by one) and waits for it to be READY.
pub async fn create(
    client: &Client,
    spec: &ApplicationSpec,
    timeout: Duration,
) -> AwsResult<Application> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("creating", COMPONENT, name, e);
    // An application of the same name that is still being deleted (a replacement) keeps the
    // name taken until it is gone.
    if describe(client, name)
        .await
        .map_err(err)?
        .is_some_and(|a| a.status == DELETING)
    {
        wait_deleted(client, name, timeout).await.map_err(err)?;
    }
    let input = input(spec).map_err(err)?;
    let outputs = spec
        .outputs
        .iter()
        .map(|o| output(spec, o))
        .collect::<AwsResult<Vec<_>>>()
        .map_err(err)?;
    let tags = tag_list(&spec.tags).map_err(err)?;
    wait::retry_while(is_role_propagation, || {
        client
            .create_application()
            .application_name(name)
            // At least 1 character when given.
            .set_application_description(
                (!spec.description.is_empty()).then(|| spec.description.clone()),
            )
            .application_code(&spec.code)
            .inputs(input.clone())
            .set_outputs((!outputs.is_empty()).then(|| outputs.clone()))
            // None is not the same as an empty list (at least 1).
            .set_tags((!tags.is_empty()).then(|| tags.clone()))
            .send()
    })
    .await
    .map_err(err)?;
    let created = wait_settled(client, name, timeout).await.map_err(err)?;
    converge(client, created, spec, next_reference, timeout)
        .await
        .map_err(err)?;
    wait_ready(client, name, timeout).await.map_err(err)?;
    find_by_name(client, name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(AwsError::other(
                "the application disappeared right after it was created",
            ))
        })
}

/// Brings an existing application to `spec` in place: its code, input, reference data sources
/// and outputs (one call at a time, each naming the current version id, waiting for the
/// application to settle after each), then its tags. The description cannot change in place:
/// the caller replaces the application when [`needs_replacement`] says so.
///
/// `current` may be stale: a call it makes refused as such (or while the application is busy)
/// is planned again from a fresh description.
pub async fn update(
    client: &Client,
    current: &Application,
    spec: &ApplicationSpec,
    timeout: Duration,
) -> AwsResult<Application> {
    let name = spec.name.as_str();
    let err = |e: AwsError| context("updating", COMPONENT, name, e);
    let app = if is_settled(&current.status) {
        current.clone()
    } else {
        wait_settled(client, name, timeout).await.map_err(err)?
    };
    converge(client, app, spec, next_change, timeout)
        .await
        .map_err(err)?;

    let arn = current.arn.as_str();
    let TagDiff { set, remove } = tag_diff(&current.tags, &spec.tags);
    for keys in remove.chunks(TAGS_PER_CALL) {
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    let set = tag_list(&set).map_err(err)?;
    for tags in set.chunks(TAGS_PER_CALL) {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.to_vec()))
            .send()
            .await
            .map_err(|e| err(e.into()))?;
    }
    find_by_name(client, name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(AwsError::other(
                "the application disappeared while it was being updated",
            ))
        })
}

/// Makes the application load its reference data again after the S3 objects changed (KDA
/// loads a reference object once; an UpdateApplication of the reference data source makes it
/// load it again): one UpdateApplication re-sending every reference's S3 location as it is,
/// naming the current version id. Returns the described application, settled again; one
/// without references is left as it is.
pub async fn reload_references(
    client: &Client,
    current: &Application,
    timeout: Duration,
) -> AwsResult<Application> {
    let name = current.name.as_str();
    let err = |e: AwsError| context("reloading the reference data of", COMPONENT, name, e);
    // `current` serves the first attempt when settled; a refusal (busy, or `current` stale)
    // re-describes it (fresh version and reference ids).
    let mut given = is_settled(&current.status).then(|| current.clone());
    retry_refused(is_refused, || {
        let given = given.take();
        async move {
            let app = match given {
                Some(app) => app,
                None => wait_settled(client, name, timeout).await?,
            };
            if app.references.is_empty() {
                return Ok(());
            }
            let update = reload_update(&app)?;
            let version = app.version_id;
            wait::retry_while(is_role_propagation, || {
                client
                    .update_application()
                    .application_name(name)
                    .current_application_version_id(version)
                    .application_update(update.clone())
                    .send()
            })
            .await
            .map(|_| ())
        }
    })
    .await
    .map_err(err)?;
    wait_settled(client, name, timeout).await.map_err(err)?;
    find_by_name(client, name)
        .await
        .map_err(err)?
        .ok_or_else(|| {
            err(AwsError::other(
                "the application disappeared while its reference data was reloaded",
            ))
        })
}

/// The UpdateApplication body that reloads every reference data source of `app`: its S3
/// location as it is.
fn reload_update(app: &Application) -> AwsResult<ApplicationUpdate> {
    let updates = app
        .references
        .iter()
        .map(|r| {
            ReferenceDataSourceUpdate::builder()
                .reference_id(&r.id)
                .s3_reference_data_source_update(
                    S3ReferenceDataSourceUpdate::builder()
                        .bucket_arn_update(&r.spec.bucket_arn)
                        .file_key_update(&r.spec.key)
                        .reference_role_arn_update(&r.role_arn)
                        .build(),
                )
                .build()
                .map_err(build_error)
        })
        .collect::<AwsResult<Vec<_>>>()?;
    Ok(ApplicationUpdate::builder()
        .set_reference_data_source_updates(Some(updates))
        .build())
}

/// Makes the changes `plan` finds between `app` and `spec` one at a time until there are none,
/// each naming the version id of the description it was planned from, re-describing the
/// application (once it is READY or RUNNING again) after each. A call refused because the
/// application was busy or the description stale is planned again from the fresh description.
async fn converge(
    client: &Client,
    mut app: Application,
    spec: &ApplicationSpec,
    plan: fn(&Application, &ApplicationSpec) -> Option<Change>,
    timeout: Duration,
) -> AwsResult<()> {
    let name = spec.name.as_str();
    let mut changes = 0;
    let mut refusals = 0;
    // The last change made, and the version id it named.
    let mut last: Option<(Change, i64)> = None;
    while let Some(change) = plan(&app, spec) {
        let what = change.summary(spec);
        if let Some((_, version)) = last.as_ref().filter(|(c, _)| *c == change) {
            if app.version_id <= *version && refusals < MAX_REFUSALS {
                // A description from before the change took effect: look again.
                tokio::time::sleep(refusal_delay(refusals)).await;
                refusals += 1;
                app = wait_settled(client, name, timeout).await?;
                continue;
            }
            return Err(AwsError::other(format!(
                "{what}: AWS accepted the change but the application still differs \
                 (it reports the settings otherwise than they were given)"
            )));
        }
        if changes == MAX_CHANGES {
            return Err(AwsError::other(format!(
                "still not converged after {MAX_CHANGES} changes; next: {what}"
            )));
        }
        let version = app.version_id;
        let result = wait::retry_while(is_role_propagation, || {
            apply(client, name, version, spec, &change)
        })
        .await;
        match result {
            Ok(()) => {
                changes += 1;
                refusals = 0;
                last = Some((change, version));
            }
            Err(e) if is_refused(&e) && refusals < MAX_REFUSALS => {
                tokio::time::sleep(refusal_delay(refusals)).await;
                refusals += 1;
                last = None;
            }
            Err(e) => {
                return Err(AwsError {
                    message: format!("{what}: {}", e.message),
                    ..e
                })
            }
        }
        app = wait_settled(client, name, timeout).await?;
    }
    Ok(())
}

/// Makes one configuration change, naming `version`.
async fn apply(
    client: &Client,
    name: &str,
    version: i64,
    spec: &ApplicationSpec,
    change: &Change,
) -> AwsResult<()> {
    match change {
        Change::AddInput => {
            client
                .add_application_input()
                .application_name(name)
                .current_application_version_id(version)
                .input(input(spec)?)
                .send()
                .await?;
        }
        Change::DeleteOutput(id, _) => {
            client
                .delete_application_output()
                .application_name(name)
                .current_application_version_id(version)
                .output_id(id)
                .send()
                .await?;
        }
        Change::DeleteReference(id, _) => {
            client
                .delete_application_reference_data_source()
                .application_name(name)
                .current_application_version_id(version)
                .reference_id(id)
                .send()
                .await?;
        }
        Change::Update(parts) => {
            client
                .update_application()
                .application_name(name)
                .current_application_version_id(version)
                .application_update(application_update(spec, parts)?)
                .send()
                .await?;
        }
        Change::AddReference(i) => {
            client
                .add_application_reference_data_source()
                .application_name(name)
                .current_application_version_id(version)
                .reference_data_source(reference(spec, &spec.references[*i])?)
                .send()
                .await?;
        }
        Change::AddOutput(i) => {
            client
                .add_application_output()
                .application_name(name)
                .current_application_version_id(version)
                .output(output(spec, &spec.outputs[*i])?)
                .send()
                .await?;
        }
    }
    Ok(())
}

/// Starts a READY application, its input read from `starting_position` (NOW, TRIM_HORIZON or
/// LAST_STOPPED_POINT), and waits for it to be RUNNING. An application already RUNNING or
/// STARTING is only waited for; one busy otherwise (UPDATING, STOPPING...) is started once it
/// has settled.
pub async fn start(
    client: &Client,
    name: &str,
    starting_position: &str,
    timeout: Duration,
) -> AwsResult<()> {
    let err = |e: AwsError| context("starting", COMPONENT, name, e);
    let Some(app) = describe(client, name).await.map_err(err)? else {
        return Err(err(not_found()));
    };
    if !app.running() {
        retry_refused(is_refused, || async {
            let app = wait_settled(client, name, timeout).await?;
            if app.status == RUNNING {
                return Ok(());
            }
            let Some(input) = &app.input else {
                return Err(AwsError::other("the application has no input to read from"));
            };
            let configuration = InputConfiguration::builder()
                .id(&input.id)
                .input_starting_position_configuration(
                    InputStartingPositionConfiguration::builder()
                        .input_starting_position(InputStartingPosition::from(starting_position))
                        .build(),
                )
                .build()
                .map_err(build_error)?;
            client
                .start_application()
                .application_name(name)
                .input_configurations(configuration)
                .send()
                .await
                .map(|_| ())
                .map_err(AwsError::from)
        })
        .await
        .map_err(err)?;
    }
    wait_running(client, name, timeout)
        .await
        .map(|_| ())
        .map_err(err)
}

/// Stops a RUNNING application and waits for it to be READY; a READY one is left as it is. One
/// busy (STARTING, UPDATING...) is stopped once it has settled.
pub async fn stop(client: &Client, name: &str, timeout: Duration) -> AwsResult<()> {
    let err = |e: AwsError| context("stopping", COMPONENT, name, e);
    if describe(client, name).await.map_err(err)?.is_none() {
        return Err(err(not_found()));
    }
    let stopping = retry_refused(is_refused, || async {
        let app = wait_settled(client, name, timeout).await?;
        if app.status == READY {
            return Ok(false);
        }
        client
            .stop_application()
            .application_name(name)
            .send()
            .await
            .map(|_| true)
            .map_err(AwsError::from)
    })
    .await
    .map_err(err)?;
    if !stopping {
        return Ok(());
    }
    wait_ready(client, name, timeout)
        .await
        .map(|_| ())
        .map_err(err)
}

/// Deletes the application (a running one is stopped by AWS) and waits until it is gone;
/// not-found is success. DeleteApplication must name the application's CreateTimestamp, taken
/// from a fresh description.
pub async fn delete(client: &Client, name: &str, timeout: Duration) -> AwsResult<()> {
    let err = |e: AwsError| context("deleting", COMPONENT, name, e);
    // Not found after a try: gone meanwhile, or replaced by another of the same name (another
    // CreateTimestamp). The next description tells which.
    let refused_or_gone = |e: &AwsError| is_refused(e) || e.is_not_found();
    let deleting = retry_refused(refused_or_gone, || async {
        // DeleteApplication is refused unless the application is READY or RUNNING.
        let app = wait::until(
            &format!("Kinesis Analytics application ({name}) to be READY or RUNNING to delete it"),
            timeout,
            || async {
                Ok(match describe(client, name).await? {
                    None => Some(None),
                    Some(a) if a.status == DELETING || is_settled(&a.status) => Some(Some(a)),
                    Some(_) => None,
                })
            },
        )
        .await?;
        let Some(app) = app else {
            return Ok(false);
        };
        if app.status == DELETING {
            return Ok(true);
        }
        let Some(created) = app.create_timestamp else {
            return Err(AwsError::other(
                "DescribeApplication reported no CreateTimestamp, which DeleteApplication needs",
            ));
        };
        client
            .delete_application()
            .application_name(name)
            .create_timestamp(created)
            .send()
            .await
            .map(|_| true)
            .map_err(AwsError::from)
    })
    .await;
    match deleting {
        Ok(true) => wait_deleted(client, name, timeout).await.map_err(err),
        Ok(false) => Ok(()),
        Err(e) => gone(Err(e)).map_err(err),
    }
}

/// READY or RUNNING: the statuses in which the application accepts changes.
fn is_settled(status: &str) -> bool {
    status == READY || status == RUNNING
}

fn not_found() -> AwsError {
    AwsError {
        code: Some("ResourceNotFoundException".to_string()),
        message: "the application does not exist".to_string(),
    }
}

/// Waits until the application is READY or RUNNING, through any other status but DELETING,
/// and returns it (without its tags).
async fn wait_settled(client: &Client, name: &str, timeout: Duration) -> AwsResult<Application> {
    let wanted = "READY or RUNNING";
    wait::until(
        &format!("Kinesis Analytics application ({name}) to be {wanted}"),
        timeout,
        || async {
            let Some(app) = describe(client, name).await? else {
                return Err(disappeared(name, wanted));
            };
            match app.status.as_str() {
                READY | RUNNING => Ok(Some(app)),
                DELETING => Err(unexpected_status(&app, wanted)),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Waits until the application is READY (after a stop, or after creation).
async fn wait_ready(client: &Client, name: &str, timeout: Duration) -> AwsResult<Application> {
    wait::until(
        &format!("Kinesis Analytics application ({name}) to be READY"),
        timeout,
        || async {
            let Some(app) = describe(client, name).await? else {
                return Err(disappeared(name, READY));
            };
            match app.status.as_str() {
                READY => Ok(Some(app)),
                DELETING => Err(unexpected_status(&app, READY)),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Waits until the application is RUNNING (after a start). READY once it has been seen
/// starting (or past [`START_GRACE`]) means the start failed or someone stopped it.
async fn wait_running(client: &Client, name: &str, timeout: Duration) -> AwsResult<Application> {
    let began = tokio::time::Instant::now();
    let moved = AtomicBool::new(false);
    wait::until(
        &format!("Kinesis Analytics application ({name}) to be RUNNING"),
        timeout,
        || async {
            let Some(app) = describe(client, name).await? else {
                return Err(disappeared(name, RUNNING));
            };
            match app.status.as_str() {
                RUNNING => Ok(Some(app)),
                DELETING => Err(unexpected_status(&app, RUNNING)),
                READY if moved.load(Ordering::Relaxed) || began.elapsed() > START_GRACE => {
                    Err(AwsError::other(format!(
                        "Kinesis Analytics application ({name}) is READY again while waiting \
                         for it to be RUNNING: it failed to start (see its error stream and \
                         CloudWatch logs) or was stopped"
                    )))
                }
                READY => Ok(None),
                _ => {
                    moved.store(true, Ordering::Relaxed);
                    Ok(None)
                }
            }
        },
    )
    .await
}

/// Waits until the application is gone (DELETING can last minutes on AWS).
async fn wait_deleted(client: &Client, name: &str, timeout: Duration) -> AwsResult<()> {
    wait::until(
        &format!("Kinesis Analytics application ({name}) to be deleted"),
        timeout,
        || async {
            Ok(match describe(client, name).await? {
                None => Some(()),
                Some(_) => None,
            })
        },
    )
    .await
}

fn disappeared(name: &str, wanted: &str) -> AwsError {
    AwsError::other(format!(
        "Kinesis Analytics application ({name}) disappeared while waiting for it to be {wanted}"
    ))
}

/// A status a waiter cannot wait through.
fn unexpected_status(app: &Application, wanted: &str) -> AwsError {
    AwsError::other(format!(
        "Kinesis Analytics application ({}) is {} while waiting for it to be {wanted}",
        app.name, app.status
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesisanalytics::types::{
        ApplicationStatus, KinesisFirehoseInputDescription, KinesisFirehoseOutputDescription,
        KinesisStreamsInputDescription, KinesisStreamsOutputDescription,
        S3ReferenceDataSourceDescription,
    };

    const INPUT: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc";
    const OUT: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-enriched";
    const OUT2: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-alerts";
    const ROLE: &str = "arn:aws:iam::123456789012:role/orders-analytics";
    const BUCKET: &str = "arn:aws:s3:::orders-reference-123456789012";

    fn column(name: &str, sql_type: &str, mapping: &str) -> Column {
        Column {
            name: name.to_string(),
            sql_type: sql_type.to_string(),
            mapping: mapping.to_string(),
        }
    }

    fn input_columns() -> Vec<Column> {
        vec![
            column("order_id", "BIGINT", "$.order_id"),
            column("product_id", "VARCHAR(32)", "$.product_id"),
            column("quantity", "INTEGER", "$.quantity"),
            column("op", "VARCHAR(8)", "$.op"),
        ]
    }

    fn spec() -> ApplicationSpec {
        ApplicationSpec {
            name: "orders-analytics".to_string(),
            description: "orders joined with products".to_string(),
            code: "CREATE OR REPLACE STREAM \"DESTINATION_SQL_STREAM\" (order_id BIGINT);"
                .to_string(),
            role_arn: ROLE.to_string(),
            input: InputSpec {
                name_prefix: "SOURCE_SQL_STREAM".to_string(),
                stream_arn: INPUT.to_string(),
                row_path: "$".to_string(),
                columns: input_columns(),
                parallelism: 1,
            },
            references: vec![ReferenceSpec {
                table_name: "products".to_string(),
                bucket_arn: BUCKET.to_string(),
                key: "reference/products.jsonl".to_string(),
                row_path: "$".to_string(),
                columns: vec![
                    column("product_id", "VARCHAR(32)", "$.product_id"),
                    column("name", "VARCHAR(64)", "$.name"),
                ],
            }],
            outputs: vec![OutputSpec {
                name: "DESTINATION_SQL_STREAM".to_string(),
                stream_arn: OUT.to_string(),
                format: "JSON".to_string(),
            }],
            tags: BTreeMap::from([("unifiedetl:pipeline".to_string(), "orders".to_string())]),
        }
    }

    fn schema(columns: &[Column]) -> SourceSchema {
        source_schema("$", columns).unwrap()
    }

    fn detail(status: ApplicationStatus) -> ApplicationDetail {
        let spec = spec();
        let input = InputDescription::builder()
            .input_id("1.1")
            .name_prefix("SOURCE_SQL_STREAM")
            .in_app_stream_names("SOURCE_SQL_STREAM_001")
            .kinesis_streams_input_description(
                KinesisStreamsInputDescription::builder()
                    .resource_arn(INPUT)
                    .role_arn(ROLE)
                    .build(),
            )
            .input_schema(schema(&spec.input.columns))
            .input_parallelism(InputParallelism::builder().count(1).build())
            .build();
        let reference = ReferenceDataSourceDescription::builder()
            .reference_id("2.1")
            .table_name("products")
            .s3_reference_data_source_description(
                S3ReferenceDataSourceDescription::builder()
                    .bucket_arn(BUCKET)
                    .file_key("reference/products.jsonl")
                    .reference_role_arn(ROLE)
                    .build()
                    .unwrap(),
            )
            .reference_schema(schema(&spec.references[0].columns))
            .build()
            .unwrap();
        let output = OutputDescription::builder()
            .output_id("1.1")
            .name("DESTINATION_SQL_STREAM")
            .kinesis_streams_output_description(
                KinesisStreamsOutputDescription::builder()
                    .resource_arn(OUT)
                    .role_arn(ROLE)
                    .build(),
            )
            .destination_schema(destination_schema("JSON").unwrap())
            .build();
        ApplicationDetail::builder()
            .application_name("orders-analytics")
            .application_description("orders joined with products")
            .application_arn(
                "arn:aws:kinesisanalytics:us-east-1:123456789012:application/orders-analytics",
            )
            .application_status(status)
            .create_timestamp(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .input_descriptions(input)
            .reference_data_source_descriptions(reference)
            .output_descriptions(output)
            .application_code(spec.code)
            .application_version_id(2)
            .build()
            .unwrap()
    }

    fn current() -> Application {
        Application {
            tags: spec().tags,
            ..flatten(&detail(ApplicationStatus::Running))
        }
    }

    fn output_to(name: &str, arn: &str) -> OutputSpec {
        OutputSpec {
            name: name.to_string(),
            stream_arn: arn.to_string(),
            format: "JSON".to_string(),
        }
    }

    #[test]
    fn flatten_gives_back_the_spec() {
        let app = current();
        let spec = spec();
        assert_eq!(app.status, "RUNNING");
        assert!(app.running());
        assert_eq!(app.version_id, 2);
        assert_eq!(
            app.create_timestamp,
            Some(aws_smithy_types::DateTime::from_secs(1_700_000_000))
        );
        let input = app.input.as_ref().unwrap();
        assert_eq!(
            (input.id.as_str(), &input.spec, input.role_arn.as_str()),
            ("1.1", &spec.input, ROLE)
        );
        assert_eq!(app.references[0].id, "2.1");
        assert_eq!(app.references[0].spec, spec.references[0]);
        assert_eq!(app.references[0].role_arn, ROLE);
        assert_eq!(app.outputs[0].spec, spec.outputs[0]);
        assert_eq!(app.outputs[0].role_arn, ROLE);
        assert!(!differs(&app, &spec));
        assert!(!needs_replacement(&app, &spec));
        assert_eq!(next_change(&app, &spec), None);
    }

    #[test]
    fn missing_mapping_and_parallelism_flatten_to_their_defaults() {
        let mut d = detail(ApplicationStatus::Ready);
        let input = &mut d.input_descriptions.as_mut().unwrap()[0];
        input.input_parallelism = None;
        input.input_schema.as_mut().unwrap().record_columns[0].mapping = None;
        let app = flatten(&d);
        assert!(!app.running());
        let input = app.input.unwrap();
        assert_eq!(input.spec.parallelism, 1);
        assert_eq!(input.spec.columns[0].mapping, "");
    }

    #[test]
    fn output_order_does_not_count_but_column_order_does() {
        let mut two = current();
        let mut second = two.outputs[0].clone();
        second.id = "3.1".to_string();
        second.spec = output_to("ALERTS", OUT2);
        two.outputs.push(second);
        let mut wanted = spec();
        wanted.outputs = vec![output_to("ALERTS", OUT2), spec().outputs[0].clone()];
        assert!(!differs(&two, &wanted));

        let mut wanted = spec();
        wanted.input.columns.swap(0, 1);
        assert!(differs(&current(), &wanted));
        assert!(!needs_replacement(&current(), &wanted));
    }

    #[test]
    fn description_and_a_firehose_input_need_a_new_application() {
        let mut wanted = spec();
        wanted.description = "another".to_string();
        assert!(needs_replacement(&current(), &wanted));
        assert!(differs(&current(), &wanted));

        let mut d = detail(ApplicationStatus::Ready);
        let input = &mut d.input_descriptions.as_mut().unwrap()[0];
        input.kinesis_streams_input_description = None;
        input.kinesis_firehose_input_description = Some(
            KinesisFirehoseInputDescription::builder()
                .resource_arn("arn:aws:firehose:us-east-1:123456789012:deliverystream/x")
                .role_arn(ROLE)
                .build(),
        );
        assert!(needs_replacement(&flatten(&d), &spec()));
    }

    #[test]
    fn tags_alone_are_drift_but_no_configuration_change() {
        let mut wanted = spec();
        wanted.tags.insert("team".to_string(), "data".to_string());
        assert!(differs(&current(), &wanted));
        assert_eq!(next_change(&current(), &wanted), None);
    }

    #[test]
    fn only_what_differs_goes_into_update_application() {
        let mut wanted = spec();
        wanted.code.push_str("\n-- v2");
        wanted.input.parallelism = 2;
        wanted.outputs[0].format = "CSV".to_string();
        let change = next_change(&current(), &wanted).unwrap();
        assert_eq!(
            change,
            Change::Update(vec![
                Part::Code,
                Part::Input {
                    id: "1.1".to_string(),
                    prefix: false,
                    source: false,
                    schema: false,
                    parallelism: true,
                },
                Part::Output {
                    id: "1.1".to_string(),
                    wanted: 0,
                    destination: false,
                    format: true,
                },
            ])
        );
        assert_eq!(
            change.summary(&wanted),
            "updating the code, input, output DESTINATION_SQL_STREAM"
        );
        let Change::Update(parts) = change else {
            unreachable!()
        };
        let update = application_update(&wanted, &parts).unwrap();
        assert_eq!(update.application_code_update(), Some(wanted.code.as_str()));
        let input = &update.input_updates()[0];
        assert_eq!(input.input_id(), "1.1");
        assert_eq!(
            input
                .input_parallelism_update()
                .and_then(|p| p.count_update()),
            Some(2)
        );
        assert!(input.name_prefix_update().is_none());
        assert!(input.kinesis_streams_input_update().is_none());
        assert!(input.input_schema_update().is_none());
        let output = &update.output_updates()[0];
        assert_eq!(
            output
                .destination_schema_update()
                .map(|s| s.record_format_type()),
            Some(&RecordFormatType::Csv)
        );
        assert!(output.kinesis_streams_output_update().is_none());
        assert!(update.reference_data_source_updates().is_empty());
    }

    #[test]
    fn a_new_role_updates_every_part_that_uses_it() {
        let mut wanted = spec();
        wanted.role_arn = format!("{ROLE}-v2");
        let Some(Change::Update(parts)) = next_change(&current(), &wanted) else {
            panic!("expected an update");
        };
        let update = application_update(&wanted, &parts).unwrap();
        let source = update.input_updates()[0]
            .kinesis_streams_input_update()
            .unwrap();
        assert_eq!(source.role_arn_update(), Some(wanted.role_arn.as_str()));
        assert_eq!(source.resource_arn_update(), Some(INPUT));
        let s3 = update.reference_data_source_updates()[0]
            .s3_reference_data_source_update()
            .unwrap();
        assert_eq!(
            s3.reference_role_arn_update(),
            Some(wanted.role_arn.as_str())
        );
        let destination = update.output_updates()[0]
            .kinesis_streams_output_update()
            .unwrap();
        assert_eq!(
            destination.role_arn_update(),
            Some(wanted.role_arn.as_str())
        );
    }

    #[test]
    fn deletions_come_first_then_the_update_then_additions() {
        let mut wanted = spec();
        wanted.code.push_str("\n-- v2");
        wanted.references.clear();
        wanted.outputs = vec![output_to("ALERTS", OUT2)];
        let mut app = current();
        let mut steps = Vec::new();
        while let Some(change) = next_change(&app, &wanted) {
            steps.push(change.clone());
            // What AWS would report after the change.
            match change {
                Change::DeleteOutput(id, _) => app.outputs.retain(|o| o.id != id),
                Change::DeleteReference(id, _) => app.references.retain(|r| r.id != id),
                Change::Update(_) => app.code = wanted.code.clone(),
                Change::AddOutput(i) => app.outputs.push(Output {
                    id: "9.1".to_string(),
                    spec: wanted.outputs[i].clone(),
                    role_arn: ROLE.to_string(),
                }),
                other => panic!("unexpected {other:?}"),
            }
            app.version_id += 1;
        }
        assert_eq!(
            steps,
            vec![
                Change::DeleteOutput("1.1".to_string(), "DESTINATION_SQL_STREAM".to_string()),
                Change::DeleteReference("2.1".to_string(), "products".to_string()),
                Change::Update(vec![Part::Code]),
                Change::AddOutput(0),
            ]
        );
        assert!(!differs(&app, &wanted));
    }

    #[test]
    fn an_output_to_another_kind_of_destination_is_replaced_by_name() {
        let mut d = detail(ApplicationStatus::Ready);
        let output = &mut d.output_descriptions.as_mut().unwrap()[0];
        output.kinesis_streams_output_description = None;
        output.kinesis_firehose_output_description = Some(
            KinesisFirehoseOutputDescription::builder()
                .resource_arn("arn:aws:firehose:us-east-1:123456789012:deliverystream/x")
                .role_arn(ROLE)
                .build(),
        );
        let app = Application {
            tags: spec().tags,
            ..flatten(&d)
        };
        assert!(differs(&app, &spec()));
        assert!(!needs_replacement(&app, &spec()));
        assert_eq!(
            next_change(&app, &spec()),
            Some(Change::DeleteOutput(
                "1.1".to_string(),
                "DESTINATION_SQL_STREAM".to_string()
            ))
        );
    }

    #[test]
    fn a_missing_input_is_added_and_create_adds_only_references() {
        let mut app = current();
        app.input = None;
        assert_eq!(next_change(&app, &spec()), Some(Change::AddInput));
        let mut fresh = current();
        fresh.references.clear();
        fresh.code = "other".to_string();
        assert_eq!(
            next_reference(&fresh, &spec()),
            Some(Change::AddReference(0))
        );
        assert_eq!(next_reference(&current(), &spec()), None);
    }

    #[test]
    fn a_reload_resends_every_reference_location_as_it_is() {
        let update = reload_update(&current()).unwrap();
        assert_eq!(update.application_code_update(), None);
        assert!(update.input_updates().is_empty());
        let reference = &update.reference_data_source_updates()[0];
        assert_eq!(reference.reference_id(), "2.1");
        assert!(reference.reference_schema_update().is_none());
        let s3 = reference.s3_reference_data_source_update().unwrap();
        assert_eq!(s3.bucket_arn_update(), Some(BUCKET));
        assert_eq!(s3.file_key_update(), Some("reference/products.jsonl"));
        assert_eq!(s3.reference_role_arn_update(), Some(ROLE));
    }

    #[test]
    fn only_iam_propagation_errors_are_retried_as_such() {
        let err = |code: &str, message: &str| AwsError {
            code: Some(code.to_string()),
            message: format!("{code}: {message}"),
        };
        assert!(is_role_propagation(&err(
            "InvalidArgumentException",
            &format!(
                "Kinesis Analytics service doesn't have sufficient privileges to assume the \
                 role {ROLE} to access the Kinesis stream {INPUT}. Please check the role provided."
            )
        )));
        assert!(is_role_propagation(&err(
            "InvalidArgumentException",
            "S3 object products.jsonl does not exist in bucket x. Please check the role \
             provided or validity of S3 location you provided."
        )));
        assert!(!is_role_propagation(&err(
            "InvalidArgumentException",
            "Column id: Mapping is required when the RecordFormatType is JSON."
        )));
        assert!(!is_role_propagation(&err(
            "ResourceInUseException",
            "Application orders-analytics already exists."
        )));
        assert!(is_refused(&err(
            "ConcurrentModificationException",
            "Provided application version id (1) does not match"
        )));
        assert!(is_refused(&err(
            "ResourceInUseException",
            "is in status UPDATING"
        )));
        assert!(!is_refused(&err("InvalidArgumentException", "bad")));
    }

    #[test]
    fn errors_name_the_application_and_what_was_done() {
        let e = context(
            "updating",
            COMPONENT,
            "orders-analytics",
            AwsError::other("deleting output X (1.1): boom"),
        );
        assert_eq!(
            e.message,
            "updating Kinesis Analytics application (orders-analytics): deleting output X (1.1): boom"
        );
        let app = flatten(&detail(ApplicationStatus::Deleting));
        assert_eq!(
            unexpected_status(&app, "RUNNING").message,
            "Kinesis Analytics application (orders-analytics) is DELETING while waiting for it \
             to be RUNNING"
        );
    }
}
