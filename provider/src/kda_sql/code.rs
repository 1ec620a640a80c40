//! [`check_code`] checks the application code against the input stream, the reference tables and
//! the outputs: the streams the outputs read must be created, the input and every reference table
//! must be read, and the columns the code takes from them must exist.
//!
//! The checker is deliberately conservative: it tokenises the code (sqlparser's tokenizer) and
//! follows the structure of `SELECT` statements only as far as it needs to resolve sources and
//! aliases. Whatever it cannot resolve goes unchecked, so that valid code never fails validation.

use std::collections::{HashMap, HashSet};

use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::columns::Column;

/// What the code is checked against.
pub struct CodeContext<'a> {
    /// The in-application input stream, `<name_prefix>_001` exactly as KDA names it (case kept).
    pub input_stream: &'a str,
    pub input_columns: &'a [Column],
    /// Reference tables: in-application table name (case kept) and its columns.
    pub references: &'a [(&'a str, &'a [Column])],
    /// Output in-application stream names (case kept), in configuration order.
    pub outputs: &'a [&'a str],
}

/// What a finding is about, so the provider can attach it to the right attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Code,
    InputPrefix,
    Output(usize),
    Reference(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: Subject,
    pub message: String,
}

/// A significant token of the code.
#[derive(Debug, Clone)]
struct Tk {
    kind: TkKind,
    line: u64,
    col: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum TkKind {
    Word {
        value: String,
        quoted: bool,
        keyword: bool,
    },
    LParen,
    RParen,
    Comma,
    Period,
    Semi,
    Literal,
    Other,
}

impl Tk {
    fn from_token(t: TokenWithSpan) -> Option<Tk> {
        let kind = match t.token {
            Token::Whitespace(_) | Token::EOF => return None,
            Token::Word(w) => TkKind::Word {
                quoted: w.quote_style.is_some(),
                keyword: w.quote_style.is_none() && w.keyword != Keyword::NoKeyword,
                value: w.value,
            },
            Token::LParen => TkKind::LParen,
            Token::RParen => TkKind::RParen,
            Token::Comma => TkKind::Comma,
            Token::Period => TkKind::Period,
            Token::SemiColon => TkKind::Semi,
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_) => TkKind::Literal,
            _ => TkKind::Other,
        };
        Some(Tk {
            kind,
            line: t.span.start.line,
            col: t.span.start.column,
        })
    }

    /// An unquoted word equal to `kw` (ignoring case).
    fn is_kw(&self, kw: &str) -> bool {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: false,
                ..
            } => value.eq_ignore_ascii_case(kw),
            _ => false,
        }
    }

    fn is_any_kw(&self, kws: &[&str]) -> bool {
        kws.iter().any(|k| self.is_kw(k))
    }

    fn is_word(&self) -> bool {
        matches!(self.kind, TkKind::Word { .. })
    }

    /// The identifier as Kinesis Data Analytics resolves it: quoted as written, unquoted
    /// uppercased.
    fn norm(&self) -> Option<String> {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => Some(value.clone()),
            TkKind::Word { value, .. } => Some(value.to_uppercase()),
            _ => None,
        }
    }

    /// The identifier as written in the code.
    fn written(&self) -> String {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => format!("\"{}\"", value.replace('"', "\"\"")),
            TkKind::Word { value, .. } => value.clone(),
            _ => String::new(),
        }
    }

    fn at(&self) -> String {
        format!("line {}, column {}", self.line, self.col)
    }

    /// How the identifier is read, for case hints.
    fn how_read(&self) -> String {
        match &self.kind {
            TkKind::Word {
                value,
                quoted: true,
                ..
            } => format!("\"{value}\" ({}; quoted, so its case is kept)", self.at()),
            TkKind::Word { value, .. } => format!(
                "`{value}` ({}; unquoted, so Kinesis Data Analytics reads it as {})",
                self.at(),
                value.to_uppercase()
            ),
            _ => String::new(),
        }
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quoted_list<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}

/// The in-application error stream Kinesis Data Analytics creates in every application.
const ERROR_STREAM: &str = "error_stream";

/// Keywords that end a FROM item's alias (or start the next item).
const JOIN_WORDS: &[&str] = &[
    "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL",
];

const CLAUSE_WORDS: &[&str] = &[
    "FROM", "WHERE", "GROUP", "HAVING", "WINDOW", "ORDER", "LIMIT", "FETCH", "OFFSET",
];

