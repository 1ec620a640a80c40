//! `unifiedetl-cdc-load`: writes DMS change records into the CDC stream, as DMS would from the
//! sample's MySQL database or from synthetic orders.
//!
//! ```text
//! unifiedetl-cdc-load --stream NAME [--sample [PATH] | --orders N --items M [--seed S]]
//!                     [--rate R] [--partition-key primary-key|schema-table]
//!                     [--endpoint-url URL] [--region REGION]
//! ```

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use unifiedetl_local::load::{self, Dataset, LoadOptions, PartitionKey};

const USAGE: &str = "\
usage: unifiedetl-cdc-load --stream NAME [--sample [PATH] | --orders N --items M [--seed S]]
                           [--rate R] [--partition-key primary-key|schema-table]
                           [--endpoint-url URL] [--region REGION]

  --stream NAME          the CDC stream (name or ARN); required
  --sample [PATH]        the sample's SQL file (default: sql/orders-data-setup.sql of the
                         current directory or the repository); the default data set
  --orders N --items M   N synthetic orders of M items (M at most 2000)
  --seed S               seed of the synthetic orders (default 1)
  --rate R               records per second (default: as fast as the stream takes them)
  --partition-key K      primary-key (default) or schema-table
  --endpoint-url URL     default: $AWS_ENDPOINT_URL, else http://127.0.0.1:4566
  --region REGION        default: us-east-1";

const SAMPLE_SQL: &str = "sql/orders-data-setup.sql";

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
    let outcome = parse(std::env::args().skip(1).collect()).and_then(|options| {
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
    let config = harness::emulator::sdk_config_at(&options.endpoint_url, &options.region).await;
    let mut config = aws_sdk_kinesis::config::Builder::from(&config);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        config = config.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    aws_sdk_kinesis::Client::from_conf(config.build())
}

fn parse(args: Vec<String>) -> Result<Options> {
    // `--flag=value` is `--flag value`.
    let mut args: VecDeque<String> = args
        .into_iter()
        .flat_map(|arg| match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => vec![flag.to_string(), value.into()],
            _ => vec![arg],
        })
        .collect();
    let mut endpoint_url = None;
    let mut region = None;
    let mut stream = None;
    let mut sample: Option<Option<PathBuf>> = None;
    let (mut orders, mut items, mut seed) = (None, None, None);
    let mut rate = None;
    let mut partition_key = PartitionKey::PrimaryKey;
    while let Some(flag) = args.pop_front() {
        let mut value = || {
            args.pop_front()
                .filter(|v| !v.starts_with("--"))
                .with_context(|| format!("`{flag}` needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--endpoint-url" => endpoint_url = Some(value()?),
            "--region" => region = Some(value()?),
            "--stream" => stream = Some(value()?),
            "--sample" => {
                let path = match args.front() {
                    Some(next) if !next.starts_with("--") => args.pop_front().map(PathBuf::from),
                    _ => None,
                };
                sample = Some(path);
            }
            "--orders" => orders = Some(number::<u64>(&flag, &value()?)?),
            "--items" => items = Some(number::<u32>(&flag, &value()?)?),
            "--seed" => seed = Some(number::<u64>(&flag, &value()?)?),
            "--rate" => {
                let text = value()?;
                let rate_value = number::<f64>(&flag, &text)?;
                if !(rate_value.is_finite() && rate_value > 0.0) {
                    bail!("`--rate` must be a positive number of records per second, not {text:?}");
                }
                rate = Some(rate_value);
            }
            "--partition-key" => {
                let text = value()?;
                partition_key = text.parse().map_err(|_| {
                    anyhow!(
                        "`--partition-key` must be `primary-key` or `schema-table`, not {text:?}"
                    )
                })?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => bail!("unknown argument {flag:?}\n\n{USAGE}"),
        }
    }
    let stream = stream.with_context(|| format!("`--stream` is required\n\n{USAGE}"))?;
    let dataset = match (sample, orders, items) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            bail!("`--sample` and `--orders`/`--items` are two data sets: choose one")
        }
        (_, Some(orders), Some(items_per_order)) => Dataset::Synthetic {
            orders,
            items_per_order,
            seed: seed.unwrap_or(1),
        },
        (_, Some(_), None) => bail!("`--orders` needs `--items` (items per order)"),
        (_, None, Some(_)) => bail!("`--items` needs `--orders` (how many orders)"),
        (sample, None, None) => {
            if seed.is_some() {
                bail!("`--seed` is for synthetic orders (`--orders N --items M`)");
            }
            Dataset::Sample {
                sql: match sample.flatten() {
                    Some(path) => path,
                    None => default_sample()?,
                },
            }
        }
    };
    let endpoint_url = endpoint_url
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_string());
    Ok(Options {
        endpoint_url,
        region: region.unwrap_or_else(|| "us-east-1".to_string()),
        stream,
        dataset,
        rate,
        partition_key,
    })
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T> {
    text.parse()
        .ok()
        .with_context(|| format!("`{flag}` needs a number, not {text:?}"))
}

/// `sql/orders-data-setup.sql` of the current directory, else of the repository.
fn default_sample() -> Result<PathBuf> {
    let candidates = [
        Path::new(SAMPLE_SQL).to_path_buf(),
        harness::repo_root().join(SAMPLE_SQL),
    ];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "no {SAMPLE_SQL} in the current directory or in {}: pass `--sample PATH`",
                harness::repo_root().display()
            )
        })
}
