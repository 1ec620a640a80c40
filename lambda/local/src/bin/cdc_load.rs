//! `unifiedetl-cdc-load`: writes DMS change records into the CDC stream, as DMS would from the
//! sample's MySQL database or from synthetic orders.
//!
//! ```text
//! unifiedetl-cdc-load --stream NAME [--sample [PATH] | --orders N --items M [--seed S]]
//!                     [--rate R] [--partition-key primary-key|schema-table]
//!                     [--endpoint-url URL] [--region REGION]
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};

const SAMPLE_SQL: &str = "sql/orders-data-setup.sql";

/// Writes DMS change records into the CDC stream, as DMS would from the sample's MySQL
/// database or from synthetic orders.
#[derive(clap::Parser)]
#[command(name = "unifiedetl-cdc-load")]
struct Cli {
    /// The CDC stream (name or ARN).
    #[arg(long)]
    stream: String,
    /// The sample's SQL file: the default data set (without PATH: sql/orders-data-setup.sql of
    /// the current directory or the repository).
    #[arg(long, value_name = "PATH", num_args = 0..=1, conflicts_with_all = ["orders", "items"])]
    sample: Option<Option<PathBuf>>,
    /// N synthetic orders (with --items).
    #[arg(long, value_name = "N", requires = "items")]
    orders: Option<u64>,
    /// Items per synthetic order, at most 2000 (with --orders).
    #[arg(long, value_name = "M", requires = "orders")]
    items: Option<u32>,
    /// Seed of the synthetic orders.
    #[arg(long, requires = "orders")]
    seed: Option<u64>,
    /// Records per second (default: as fast as the stream takes them).
    #[arg(long, allow_hyphen_values = true, value_parser = positive_rate)]
    rate: Option<f64>,
    /// How DMS partitions the records: primary-key or schema-table.
    #[arg(long, default_value = "primary-key", value_parser = partition_key)]
    partition_key: PartitionKey,
    /// The AWS endpoint.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    endpoint_url: String,
    /// The region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

struct Options {
    endpoint_url: String,
    region: String,
    stream: String,
    dataset: Dataset,
    rate: Option<f64>,
    partition_key: PartitionKey,
}

fn main() {
    // Before any thread exists: the SDK must not look for an EC2 instance's credentials.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let outcome = parse(<Cli as clap::Parser>::parse()).and_then(|options| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the Tokio runtime")?
            .block_on(load_stream(options))
    });
    if let Err(error) = outcome {
        eprintln!("unifiedetl-cdc-load: {error:#}");
        std::process::exit(1);
    }
}

async fn load_stream(options: Options) -> Result<()> {
    let kinesis = kinesis_client(&options).await;
    let report = load::run(
        &kinesis,
        &LoadOptions {
            stream: options.stream.clone(),
            dataset: options.dataset,
            rate: options.rate,
            partition_key: options.partition_key,
            progress: true,
        },
    )
    .await?;
    let seconds = report.elapsed.as_secs_f64();
    let tables: Vec<String> = report
        .per_table
        .iter()
        .map(|(table, count)| format!("{table} {count}"))
        .collect();
    let repeated = match report.repeated {
        0 => String::new(),
        n => format!(", {n} put again after throttling"),
    };
    println!(
        "{} records ({}) on {} in {seconds:.2} s, {:.0} records/s{repeated}; {} order items alive",
        report.records,
        tables.join(", "),
        options.stream,
        report.records as f64 / seconds.max(f64::EPSILON),
        report.expected_items,
    );
    Ok(())
}

/// A Kinesis client for the endpoint, with the fake credentials the emulator accepts unless
/// the environment has its own.
async fn kinesis_client(options: &Options) -> aws_sdk_kinesis::Client {
    let config = testkit::emulator::sdk_config_at(&options.endpoint_url, &options.region).await;
    let mut config = aws_sdk_kinesis::config::Builder::from(&config);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        config = config.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    aws_sdk_kinesis::Client::from_conf(config.build())
}

fn parse(cli: Cli) -> Result<Options> {
    let dataset = match (cli.orders, cli.items) {
        (Some(orders), Some(items_per_order)) => Dataset::Synthetic {
            orders,
            items_per_order,
            seed: cli.seed.unwrap_or(1),
        },
        _ => Dataset::Sample {
            sql: match cli.sample.flatten() {
                Some(path) => path,
                None => default_sample()?,
            },
        },
    };
    Ok(Options {
        endpoint_url: cli.endpoint_url,
        region: cli.region,
        stream: cli.stream,
        dataset,
        rate: cli.rate,
        partition_key: cli.partition_key,
    })
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "must be a positive number of records per second, not {text:?}"
        )),
    }
}

fn partition_key(text: &str) -> Result<PartitionKey, String> {
    text.parse()
        .map_err(|_| format!("must be `primary-key` or `schema-table`, not {text:?}"))
}

/// `sql/orders-data-setup.sql` of the current directory, else of the repository.
fn default_sample() -> Result<PathBuf> {
    let candidates = [
        Path::new(SAMPLE_SQL).to_path_buf(),
        testkit::repo_root().join(SAMPLE_SQL),
    ];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "no {SAMPLE_SQL} in the current directory or in {}: pass `--sample PATH`",
                testkit::repo_root().display()
            )
        })
}
