//! The benchmark's input: batches of rows shaped like the sample's enriched order items (an
//! `order` row joined with one of its `order_item` rows), generated deterministically so that
//! every sink gets exactly the same bytes.

use base64::Engine as _;

/// One Kinesis record: sequence number and payload (one JSON row).
pub struct Record {
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// One batch, as records and as the Kinesis event JSON Lambda would hand out.
pub struct Batch {
    pub records: Vec<Record>,
    pub event: String,
}

/// xorshift64*: deterministic, dependency-free, plenty for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: [&str; 8] = [
    "Maria Lopez",
    "James Carter",
    "Aisha Khan",
    "Tom Becker",
    "Lena Novak",
    "Hiro Tanaka",
    "Grace Okafor",
    "Pedro Alves",
];
const STREETS: [&str; 6] = [
    "Alder Way",
    "Birch Lane",
    "Cedar Court",
    "Dogwood Drive",
    "Elm Street",
    "Fir Avenue",
];
const CITIES: [(&str, &str, &str); 6] = [
    ("Seattle", "WA", "98101"),
    ("Portland", "OR", "97205"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "78701"),
    ("Chicago", "IL", "60601"),
    ("San Jose", "CA", "95113"),
];

/// `count` batches of `size` records each. Every (orderId, itemId) is distinct across all
/// batches, two items per order as in the sample: each batch is `size` fresh puts for every
/// sink, and nothing collapses.
pub fn batches(count: usize, size: usize) -> Vec<Batch> {
    let mut rng = Rng(0x5EED_0F0D_E125_0001);
    (0..count)
        .map(|b| {
            let records: Vec<Record> = (0..size)
                .map(|r| {
                    let n = (b * size + r) as u64;
                    Record {
                        sequence_number: format!("49590338271490256608559692538361571095{n:018}"),
                        data: row(&mut rng, n).into_bytes(),
                    }
                })
                .collect();
            let event = event(&records);
            Batch { records, event }
        })
        .collect()
}

/// The key (orderId, itemId) of the `n`th record generated (counting across batches).
pub fn key(n: u64) -> (u64, u64) {
    if std::env::var_os("UNIQUE").is_some() {
        return (20_000_001 + n, 999_900_001 + n);
    }
    (20_000_001 + n / 2, 999_900_001 + n)
}

fn row(rng: &mut Rng, n: u64) -> String {
    let (order_id, item_id) = key(n);
    let name = rng.pick(&NAMES);
    let (city, state, zip) = CITIES[rng.below(CITIES.len() as u64) as usize];
    let street = rng.pick(&STREETS);
    let number = 1 + rng.below(2400);
    let quantity = 1 + rng.below(40);
    let unit_cents = 100 + rng.below(9900);
    let item_amount = quantity * unit_cents;
    let order_amount = item_amount + rng.below(50_000);
    let (minute, second, milli) = (rng.below(60), rng.below(60), rng.below(1000));
    format!(
        concat!(
            r#"{{"orderId":{order_id},"itemId":{item_id},"#,
            r#""orderAmount":{oa}.{oc:02},"orderStatus":"{os}","#,
            r#""orderDateTime":"2024-05-01T09:{minute:02}:{second:02}.{milli:03}Z","#,
            r#""shipToName":"{name}","shipToAddress":"{number} {street}","#,
            r#""shipToCity":"{city}","shipToState":"{state}","shipToZip":"{zip}","#,
            r#""billToName":"{name}","billToCity":"{city}","billToZip":"{zip}","#,
            r#""itemQuantity":{quantity},"itemAmount":{ia}.{ic:02},"itemStatus":"{is}"}}"#
        ),
        order_id = order_id,
        item_id = item_id,
        oa = order_amount / 100,
        oc = order_amount % 100,
        os = rng.pick(&["New", "Paid", "Shipped", "Delivered"]),
        minute = minute,
        second = second,
        milli = milli,
        name = name,
        number = number,
        street = street,
        city = city,
        state = state,
        zip = zip,
        quantity = quantity,
        ia = item_amount / 100,
        ic = item_amount % 100,
        is = rng.pick(&["New", "Picked"]),
    )
}

/// The Kinesis event Lambda hands the function, as the tests build it.
pub fn event(records: &[Record]) -> String {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|record| {
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "orders",
                    "sequenceNumber": record.sequence_number,
                    "data": base64::engine::general_purpose::STANDARD.encode(&record.data),
                    "approximateArrivalTimestamp": 1_700_000_000.123
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{}", record.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/persist",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/order-enriched"
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}