const ALIAS_STOP_WORDS: &[&str] = &[
    "ON",
    "USING",
    "OVER",
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "CROSS",
    "NATURAL",
];

/// A stream the code creates.
struct CreatedStream {
    name: String,
    token: Tk,
    /// Its columns (normalised), when the column list could be read.
    columns: Option<Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SrcKind {
    Input,
    Reference(usize),
    Created(usize),
    Unknown,
}

struct Source {
    kind: SrcKind,
    name: Option<String>,
    alias: Option<String>,
}

/// One statement's tokens with its parentheses matched.
struct Stmt<'t> {
    toks: &'t [Tk],
    close: Vec<Option<usize>>,
    /// For each `(`: whether a SELECT is inside (a subquery, scanned as its own scope).
    has_select: Vec<bool>,
}

impl<'t> Stmt<'t> {
    fn new(toks: &'t [Tk]) -> Result<Stmt<'t>, &'t Tk> {
        let mut close = vec![None; toks.len()];
        let mut has_select = vec![false; toks.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t.kind {
                TkKind::LParen => open.push(i),
                TkKind::RParen => {
                    let o = open.pop().ok_or(t)?;
                    close[o] = Some(i);
                    // A SELECT inside is inside the enclosing group too.
                    if let Some(&outer) = open.last() {
                        has_select[outer] |= has_select[o];
                    }
                }
                _ if t.is_kw("SELECT") => {
                    if let Some(&o) = open.last() {
                        has_select[o] = true;
                    }
                }
                _ => {}
            }
        }
        if let Some(&o) = open.first() {
            return Err(&toks[o]);
        }
        Ok(Stmt {
            toks,
            close,
            has_select,
        })
    }

    fn tok(&self, i: usize) -> Option<&Tk> {
        self.toks.get(i)
    }

    /// Indices of the top-level tokens of `start..end`; a parenthesised group is represented by
    /// its `(`.
    fn top_level(&self, start: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            out.push(i);
            i = match self.close[i] {
                Some(c) => c + 1,
                None => i + 1,
            };
        }
        out
    }

    /// Every token index of `start..end`, leaving out subqueries.
    fn scan(&self, start: usize, end: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = start;
        while i < end {
            if self.has_select[i] {
                i = self.close[i].map_or(i + 1, |c| c + 1);
                continue;
            }
            out.push(i);
            i += 1;
        }
        out
    }

    fn is_group(&self, i: usize) -> bool {
        self.close.get(i).is_some_and(|c| c.is_some())
    }
}

struct Checker<'c, 'a> {
    ctx: &'c CodeContext<'a>,
    created: Vec<CreatedStream>,
    /// Normalised names of streams, pumps, tables and windows: never column references.
    object_names: HashSet<String>,
    findings: Vec<Finding>,
    reported: HashSet<String>,
}

impl Checker<'_, '_> {
    fn resolve_source(&self, name: &str) -> SrcKind {
        if name == self.ctx.input_stream {
            return SrcKind::Input;
        }
        if let Some(i) = self.ctx.references.iter().position(|(r, _)| *r == name) {
            return SrcKind::Reference(i);
        }
        match self.created.iter().rposition(|c| c.name == name) {
            Some(i) => SrcKind::Created(i),
            None => SrcKind::Unknown,
        }
    }

    /// The columns of a source and how to name it in messages.
    fn columns_of(&self, kind: SrcKind) -> Option<(Vec<String>, String)> {
        match kind {
            SrcKind::Input => Some((
                self.ctx
                    .input_columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
                format!("the input stream {}", quoted(self.ctx.input_stream)),
            )),
            SrcKind::Reference(i) => {
                let (name, cols) = self.ctx.references[i];
                Some((
                    cols.iter().map(|c| c.name.clone()).collect(),
                    format!("the reference table {}", quoted(name)),
                ))
            }
            SrcKind::Created(i) => {
                let stream = &self.created[i];
                // A stream created more than once: the union of its column lists.
                let mut cols: Vec<String> = Vec::new();
                for c in self.created.iter().filter(|c| c.name == stream.name) {
                    for col in c.columns.as_ref()? {
                        if !cols.contains(col) {
                            cols.push(col.clone());
                        }
                    }
                }
                Some((
                    cols,
                    format!(
                        "the stream {} (created on line {})",
                        quoted(&stream.name),
                        stream.token.line
                    ),
                ))
            }
            SrcKind::Unknown => None,
        }
    }

