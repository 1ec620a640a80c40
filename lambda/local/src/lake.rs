//! The data-lake fork, done locally: what the pipeline's Firehose delivery stream does on AWS —
//! read the CDC stream, buffer, compress, and write objects into the lake bucket under the
//! configured date-partitioned prefix — since the emulator's Firehose never reads Kinesis.
//!
//! Object keys follow Firehose's scheme: the prefix with its `!{timestamp:…}` expressions
//! rendered at the arrival time of the object's oldest record (UTC), then
//! `<delivery stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<random>`, plus `.gz` when gzipped. Each
//! record is followed by a newline, so the objects are JSON lines.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::ShardIteratorType;
use chrono::{DateTime, Utc};
use rand::RngExt as _;

/// How often an exhausted shard is polled again.
const POLL: Duration = Duration::from_millis(200);

/// The delivery stream's settings, as the emulator reports them.
#[derive(Debug, Clone)]
pub struct LakeConfig {
    pub delivery_stream: String,
    /// Firehose's destination version id, part of every object key.
    pub version: String,
    pub source_stream_arn: String,
    pub bucket: String,
    pub prefix: String,
    pub compression: String,
    pub buffer_bytes: usize,
    pub buffer_interval: Duration,
}

impl LakeConfig {
    /// Reads the delivery stream `name` (DescribeDeliveryStream).
    pub async fn of_delivery_stream(
        firehose: &aws_sdk_firehose::Client,
        name: &str,
    ) -> Result<LakeConfig> {
        let out = firehose
            .describe_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .with_context(|| format!("describing delivery stream {name}"))?;
        let d = out
            .delivery_stream_description()
            .context("no description")?;
        let source = d
            .source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn())
            .context("the delivery stream has no Kinesis source")?;
        let s3 = d
            .destinations()
            .first()
            .and_then(|dest| dest.extended_s3_destination_description())
            .context("the delivery stream has no S3 destination")?;
        let bucket = s3
            .bucket_arn()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let hints = s3.buffering_hints();
        Ok(LakeConfig {
            delivery_stream: name.to_string(),
            version: d.version_id().to_string(),
            source_stream_arn: source.to_string(),
            bucket,
            prefix: s3.prefix().unwrap_or_default().to_string(),
            compression: s3.compression_format().as_str().to_string(),
            buffer_bytes: hints.and_then(|h| h.size_in_mbs()).unwrap_or(5) as usize * 1024 * 1024,
            buffer_interval: Duration::from_secs(
                hints.and_then(|h| h.interval_in_seconds()).unwrap_or(300) as u64,
            ),
        })
    }
}

/// Renders Firehose's prefix expressions at `at`: `!{timestamp:<Java date pattern>}` (the
/// letters `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`) and `!{firehose:random-string}`.
pub fn render_prefix(prefix: &str, at: DateTime<Utc>) -> Result<String> {
    let mut out = String::new();
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .with_context(|| format!("unclosed expression in prefix {prefix:?}"))?;
        let expression = &rest[start + 2..start + end];
        match expression.split_once(':') {
            Some(("timestamp", pattern)) => out.push_str(&java_date(pattern, at)?),
            Some(("firehose", "random-string")) => out.push_str(&random_string(11)),
            _ => bail!("prefix expression !{{{expression}}} is not supported locally"),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn java_date(pattern: &str, at: DateTime<Utc>) -> Result<String> {
    let mut format = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        let piece = match (c, run) {
            ('y', 4) => "%Y",
            ('M', 2) => "%m",
            ('d', 2) => "%d",
            ('H', 2) => "%H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            (c, _) if !c.is_ascii_alphabetic() => {
                format.extend(std::iter::repeat_n(c, run));
                continue;
            }
            _ => bail!("timestamp pattern {pattern:?} is not supported locally"),
        };
        format.push_str(piece);
    }
    Ok(at.format(&format).to_string())
}

fn random_string(length: usize) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| {
            let i = rng.random_range(0..36u8);
            (if i < 10 { b'0' + i } else { b'a' + i - 10 }) as char
        })
        .collect()
}

/// The key of an object whose oldest record arrived at `at`.
pub fn object_key(config: &LakeConfig, at: DateTime<Utc>) -> Result<String> {
    let suffix = if config.compression == "GZIP" {
        ".gz"
    } else {
        ""
    };
    Ok(format!(
        "{}{}-{}-{}-{}{suffix}",
        render_prefix(&config.prefix, at)?,
        config.delivery_stream,
        config.version,
        at.format("%Y-%m-%d-%H-%M-%S"),
        uuid_like(),
    ))
}

fn uuid_like() -> String {
    let hex = |n: usize| -> String {
        let mut rng = rand::rng();
        (0..n)
            .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap_or('0'))
            .collect()
    };
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

/// The objects written and the records in them.
#[derive(Debug, Default, Clone)]
pub struct LakeStats {
    pub objects: Vec<String>,
    pub records: u64,
    pub bytes: u64,
}

struct Buffer {
    oldest: Option<SystemTime>,
    records: Vec<Vec<u8>>,
    bytes: usize,
}

impl Buffer {
    fn new() -> Buffer {
        Buffer {
            oldest: None,
            records: Vec::new(),
            bytes: 0,
        }
    }
}

fn encode(config: &LakeConfig, records: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut plain = Vec::new();
    for record in records {
        plain.extend_from_slice(record);
        plain.push(b'\n');
    }
    match config.compression.as_str() {
        "UNCOMPRESSED" => Ok(plain),
        "GZIP" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&plain)?;
            Ok(encoder.finish()?)
        }
        other => bail!(
            "compression {other} is not supported by the local lake fork: use GZIP or UNCOMPRESSED"
        ),
    }
}

