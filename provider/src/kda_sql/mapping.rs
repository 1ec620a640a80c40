//! JSONPath mappings: [`check_mapping`] checks one `RecordColumn`'s `Mapping` the way KDA reads
//! it (its shorthand rewritten to RFC 9535 and parsed).

use serde_json_path::JsonPath;

/// RFC 9535 member-name-shorthand: `name-first *name-char`, where name-first is ALPHA, `_` or
/// any non-ASCII character, and name-char adds DIGIT.
fn is_shorthand_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// An RFC 9535 single-quoted name selector for `key`.
fn bracket_member(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    out.push_str("['");
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("']");
    out
}

/// `base` followed by the member `key`: dot shorthand when RFC 9535 allows it, bracket form
/// otherwise (both forms are accepted by Kinesis Data Analytics).
pub(super) fn member_path(base: &str, key: &str) -> String {
    if is_shorthand_name(key) {
        format!("{base}.{key}")
    } else {
        format!("{base}{}", bracket_member(key))
    }
}

/// Rewrites dot-members that Kinesis Data Analytics accepts but RFC 9535's shorthand does not
/// (`$.metadata.table-name`: a hyphen, or a name starting with a digit) into bracket notation
/// (`$.metadata['table-name']`), so that the RFC 9535 parser of serde_json_path can check the
/// rest. Bracket segments and everything else are copied as they are.
pub(super) fn kda_path_to_rfc9535(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => {
                // Copy the bracketed segment, honouring quotes and nesting.
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while i < chars.len() {
                    let c = chars[i];
                    out.push(c);
                    i += 1;
                    match quote {
                        Some(q) => {
                            if c == '\\' && i < chars.len() {
                                out.push(chars[i]);
                                i += 1;
                            } else if c == q {
                                quote = None;
                            }
                        }
                        None => match c {
                            '\'' | '"' => quote = Some(c),
                            '[' => depth += 1,
                            ']' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        },
                    }
                }
            }
            '.' => {
                let dots = if chars.get(i + 1) == Some(&'.') { 2 } else { 1 };
                let start = i + dots;
                let mut end = start;
                while end < chars.len()
                    && (chars[end].is_alphanumeric() || chars[end] == '_' || chars[end] == '-')
                {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                if !name.is_empty() && !is_shorthand_name(&name) {
                    // `.name` becomes `['name']`, `..name` becomes `..['name']`.
                    if dots == 2 {
                        out.push_str("..");
                    }
                    out.push_str(&bracket_member(&name));
                } else {
                    out.extend(&chars[i..end]);
                }
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Checks a JSONPath mapping as KDA accepts it. Err(reason, readable, from the crate's error).
pub fn check_mapping(mapping: &str) -> Result<(), String> {
    if !mapping.starts_with('$') {
        return Err(format!(
            "`{mapping}` is not a JSONPath: a mapping starts with `$`, the record's root, \
             e.g. `$.{}`",
            mapping.trim_start_matches('.')
        ));
    }
    let rfc = kda_path_to_rfc9535(mapping);
    JsonPath::parse(&rfc).map(|_| ()).map_err(|e| {
        let read_as = if rfc == mapping {
            String::new()
        } else {
            format!(" (read as `{rfc}`)")
        };
        let place = match rfc.get(e.position()..) {
            Some("") | None => "at the end of the path".to_string(),
            Some(rest) => format!("at `{rest}` (character {})", e.position() + 1),
        };
        format!(
            "`{mapping}`{read_as} is not a valid JSONPath: {} {place}",
            e.message()
        )
    })
}