    fn report(&mut self, key: String, message: String) {
        if self.reported.insert(key) {
            self.findings.push(Finding {
                subject: Subject::Code,
                message,
            });
        }
    }

    /// Checks one column reference `tok` (qualified by `qualifier` when given) against `kind`.
    /// `prev` and `next`: the tokens around the reference, for hints.
    fn check_column(
        &mut self,
        tok: &Tk,
        qualifier: Option<&Tk>,
        kind: SrcKind,
        (prev, next): (Option<&Tk>, Option<&Tk>),
    ) {
        let Some((columns, what)) = self.columns_of(kind) else {
            return;
        };
        let TkKind::Word {
            value,
            quoted: is_quoted,
            ..
        } = &tok.kind
        else {
            return;
        };
        let norm = tok.norm().unwrap_or_default();
        if norm == "ROWTIME" || columns.contains(&norm) {
            return;
        }
        let written = match qualifier {
            Some(q) => format!("{}.{}", q.written(), tok.written()),
            None => tok.written(),
        };
        let lower = value.to_lowercase();
        let same_but_case = columns.iter().find(|c| c.to_lowercase() == lower);
        let key = format!("{what}\u{0}{written}");
        if *is_quoted {
            let hint = match same_but_case.or_else(|| closest(&columns, value)) {
                Some(c) if Some(c) == same_but_case => format!(
                    "did you mean {}? Quoted names are case-sensitive",
                    quoted(c)
                ),
                Some(c) => format!("did you mean {}?", quoted(c)),
                None => format!(
                    "its columns are {}",
                    quoted_list(columns.iter().map(|c| c.as_str()))
                ),
            };
            // `"recordType" = "order"`: double quotes make a name, not a text.
            let hint = if qualifier.is_none()
                && same_but_case.is_none()
                && (prev.is_some_and(|t| t.kind == TkKind::Other || t.is_any_kw(&["IN", "LIKE"]))
                    || next.is_some_and(|t| t.kind == TkKind::Other))
            {
                format!(
                    "{hint} (for the text {}, use single quotes: '{}')",
                    quoted(value),
                    value.replace('\'', "''")
                )
            } else {
                hint
            };
            self.report(
                key,
                format!(
                    "`{written}` ({}): {} is not a column of {what}: {hint}",
                    tok.at(),
                    quoted(value)
                ),
            );
        } else if let Some(c) = same_but_case {
            self.report(
                key,
                format!(
                    "`{written}` ({}): `{value}` is not quoted, so Kinesis Data Analytics reads it \
                     as {norm}, which is not a column of {what}; the column is {}: quote it, {}",
                    tok.at(),
                    quoted(c),
                    quoted(c)
                ),
            );
        } else if qualifier.is_some() {
            let hint = match closest(&columns, value) {
                Some(c) => format!("did you mean {}?", quoted(c)),
                None => format!(
                    "its columns are {}",
                    quoted_list(columns.iter().map(|c| c.as_str()))
                ),
            };
            self.report(
                key,
                format!(
                    "`{written}` ({}): `{value}` is not quoted, so Kinesis Data Analytics reads it \
                     as {norm}, which is not a column of {what}: {hint}",
                    tok.at()
                ),
            );
        }
        // An unquoted, unqualified word that matches nothing may be a keyword or a function
        // this checker does not know: left alone.
    }

    /// Collects the streams, pumps and windows the code defines.
    fn collect_definitions(&mut self, toks: &[Tk]) {
        for i in 0..toks.len() {
            if !toks[i].is_kw("CREATE") {
                continue;
            }
            let mut j = i + 1;
            if toks.get(j).is_some_and(|t| t.is_kw("OR"))
                && toks.get(j + 1).is_some_and(|t| t.is_kw("REPLACE"))
            {
                j += 2;
            }
            let Some(kind) = toks.get(j) else { continue };
            let Some(name_tok) = toks.get(j + 1).filter(|t| t.is_word()) else {
                continue;
            };
            let name = name_tok.norm().unwrap_or_default();
            if kind.is_kw("STREAM") {
                let columns = stream_columns(toks, j + 2);
                self.created.push(CreatedStream {
                    name: name.clone(),
                    token: name_tok.clone(),
                    columns,
                });
                self.object_names.insert(name);
            } else if kind.is_any_kw(&["PUMP", "TABLE", "VIEW", "FUNCTION"]) {
                self.object_names.insert(name);
            }
        }
        for (i, t) in toks.iter().enumerate() {
            if t.is_kw("WINDOW") {
                if let Some(name) = toks.get(i + 1).and_then(Tk::norm) {
                    self.object_names.insert(name);
                }
            }
        }
    }

