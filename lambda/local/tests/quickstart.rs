//! What the local pipeline's suites know of `examples/quickstart`: its columns, its reference
//! data, and how its sink's values read as text.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use testkit::repo_root;

/// The quickstart's sink table.
pub const SINK: &str = "unified-orders-sink";

/// The quickstart's `analytics.columns`: sink attribute → `table.column`.
pub const COLUMNS: [(&str, &str); 14] = [
    ("orderId", "order.orderId"),
    ("orderAmount", "order.orderAmount"),
    ("orderStatus", "order.orderStatus"),
    ("orderDateTime", "order.orderDateTime"),
    ("shipToName", "order.shipToName"),
    ("shipToAddress", "order.shipToAddress"),
    ("shipToCity", "order.shipToCity"),
    ("shipToState", "order.shipToState"),
    ("shipToZip", "order.shipToZip"),
    ("itemId", "order_item.itemId"),
    ("itemAmount", "order_item.itemAmount"),
    ("itemQuantity", "order_item.itemQuantity"),
    ("itemStatus", "order_item.itemStatus"),
    ("productName", "products.productName"),
];

/// The quickstart's products (`reference/products.json`), by `productId`.
pub fn products() -> Result<HashMap<String, serde_json::Value>> {
    std::fs::read_to_string(repo_root().join("examples/quickstart/reference/products.json"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((v["productId"].to_string(), v))
        })
        .collect()
}

/// A sink value as text: a string, or a number's exact text.
pub fn text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.clone(),
        other => format!("{other:?}"),
    }
}

/// S3 on the emulator (path-style addressing).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// The sink's rows, by (orderId, itemId).
pub async fn sink_rows(
    dynamodb: &aws_sdk_dynamodb::Client,
) -> Result<BTreeMap<(String, String), BTreeMap<String, String>>> {
    let items: Vec<_> = dynamodb
        .scan()
        .table_name(SINK)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    Ok(items
        .iter()
        .map(|item| {
            let row: BTreeMap<String, String> =
                item.iter().map(|(k, v)| (k.clone(), text(v))).collect();
            ((row["orderId"].clone(), row["itemId"].clone()), row)
        })
        .collect())
}