async fn flush(
    s3: &aws_sdk_s3::Client,
    config: &LakeConfig,
    buffer: &mut Buffer,
    stats: &mut LakeStats,
) -> Result<()> {
    let Some(oldest) = buffer.oldest else {
        return Ok(());
    };
    let key = object_key(config, DateTime::<Utc>::from(oldest))?;
    let body = encode(config, &buffer.records)?;
    stats.bytes += body.len() as u64;
    s3.put_object()
        .bucket(&config.bucket)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .with_context(|| format!("writing s3://{}/{key}", config.bucket))?;
    stats.records += buffer.records.len() as u64;
    stats.objects.push(key);
    *buffer = Buffer::new();
    Ok(())
}

/// Forks the source stream into the lake: every shard from the records that arrived at `from`
/// (from the oldest record without it), buffered up to
/// the delivery stream's size or interval hints (whichever comes first), until no record has
/// arrived for `idle_exit`, or `cancel` turns true; what is buffered then is written too.
pub async fn fork(
    kinesis: &aws_sdk_kinesis::Client,
    s3: &aws_sdk_s3::Client,
    config: &LakeConfig,
    from: Option<SystemTime>,
    idle_exit: Option<Duration>,
    mut cancel: tokio::sync::watch::Receiver<bool>,
) -> Result<LakeStats> {
    let stream_arn = config.source_stream_arn.as_str();
    let shards = kinesis
        .list_shards()
        .stream_arn(stream_arn)
        .send()
        .await
        .context("listing the CDC stream's shards")?;
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    for shard in shards.shards() {
        let request = kinesis
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard.shard_id());
        let request = match from {
            Some(at) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_smithy_types::DateTime::from(at)),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let iterator = request.send().await?.shard_iterator;
        iterators.insert(shard.shard_id().to_string(), iterator);
    }
    let mut buffer = Buffer::new();
    let mut stats = LakeStats::default();
    let mut last_record = tokio::time::Instant::now();
    loop {
        let mut got = 0;
        for iterator in iterators.values_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let out = kinesis
                .get_records()
                .shard_iterator(current)
                .stream_arn(stream_arn)
                .send()
                .await
                .context("reading the CDC stream")?;
            *iterator = out.next_shard_iterator().map(str::to_string);
            for record in out.records() {
                got += 1;
                let arrival = record
                    .approximate_arrival_timestamp()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .unwrap_or_else(SystemTime::now);
                buffer.oldest = Some(buffer.oldest.map_or(arrival, |o| o.min(arrival)));
                buffer.bytes += record.data().as_ref().len() + 1;
                buffer.records.push(record.data().as_ref().to_vec());
            }
        }
        let now = tokio::time::Instant::now();
        if got > 0 {
            last_record = now;
        }
        let age = buffer
            .oldest
            .and_then(|o| SystemTime::now().duration_since(o).ok())
            .unwrap_or_default();
        if buffer.bytes >= config.buffer_bytes
            || (buffer.oldest.is_some() && age >= config.buffer_interval)
        {
            flush(s3, config, &mut buffer, &mut stats).await?;
        }
        let idle = idle_exit.is_some_and(|limit| now.duration_since(last_record) >= limit);
        if idle || *cancel.borrow() || iterators.values().all(Option::is_none) {
            flush(s3, config, &mut buffer, &mut stats).await?;
            return Ok(stats);
        }
        if got == 0 {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = cancel.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 9, 7, 3).unwrap()
    }

    #[test]
    fn the_default_prefix_renders_hive_style_date_partitions() {
        let prefix = "cdc/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
        assert_eq!(
            render_prefix(prefix, at()).unwrap(),
            "cdc/year=2024/month=05/day=01/hour=09/"
        );
        assert_eq!(
            render_prefix("x/!{timestamp:yyyy-MM-dd}/", at()).unwrap(),
            "x/2024-05-01/"
        );
        assert_eq!(render_prefix("plain/", at()).unwrap(), "plain/");
        assert!(render_prefix("!{partitionKeyFromQuery:id}/", at()).is_err());
        assert!(render_prefix("!{timestamp:yyyy", at()).is_err());
    }

    #[test]
    fn object_keys_follow_firehose_naming() {
        let config = LakeConfig {
            delivery_stream: "orders-lake".into(),
            version: "1".into(),
            source_stream_arn: String::new(),
            bucket: "b".into(),
            prefix: "cdc/!{timestamp:yyyy}/".into(),
            compression: "GZIP".into(),
            buffer_bytes: 1,
            buffer_interval: Duration::ZERO,
        };
        let key = object_key(&config, at()).unwrap();
        assert!(
            key.starts_with("cdc/2024/orders-lake-1-2024-05-01-09-07-03-"),
            "{key}"
        );
        assert!(key.ends_with(".gz"), "{key}");
    }

    #[test]
    fn gzip_objects_hold_one_record_per_line() {
        use std::io::Read as _;
        let config = LakeConfig {
            delivery_stream: "l".into(),
            version: "1".into(),
            source_stream_arn: String::new(),
            bucket: "b".into(),
            prefix: String::new(),
            compression: "GZIP".into(),
            buffer_bytes: 1,
            buffer_interval: Duration::ZERO,
        };
        let body = encode(&config, &[b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n");
    }
}