    fn check_statement(&mut self, stmt: &Stmt) {
        for (i, t) in stmt.toks.iter().enumerate() {
            if t.is_kw("SELECT") {
                self.check_select(stmt, i);
            }
        }
    }

    /// Checks the SELECT starting at token `sel`, up to the end of its parenthesised group,
    /// statement, or set operator.
    fn check_select(&mut self, stmt: &Stmt, sel: usize) {
        let toks = stmt.toks;
        let mut end = sel + 1;
        let mut depth = 0usize;
        while end < toks.len() {
            match toks[end].kind {
                TkKind::LParen => depth += 1,
                TkKind::RParen => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                _ if depth == 0
                    && toks[end].is_any_kw(&["UNION", "INTERSECT", "EXCEPT", "MINUS"]) =>
                {
                    break
                }
                _ => {}
            }
            end += 1;
        }
        let top = stmt.top_level(sel + 1, end);

        // Clauses: the select list, then FROM, WHERE, ... at the top level.
        let mut clauses: Vec<(String, usize, usize)> = Vec::new(); // (keyword, start, end) in `top`
        let mut current = ("SELECT".to_string(), 0usize);
        for (k, &i) in top.iter().enumerate() {
            if let Some(kw) = CLAUSE_WORDS.iter().find(|kw| toks[i].is_kw(kw)) {
                clauses.push((current.0.clone(), current.1, k));
                current = (kw.to_string(), k + 1);
            }
        }
        clauses.push((current.0, current.1, top.len()));
        let clause = |name: &str| {
            clauses
                .iter()
                .find(|(n, ..)| n == name)
                .map(|&(_, s, e)| &top[s.min(top.len())..e.max(s).min(top.len())])
        };

        let sources = clause("FROM")
            .map(|from| self.parse_from(stmt, from))
            .unwrap_or_default();
        let mut qualifiers: HashMap<String, SrcKind> = HashMap::new();
        for s in &sources {
            if let Some(a) = &s.alias {
                qualifiers.insert(a.clone(), s.kind);
            }
        }
        for s in &sources {
            if let Some(n) = &s.name {
                qualifiers.entry(n.clone()).or_insert(s.kind);
            }
        }

        // (a) Qualified references, anywhere in this SELECT.
        for i in stmt.scan(sel + 1, end) {
            let (Some(q), Some(dot), Some(c)) = (stmt.tok(i), stmt.tok(i + 1), stmt.tok(i + 2))
            else {
                continue;
            };
            if !q.is_word() || dot.kind != TkKind::Period || !c.is_word() || i + 2 >= end {
                continue;
            }
            if i > 0 && stmt.toks[i - 1].kind == TkKind::Period {
                continue;
            }
            if matches!(
                stmt.tok(i + 3).map(|t| &t.kind),
                Some(TkKind::Period | TkKind::LParen)
            ) {
                continue;
            }
            let Some(kind) = q.norm().and_then(|n| qualifiers.get(&n).copied()) else {
                continue;
            };
            let around = (i.checked_sub(1).and_then(|p| stmt.tok(p)), stmt.tok(i + 3));
            self.check_column(c, Some(q), kind, around);
        }

        // (b) Unqualified references, when the SELECT reads one source whose columns are known.
        let [only] = sources.as_slice() else { return };
        if only.kind == SrcKind::Unknown {
            return;
        }
        let mut aliases: HashSet<String> = HashSet::new();
        let mut skip: HashSet<usize> = HashSet::new();
        let select_list = clause("SELECT").unwrap_or(&[]);
        for item in select_list.split(|&i| toks[i].kind == TkKind::Comma) {
            let item: Vec<usize> = {
                let mut it = item;
                while let Some((&first, rest)) = it.split_first() {
                    if toks[first].is_any_kw(&["STREAM", "DISTINCT", "ALL"]) {
                        it = rest;
                    } else {
                        break;
                    }
                }
                it.to_vec()
            };
            if let [.., prev, last] = item.as_slice() {
                if toks[*last].is_word() && is_alias_position(stmt, *prev) {
                    skip.insert(*last);
                    if let Some(n) = toks[*last].norm() {
                        aliases.insert(n);
                    }
                }
            }
        }
        for &i in select_list {
            if toks[i].is_kw("AS") {
                if let Some(n) = stmt.tok(i + 1).and_then(Tk::norm) {
                    aliases.insert(n);
                }
            }
        }

        let mut ranges: Vec<&[usize]> = vec![select_list];
        ranges.extend(clause("WHERE"));
        ranges.extend(clause("GROUP"));
        for range in ranges {
            let (Some(&first), Some(&last)) = (range.first(), range.last()) else {
                continue;
            };
            let last_end = stmt.close[last].map_or(last + 1, |c| c + 1);
            for i in stmt.scan(first, last_end) {
                let t = &toks[i];
                let TkKind::Word {
                    quoted, keyword, ..
                } = &t.kind
                else {
                    continue;
                };
                if skip.contains(&i) || (!quoted && *keyword) {
                    continue;
                }
                let prev = i.checked_sub(1).and_then(|p| stmt.tok(p));
                let next = stmt.tok(i + 1);
                if prev.is_some_and(|p| p.kind == TkKind::Period || p.is_any_kw(&["AS", "OVER"]))
                    || next.is_some_and(|n| matches!(n.kind, TkKind::Period | TkKind::LParen))
                {
                    continue;
                }
                let norm = t.norm().unwrap_or_default();
                if aliases.contains(&norm)
                    || self.object_names.contains(&norm)
                    || qualifiers.contains_key(&norm)
                    || norm == self.ctx.input_stream
                {
                    continue;
                }
                self.check_column(t, None, only.kind, (prev, next));
            }
        }
    }

