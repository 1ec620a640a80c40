//! Structured variant: rows built from an `arbitrary` description, so that almost every input is
//! a JSON object with key attributes and the fuzzer spends its time on numbers near DynamoDB's
//! limits (38 digits, 1E-130 … 9.99E+125), nesting around 32 levels, key types and lengths,
//! items around 400 KB, escapes and duplicate names rather than on JSON syntax. Same invariants
//! as `decode_record`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Row {
    /// Attributes, key attributes among them (names are drawn from a small set often).
    attributes: Vec<(Name, Json)>,
    /// Whitespace between tokens: none, spaces, or newlines and tabs.
    spacing: u8,
}

#[derive(Arbitrary, Debug)]
enum Name {
    OrderId,
    ItemId,
    Id,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Str(String),
    /// A string of `n` ASCII letters: key lengths around 1024 / 2048 bytes.
    LongStr(u16),
    /// A string of `8 × n` bytes (up to 512 KiB): items around DynamoDB's 400 KB limit.
    Huge(u16),
    Num(Number),
    Arr(Vec<Json>),
    Obj(Vec<(Name, Json)>),
    /// `levels` lists around a value: nesting around DynamoDB's 32-level limit.
    Nested {
        levels: u8,
        inner: Box<Json>,
    },
}

#[derive(Arbitrary, Debug)]
struct Number {
    negative: bool,
    /// Integer part digits (0-9 each, taken mod 10); empty means "0".
    int: Vec<u8>,
    frac: Option<Vec<u8>>,
    exponent: Option<Exponent>,
}

#[derive(Arbitrary, Debug)]
struct Exponent {
    upper: bool,
    sign: Option<bool>,
    /// Leading zeros are valid JSON (`1e007`).
    leading_zeros: u8,
    value: u16,
}

fn digits(raw: &[u8]) -> String {
    raw.iter().map(|d| char::from(b'0' + d % 10)).collect()
}

impl Name {
    fn text(&self) -> &str {
        match self {
            Name::OrderId => "orderId",
            Name::ItemId => "itemId",
            Name::Id => "id",
            Name::Other(name) => name,
        }
    }
}

impl Number {
    fn write(&self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        let int = digits(&self.int);
        let int = int.trim_start_matches('0');
        out.push_str(if int.is_empty() { "0" } else { int });
        if let Some(frac) = &self.frac {
            if !frac.is_empty() {
                out.push('.');
                out.push_str(&digits(frac));
            }
        }
        if let Some(exponent) = &self.exponent {
            out.push(if exponent.upper { 'E' } else { 'e' });
            match exponent.sign {
                Some(true) => out.push('+'),
                Some(false) => out.push('-'),
                None => {}
            }
            for _ in 0..exponent.leading_zeros % 4 {
                out.push('0');
            }
            // Mostly near the interesting range, sometimes far out.
            let value = if exponent.value & 0x8000 != 0 {
                u32::from(exponent.value)
            } else {
                u32::from(exponent.value % 170)
            };
            out.push_str(&value.to_string());
        }
    }
}

struct Writer {
    out: String,
    spacing: u8,
}

impl Writer {
    fn space(&mut self) {
        match self.spacing % 3 {
            0 => {}
            1 => self.out.push(' '),
            _ => self.out.push_str("\n\t"),
        }
    }

    fn string(&mut self, text: &str) {
        self.out.push_str(&serde_json::to_string(text).unwrap());
    }

    fn object(&mut self, fields: &[(Name, Json)]) {
        self.out.push('{');
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.space();
            self.string(name.text());
            self.space();
            self.out.push(':');
            self.space();
            self.value(value);
        }
        self.space();
        self.out.push('}');
    }

    fn value(&mut self, value: &Json) {
        match value {
            Json::Null => self.out.push_str("null"),
            Json::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Json::Str(text) => self.string(text),
            Json::LongStr(n) => {
                let n = usize::from(*n % 4200);
                self.out.push('"');
                self.out.extend(std::iter::repeat_n('k', n));
                self.out.push('"');
            }
            Json::Huge(n) => {
                self.out.push('"');
                self.out
                    .extend(std::iter::repeat_n('h', 8 * usize::from(*n)));
                self.out.push('"');
            }
            Json::Num(number) => number.write(&mut self.out),
            Json::Arr(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.space();
                    self.value(item);
                }
                self.out.push(']');
            }
            Json::Obj(fields) => self.object(fields),
            Json::Nested { levels, inner } => {
                let levels = usize::from(*levels % 40);
                for _ in 0..levels {
                    self.out.push('[');
                }
                self.value(inner);
                for _ in 0..levels {
                    self.out.push(']');
                }
            }
        }
    }
}

fuzz_target!(|row: Row| {
    let mut writer = Writer {
        out: String::new(),
        spacing: row.spacing,
    };
    writer.object(&row.attributes);
    unifiedetl_lambda_fuzz::check(writer.out.as_bytes());
});