    /// The sources of a FROM clause (`from`: its top-level token indices).
    fn parse_from(&self, stmt: &Stmt, from: &[usize]) -> Vec<Source> {
        let toks = stmt.toks;
        let at = |k: usize| from.get(k).map(|&i| &toks[i]);
        let is_sep =
            |k: usize| at(k).is_some_and(|t| t.kind == TkKind::Comma || t.is_any_kw(JOIN_WORDS));
        let skip_over = |k: &mut usize| {
            if at(*k).is_some_and(|t| t.is_kw("OVER")) {
                *k += 1;
                if at(*k).is_some_and(|t| t.is_word())
                    || from.get(*k).is_some_and(|&i| stmt.is_group(i))
                {
                    *k += 1;
                }
            }
        };
        let mut sources = Vec::new();
        let mut k = 0;
        while k < from.len() {
            if is_sep(k) {
                k += 1;
                continue;
            }
            let mut source = Source {
                kind: SrcKind::Unknown,
                name: None,
                alias: None,
            };
            let t = &toks[from[k]];
            if t.is_any_kw(&["TABLE", "LATERAL", "UNNEST"]) || stmt.is_group(from[k]) {
                k += 1;
                if from.get(k).is_some_and(|&i| stmt.is_group(i)) {
                    k += 1;
                }
            } else if t.is_word() {
                if at(k + 1).is_some_and(|n| n.kind == TkKind::Period) {
                    // A dotted name: not an in-application object KDA knows.
                    k += 3;
                } else {
                    let name = t.norm().unwrap_or_default();
                    source.kind = self.resolve_source(&name);
                    source.name = Some(name);
                    k += 1;
                }
            } else {
                k += 1;
                continue;
            }
            skip_over(&mut k);
            if at(k).is_some_and(|t| t.is_kw("AS")) {
                k += 1;
                if at(k).is_some_and(|t| t.is_word()) {
                    source.alias = at(k).and_then(Tk::norm);
                    k += 1;
                }
            } else if at(k).is_some_and(|t| t.is_word() && !t.is_any_kw(ALIAS_STOP_WORDS)) {
                source.alias = at(k).and_then(Tk::norm);
                k += 1;
            }
            skip_over(&mut k);
            sources.push(source);
            // ON / USING and anything else up to the next item.
            while k < from.len() && !is_sep(k) {
                k += 1;
            }
        }
        sources
    }
}

/// Whether the token at `prev` ends an expression, so that a word after it is an alias.
fn is_alias_position(stmt: &Stmt, prev: usize) -> bool {
    let t = &stmt.toks[prev];
    if stmt.is_group(prev) {
        return true;
    }
    match &t.kind {
        TkKind::Literal | TkKind::RParen => true,
        TkKind::Word { quoted: true, .. } => true,
        TkKind::Word { keyword: false, .. } => true,
        TkKind::Word { .. } => t.is_any_kw(&["AS", "END", "NULL", "TRUE", "FALSE"]),
        _ => false,
    }
}

/// The column names of `CREATE STREAM name (col type, ...)`, the `(` expected at `open`.
fn stream_columns(toks: &[Tk], open: usize) -> Option<Vec<String>> {
    if toks.get(open)?.kind != TkKind::LParen {
        return None;
    }
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut expect_name = true;
    for t in &toks[open + 1..] {
        match t.kind {
            TkKind::LParen => depth += 1,
            TkKind::RParen if depth == 0 => return Some(columns),
            TkKind::RParen => depth -= 1,
            TkKind::Comma if depth == 0 => expect_name = true,
            TkKind::Semi => return None,
            _ if expect_name => {
                columns.push(t.norm()?);
                expect_name = false;
            }
            _ => {}
        }
    }
    None
}

/// The column closest to `name`, ignoring case, if it is close enough to be a plausible
/// misspelling or abbreviation: a small edit distance, or a high Jaro-Winkler similarity (which
/// favours a common prefix, as in `itemQty` for `itemQuantity`).
fn closest<'s>(columns: &'s [String], name: &str) -> Option<&'s String> {
    let lower = name.to_lowercase();
    columns
        .iter()
        .filter_map(|c| {
            let column = c.to_lowercase();
            let distance = strsim::levenshtein(&column, &lower);
            let similarity = strsim::jaro_winkler(&column, &lower);
            let max_distance = (column.chars().count().max(lower.chars().count()) / 3).max(2);
            (distance <= max_distance || similarity >= 0.85).then_some((similarity, distance, c))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// Checks KDA SQL `code` against the mappings. Never panics; returns every problem found.
pub fn check_code(code: &str, ctx: &CodeContext) -> Vec<Finding> {
    let tokens = match Tokenizer::new(&GenericDialect {}, code).tokenize_with_location() {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding {
                subject: Subject::Code,
                message: format!(
                    "the code cannot be read: {} at line {}, column {}",
                    e.message, e.location.line, e.location.column
                ),
            }]
        }
    };
    // Significant tokens only. `//` starts a comment too in the SQL reference's examples: the
    // rest of its line is dropped, so that its words are not taken for code.
    let mut toks: Vec<Tk> = Vec::new();
    let mut raw = tokens.into_iter().peekable();
    while let Some(t) = raw.next() {
        let start = t.span.start;
        let comment = t.token == Token::DuckIntDiv
            || t.token == Token::Div
                && raw.peek().is_some_and(|n| {
                    n.token == Token::Div
                        && n.span.start.line == start.line
                        && n.span.start.column == start.column + 1
                });
        if comment {
            while raw.next_if(|n| n.span.start.line == start.line).is_some() {}
            continue;
        }
        toks.extend(Tk::from_token(t));
    }

    let mut checker = Checker {
        ctx,
        created: Vec::new(),
        object_names: HashSet::new(),
        findings: Vec::new(),
        reported: HashSet::new(),
    };
    checker.collect_definitions(&toks);
    checker.object_names.insert(ctx.input_stream.to_string());
    for (name, _) in ctx.references {
        checker.object_names.insert(name.to_string());
    }
    for name in ctx.outputs {
        checker.object_names.insert(name.to_string());
    }

    let mut findings = Vec::new();

    // 1. Every output's stream is created by the code. Two in-application streams exist without
    // it: the input stream, and the error stream, which an output may deliver too.
    for (i, &output) in ctx.outputs.iter().enumerate() {
        if output == ERROR_STREAM
            || output == ctx.input_stream
            || checker.created.iter().any(|c| c.name == output)
        {
            continue;
        }
        let message = match checker
            .created
            .iter()
            .find(|c| c.name.to_lowercase() == output.to_lowercase())
        {
            Some(c) => format!(
                "output {i} reads the in-application stream {}, but the code creates {}, which \
                 differs in case (quoted names keep their case, unquoted ones are uppercased): \
                 write the name in the code as {} or set the output's stream name to {}",
                quoted(output),
                c.token.how_read(),
                quoted(output),
                quoted(&c.name)
            ),
            None => {
                let mut names: Vec<&str> = Vec::new();
                for c in &checker.created {
                    if !names.contains(&c.name.as_str()) {
                        names.push(&c.name);
                    }
                }
                let others = if names.is_empty() {
                    "the code creates no stream".to_string()
                } else {
                    format!("name a stream the code creates: {}", quoted_list(names))
                };
                format!(
                    "the code never creates the in-application stream {} that output {i} reads: \
                     add `CREATE OR REPLACE STREAM {} (...)` and a pump that inserts into it, \
                     or {others}",
                    quoted(output),
                    quoted(output)
                )
            }
        };
        findings.push(Finding {
            subject: Subject::Output(i),
            message,
        });
    }

    // 2 and 3. The input stream and every reference table are read.
    let words: Vec<&Tk> = toks.iter().filter(|t| t.is_word()).collect();
    let used = |name: &str| words.iter().any(|t| t.norm().as_deref() == Some(name));
    let used_but_case = |name: &str| {
        let lower = name.to_lowercase();
        words
            .iter()
            .find(|t| t.norm().is_some_and(|n| n.to_lowercase() == lower))
            .copied()
    };
    if !used(ctx.input_stream) {
        let message = match used_but_case(ctx.input_stream) {
            Some(t) => format!(
                "the code reads {}, which differs in case from the input stream {} (quoted names \
                 keep their case, unquoted ones are uppercased): write it as {} in the code, or \
                 change the input's name prefix",
                t.how_read(),
                quoted(ctx.input_stream),
                quoted(ctx.input_stream)
            ),
            None => {
                let mut message = format!(
                    "the code never reads the input stream {}: read it, e.g. `SELECT STREAM ... \
                     FROM {}`, or change the input's name prefix to name the stream the code reads",
                    quoted(ctx.input_stream),
                    quoted(ctx.input_stream)
                );
                // A stream read but defined nowhere, named like an input stream.
                let known: HashSet<String> = checker
                    .created
                    .iter()
                    .map(|c| c.name.clone())
                    .chain(ctx.references.iter().map(|(r, _)| r.to_string()))
                    .collect();
                let candidate = toks.windows(2).find_map(|w| {
                    let name = w[1].norm()?;
                    (w[0].is_any_kw(&["FROM", "JOIN"]) && !known.contains(&name))
                        .then_some(name)
                        .filter(|n| n.ends_with("_001") && n.len() > 4)
                });
                if let Some(name) = candidate {
                    message.push_str(&format!(
                        " (the code reads {}, which it does not create: its name prefix would \
                         be {})",
                        quoted(&name),
                        quoted(&name[..name.len() - 4])
                    ));
                }
                message
            }
        };
        findings.push(Finding {
            subject: Subject::InputPrefix,
            message,
        });
    }
    for (i, (name, _)) in ctx.references.iter().enumerate() {
        if used(name) {
            continue;
        }
        let message = match used_but_case(name) {
            Some(t) => format!(
                "the code uses {}, which differs in case from the reference table {} (quoted names \
                 keep their case, unquoted ones are uppercased): write it as {}",
                t.how_read(),
                quoted(name),
                quoted(name)
            ),
            None => format!(
                "the code never uses the reference table {}: join it, e.g. `... JOIN {} AS r ON \
                 ...`, or remove the reference data source",
                quoted(name),
                quoted(name)
            ),
        };
        findings.push(Finding {
            subject: Subject::Reference(i),
            message,
        });
    }

    // 4. Columns, statement by statement.
    for statement in toks.split(|t| t.kind == TkKind::Semi) {
        if statement.is_empty() {
            continue;
        }
        match Stmt::new(statement) {
            Ok(stmt) => checker.check_statement(&stmt),
            Err(t) => checker.findings.push(Finding {
                subject: Subject::Code,
                message: format!(
                    "unbalanced parenthesis at {} in the statement starting on line {}: every `(` \
                     needs its `)`",
                    t.at(),
                    statement[0].line
                ),
            }),
        }
    }
    findings.append(&mut checker.findings);
    findings
}
