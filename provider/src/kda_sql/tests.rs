//! The SQL checks against the project's own files (`sql/`) and the forms the KDA SQL reference
//! documents.

use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::code::{check_code, CodeContext, Finding, Subject};
use super::columns::{columns_from_ddl, columns_from_json, Column};
use super::mapping::{check_mapping, kda_path_to_rfc9535};
use super::types::{check_sql_type, kda_type_of_data_type, KdaType};

const ORDERDB_DDL: &str = include_str!("../../../sql/orderdb-setup.sql");
const KDA_SQL: &str = include_str!("../../../sql/kda-orders-setup.sql");
const PRODUCTS: &str = concat!(
    r#"{"productId":999900001,"productName":"Durable Concrete Chair","productPrice":13.56}"#,
    "\n",
    r#"{"productId":999900002,"productName":"Small Granite Keyboard","productPrice":7}"#,
    "\n",
    r#"{"productId":999900003,"productName":"Incredible Frozen Pizza","productPrice":99.9}"#,
    "\n"
);

fn col(name: &str, sql_type: &str, mapping: &str) -> Column {
    Column {
        name: name.to_string(),
        sql_type: sql_type.to_string(),
        mapping: mapping.to_string(),
    }
}

fn input_columns() -> Vec<Column> {
    columns_from_ddl(ORDERDB_DDL).expect("orderdb-setup.sql")
}

fn product_columns() -> Vec<Column> {
    columns_from_json(PRODUCTS.as_bytes()).expect("products")
}

/// Runs check_code against the project's input and "products" reference table.
fn check(code: &str, outputs: &[&str]) -> Vec<Finding> {
    let input = input_columns();
    let products = product_columns();
    let references = [("products", products.as_slice())];
    check_code(
        code,
        &CodeContext {
            input_stream: "SOURCE_SQL_STREAM_001",
            input_columns: &input,
            references: &references,
            outputs,
        },
    )
}

/// A minimal valid application with `body` added.
fn app(body: &str) -> String {
    format!(
        "CREATE OR REPLACE STREAM \"OUT\" (\"orderId\" INTEGER);\n\
         CREATE OR REPLACE PUMP \"OUT_PUMP\" AS INSERT INTO \"OUT\"\n\
         SELECT STREAM s.\"orderId\" FROM \"SOURCE_SQL_STREAM_001\" AS s\n\
         LEFT JOIN \"products\" AS p ON s.\"itemId\" = p.\"productId\";\n{body}"
    )
}

fn messages(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{:?}: {}", f.subject, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Translates one MySQL column type, as written in DDL (`INT UNSIGNED`, `DECIMAL(6,2)`,
/// `ENUM('a','b')`, ...), to the Kinesis Data Analytics SQL type [`columns_from_ddl`] uses.
fn kda_type_of_mysql(mysql_type: &str) -> Result<String, String> {
    let sql = format!("CREATE TABLE t (c {mysql_type})");
    let statements = Parser::parse_sql(&MySqlDialect {}, &sql)
        .map_err(|e| format!("`{mysql_type}` is not a MySQL column type: {e}"))?;
    match statements.as_slice() {
        [Statement::CreateTable(table)] if table.columns.len() == 1 => {
            Ok(kda_type_of_data_type(&table.columns[0].data_type).to_string())
        }
        _ => Err(format!("`{mysql_type}` is not a MySQL column type")),
    }
}

// ---- columns_from_ddl ------------------------------------------------------------------

#[test]
fn ddl_of_the_orders_database() {
    let d = |c: &str| format!("$.data.{c}");
    let expected = vec![
        col("recordType", "VARCHAR(64)", "$.metadata.table-name"),
        col("operation", "VARCHAR(16)", "$.metadata.operation"),
        col("orderId", "INTEGER", &d("orderId")),
        col("orderAmount", "DECIMAL(6,2)", &d("orderAmount")),
        col("orderStatus", "VARCHAR(30)", &d("orderStatus")),
        col("orderDateTime", "VARCHAR(30)", &d("orderDateTime")),
        col("shipToName", "VARCHAR(30)", &d("shipToName")),
        col("shipToAddress", "VARCHAR(30)", &d("shipToAddress")),
        col("shipToCity", "VARCHAR(30)", &d("shipToCity")),
        col("shipToState", "VARCHAR(30)", &d("shipToState")),
        col("shipToZip", "VARCHAR(10)", &d("shipToZip")),
        col("billToName", "VARCHAR(45)", &d("billToName")),
        col("billToAddress", "VARCHAR(45)", &d("billToAddress")),
        col("billToCity", "VARCHAR(20)", &d("billToCity")),
        col("billToState", "VARCHAR(15)", &d("billToState")),
        col("billToZip", "VARCHAR(10)", &d("billToZip")),
        col("itemId", "INTEGER", &d("itemId")),
        col("itemQuantity", "INTEGER", &d("itemQuantity")),
        col("itemAmount", "DECIMAL(6,2)", &d("itemAmount")),
        col("itemStatus", "VARCHAR(15)", &d("itemStatus")),
    ];
    assert_eq!(input_columns(), expected);
    for c in &expected {
        check_sql_type(&c.sql_type).unwrap();
        check_mapping(&c.mapping).unwrap();
    }
}

#[test]
fn ddl_widens_types_shared_by_tables() {
    let ddl = "CREATE TABLE a (x VARCHAR(30), n INT, d DECIMAL(6,2), m INT, b BOOL, t DATE);\n\
               CREATE TABLE b (x VARCHAR(45), n BIGINT, d DECIMAL(10,4), m VARCHAR(5), b INT, t DATETIME);";
    let cols = columns_from_ddl(ddl).unwrap();
    let types: Vec<(&str, &str)> = cols[2..]
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("x", "VARCHAR(45)"),
            ("n", "BIGINT"),
            ("d", "DECIMAL(10,4)"),
            ("m", "VARCHAR(11)"),
            ("b", "INTEGER"),
            ("t", "TIMESTAMP"),
        ]
    );
}

#[test]
fn ddl_accepts_other_statements_and_odd_names() {
    let ddl = "-- c\nCREATE DATABASE IF NOT EXISTS d; USE d; SET NAMES utf8mb4;\n\
               DROP TABLE IF EXISTS `t`;\n\
               CREATE TABLE `t` (`the-key` INT NOT NULL AUTO_INCREMENT, `a b` TEXT,\n\
               PRIMARY KEY (`the-key`)) ENGINE=InnoDB;\n\
               INSERT INTO t VALUES (1, 'x');";
    let cols = columns_from_ddl(ddl).unwrap();
    assert_eq!(cols.len(), 4);
    assert_eq!(cols[2], col("the_key", "INTEGER", "$.data['the-key']"));
    assert_eq!(cols[3], col("a_b", "VARCHAR(65534)", "$.data['a b']"));
    for c in &cols {
        check_mapping(&c.mapping).unwrap();
    }
}

#[test]
fn ddl_errors() {
    let e = columns_from_ddl("CREATE DATABASE x; USE x;").unwrap_err();
    assert!(e.contains("no CREATE TABLE"), "{e}");
    let e = columns_from_ddl("CREATE TABLE t (a INT,\n b VARCHAR(10) NOT NULL,\n c INT INT);")
        .unwrap_err();
    assert!(e.contains("line 1") && e.contains("Line: 3"), "{e}");
    let e = columns_from_ddl("CREATE TABLE t (recordType VARCHAR(10));").unwrap_err();
    assert!(e.contains("metadata column \"recordType\""), "{e}");
    let e = columns_from_ddl("CREATE TABLE t (Operation INT);").unwrap_err();
    assert!(e.contains("\"operation\""), "{e}");
    let e = columns_from_ddl("CREATE TABLE t (a VARCHAR(10), b 'oops);").unwrap_err();
    assert!(e.contains("line 1, column"), "{e}");
    let e = columns_from_ddl("CREATE TABLE t LIKE u;").unwrap_err();
    assert!(e.contains("defines no columns"), "{e}");
}

// ---- type translation ------------------------------------------------------------------

#[test]
fn mysql_types_translate_to_kda_types() {
    let cases = [
        ("INT", "INTEGER"),
        ("INTEGER", "INTEGER"),
        ("MEDIUMINT", "INTEGER"),
        ("INT(11)", "INTEGER"),
        ("TINYINT(1)", "BOOLEAN"),
        ("BOOL", "BOOLEAN"),
        ("BOOLEAN", "BOOLEAN"),
        ("TINYINT", "TINYINT"),
        ("TINYINT(4)", "TINYINT"),
        ("SMALLINT", "SMALLINT"),
        ("BIGINT", "BIGINT"),
        ("TINYINT UNSIGNED", "SMALLINT"),
        ("SMALLINT UNSIGNED", "INTEGER"),
        ("MEDIUMINT UNSIGNED", "INTEGER"),
        ("INT UNSIGNED", "BIGINT"),
        ("INT(10) UNSIGNED ZEROFILL", "BIGINT"),
        ("BIGINT UNSIGNED", "BIGINT"),
        ("DECIMAL(6,2)", "DECIMAL(6,2)"),
        ("NUMERIC(8,3)", "DECIMAL(8,3)"),
        ("DECIMAL", "DECIMAL(10,0)"),
        ("DECIMAL(12)", "DECIMAL(12,0)"),
        ("DECIMAL(30,2)", "DOUBLE"),
        ("FLOAT", "REAL"),
        ("FLOAT(30)", "DOUBLE"),
        ("DOUBLE", "DOUBLE"),
        ("DOUBLE PRECISION", "DOUBLE"),
        ("REAL", "DOUBLE"),
        ("CHAR(2)", "CHAR(2)"),
        ("CHAR", "CHAR(1)"),
        ("VARCHAR(45)", "VARCHAR(45)"),
        ("VARCHAR(20) CHARACTER SET utf8mb4", "VARCHAR(20)"),
        ("VARCHAR(65535)", "VARCHAR(65534)"),
        ("TINYTEXT", "VARCHAR(255)"),
        ("TEXT", "VARCHAR(65534)"),
        ("LONGTEXT", "VARCHAR(65534)"),
        ("JSON", "VARCHAR(65534)"),
        ("ENUM('new','shipped','delivered')", "VARCHAR(9)"),
        ("SET('a','bc')", "VARCHAR(5)"),
        ("DATE", "DATE"),
        ("TIME", "TIME"),
        ("DATETIME", "TIMESTAMP"),
        ("DATETIME(3)", "TIMESTAMP"),
        ("TIMESTAMP", "TIMESTAMP"),
        ("YEAR", "SMALLINT"),
        ("BINARY(16)", "VARBINARY(16)"),
        ("VARBINARY(200)", "VARBINARY(200)"),
        ("BLOB", "VARBINARY(65534)"),
        ("TINYBLOB", "VARBINARY(255)"),
        ("BIT(1)", "BOOLEAN"),
        ("BIT(12)", "VARBINARY(2)"),
    ];
    for (mysql, kda) in cases {
        let got = kda_type_of_mysql(mysql).unwrap();
        assert_eq!(got, kda, "{mysql}");
        check_sql_type(&got).unwrap_or_else(|e| panic!("{mysql} -> {e}"));
    }
    assert!(kda_type_of_mysql("NOT A TYPE (").is_err());
}

#[test]
fn type_widening() {
    use KdaType::*;
    assert_eq!(Varchar(30).widen(Varchar(45)), Varchar(45));
    assert_eq!(Integer.widen(BigInt), BigInt);
    assert_eq!(TinyInt.widen(SmallInt), SmallInt);
    assert_eq!(Char(3).widen(Char(3)), Char(3));
    assert_eq!(Char(3).widen(Varchar(2)), Varchar(3));
    assert_eq!(Integer.widen(Decimal(6, 2)), Decimal(12, 2));
    assert_eq!(Decimal(6, 2).widen(Decimal(5, 4)), Decimal(8, 4));
    assert_eq!(BigInt.widen(Decimal(6, 2)), Double);
    assert_eq!(Real.widen(Double), Double);
    assert_eq!(Integer.widen(Real), Double);
    assert_eq!(Date.widen(Timestamp), Timestamp);
    assert_eq!(Integer.widen(Date), Varchar(11));
    assert_eq!(Varchar(5).widen(BigInt), Varchar(20));
    assert_eq!(Boolean.widen(Date), Varchar(10));
    assert_eq!(Varbinary(4).widen(Varbinary(8)), Varbinary(8));
}

// ---- check_sql_type --------------------------------------------------------------------

#[test]
fn sql_types_accepted() {
    for t in [
        "INTEGER",
        "int",
        "BIGINT",
        "SmallInt",
        "TINYINT",
        "BOOLEAN",
        "REAL",
        "DOUBLE",
        "double precision",
        "FLOAT",
        "DECIMAL",
        "DECIMAL(6,2)",
        "decimal ( 6 , 2 )",
        "NUMERIC(18)",
        "DEC(18,18)",
        "CHAR",
        "CHAR(1)",
        "CHARACTER(10)",
        "VARCHAR(30)",
        " varchar(65534) ",
        "CHARACTER VARYING(8)",
        "BINARY",
        "BINARY(4)",
        "VARBINARY(16)",
        "DATE",
        "TIME",
        "TIMESTAMP",
    ] {
        check_sql_type(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}

#[test]
fn sql_types_rejected() {
    let e = check_sql_type("VARCHR(30)").unwrap_err();
    assert!(
        e.starts_with("`VARCHR(30)` is not a Kinesis Data Analytics SQL type: use one of")
            && e.contains("VARCHAR(n)"),
        "{e}"
    );
    for (t, needle) in [
        ("VARCHAR(0)", "from 1 to 65534"),
        ("VARCHAR(65535)", "from 1 to 65534"),
        ("VARCHAR", "needs a length"),
        ("VARBINARY", "needs a length"),
        ("CHAR(0)", "from 1 to 65534"),
        ("DECIMAL(19,2)", "from 1 to 18"),
        ("DECIMAL(0)", "from 1 to 18"),
        ("DECIMAL(6,7)", "must not exceed its precision"),
        ("DECIMAL(1,2,3)", "write DECIMAL"),
        ("INTEGER(10)", "takes no length"),
        ("TIMESTAMP(3)", "takes no length"),
        ("VARCHAR(1.5)", "not a whole number"),
        ("VARCHAR(-1)", "not a Kinesis"),
        ("VARCHAR(10", "not a Kinesis"),
        ("VARCHAR(10) NOT NULL", "not a Kinesis"),
        ("\"VARCHAR\"(10)", "not a Kinesis"),
        ("INTERVAL", "not a Kinesis"),
        ("TEXT", "not a Kinesis"),
        ("", "not a Kinesis"),
    ] {
        let e = check_sql_type(t).expect_err(t);
        assert!(e.contains(needle), "{t}: {e}");
    }
}

// ---- check_mapping ---------------------------------------------------------------------

#[test]
fn mappings() {
    for m in [
        "$",
        "$.data.orderId",
        "$.metadata.table-name",
        "$.a[0]",
        "$.a[0:]",
        "$['x y']",
        "$.a-b.c-d[0:].e",
        "$..table-name",
        "$.data['it''s'].x",
        "$.data['a.b-c'].x-y",
    ] {
        let r = check_mapping(m);
        if m == "$.data['it''s'].x" {
            assert!(r.is_err(), "{m}");
        } else {
            r.unwrap_or_else(|e| panic!("{m}: {e}"));
        }
    }
    let e = check_mapping("$.data[").unwrap_err();
    assert!(e.contains("`$.data[` is not a valid JSONPath"), "{e}");
    let e = check_mapping("data.x").unwrap_err();
    assert!(e.contains("starts with `$`"), "{e}");
    let e = check_mapping("").unwrap_err();
    assert!(e.contains("starts with `$`"), "{e}");
    let e = check_mapping("$.a..").unwrap_err();
    assert!(e.contains("not a valid JSONPath"), "{e}");
}

#[test]
fn rfc9535_rewrite() {
    assert_eq!(
        kda_path_to_rfc9535("$.metadata.table-name"),
        "$.metadata['table-name']"
    );
    assert_eq!(kda_path_to_rfc9535("$..a-b[0:]"), "$..['a-b'][0:]");
    assert_eq!(kda_path_to_rfc9535("$['a.b-c'].d"), "$['a.b-c'].d");
    assert_eq!(kda_path_to_rfc9535("$.data.x"), "$.data.x");
}

// ---- columns_from_json -----------------------------------------------------------------

#[test]
fn json_lines_of_products() {
    assert_eq!(
        product_columns(),
        vec![
            col("productId", "INTEGER", "$.productId"),
            col("productName", "VARCHAR(24)", "$.productName"),
            col("productPrice", "DOUBLE", "$.productPrice"),
        ]
    );
}

#[test]
fn json_type_inference() {
    let content = "[{\"a\": 1, \"b\": \"x\", \"c\": true, \"d\": 1},\n\
                    {\"a\": 3000000000, \"b\": \"abcdefghij\", \"c\": false, \"d\": \"one\",\n\
                     \"e-f\": null, \"g\": [1, 2]}]";
    let cols = columns_from_json(content.as_bytes()).unwrap();
    assert_eq!(
        cols,
        vec![
            col("a", "BIGINT", "$.a"),
            col("b", "VARCHAR(16)", "$.b"),
            col("c", "BOOLEAN", "$.c"),
            col("d", "VARCHAR(8)", "$.d"),
            col("e_f", "VARCHAR(8)", "$['e-f']"),
            col("g", "VARCHAR(8)", "$.g"),
        ]
    );
    for c in &cols {
        check_mapping(&c.mapping).unwrap();
        check_sql_type(&c.sql_type).unwrap();
    }
    let cols = columns_from_json(b"{\"n\": 1}\n\n{\"n\": 2.5}\r\n").unwrap();
    assert_eq!(cols, vec![col("n", "DOUBLE", "$.n")]);
}

#[test]
fn json_errors() {
    let e = columns_from_json(b"").unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let e = columns_from_json(b"  \n ").unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let e = columns_from_json(b"{\"a\":1}\n{\"a\":2\n").unwrap_err();
    assert!(e.contains("line 3") || e.contains("line 2"), "{e}");
    let e = columns_from_json(b"{\"a\":1}\n[1,2]\n").unwrap_err();
    assert!(
        e.contains("line 2") && e.contains("not a JSON object"),
        "{e}"
    );
    let e = columns_from_json(b"{\"a\":1}\nnot json\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    let e = columns_from_json(b"{\"a\":\n1}\n\n{\"a\":2}\n{\"a\":3} 4\n").unwrap_err();
    assert!(e.contains("the record on line 5 is a number"), "{e}");
    let e = columns_from_json(b"[{\"a\":1}, 2]").unwrap_err();
    assert!(e.contains("element 1"), "{e}");
    let e = columns_from_json(b"[]").unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let e = columns_from_json(b"{}").unwrap_err();
    assert!(e.contains("no fields"), "{e}");
    let e = columns_from_json(b"\xff\xfe").unwrap_err();
    assert!(e.contains("UTF-8"), "{e}");
}

// ---- check_code ------------------------------------------------------------------------

#[test]
fn project_sql_has_no_findings() {
    let f = check(KDA_SQL, &["ORDER_ITEM_ENRICHED_STREAM"]);
    assert!(f.is_empty(), "{}", messages(&f));
    let f = check(KDA_SQL, &["ORDER_ITEM_ENRICHED_STREAM", "ORDER_STREAM"]);
    assert!(f.is_empty(), "{}", messages(&f));
}

/// The project's pumps fill every column from the source column of the same name (the
/// original sample filled the item quantity from the wrong column): the INSERT column list
/// and the SELECT list are paired by position.
#[test]
fn project_sql_fills_each_column_from_its_namesake() {
    let code: String = KDA_SQL
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let between = |text: &str, from: &str, to: &str| -> String {
        let start = text.find(from).expect(from) + from.len();
        let end = start + text[start..].find(to).expect(to);
        text[start..end].to_string()
    };
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|item| {
                let item = item.trim();
                let column = item.rsplit('.').next().unwrap_or(item);
                column.trim_matches('"').to_string()
            })
            .collect()
    };
    let mut pumps = 0;
    for statement in code.split(';').filter(|s| s.contains("INSERT INTO")) {
        let insert = between(statement, "INSERT INTO", "SELECT STREAM");
        let targets = names(&between(&insert, "(", ")"));
        let sources = names(&between(statement, "SELECT STREAM", "FROM"));
        assert_eq!(targets.len(), sources.len(), "{statement}");
        for (target, source) in targets.iter().zip(&sources) {
            let ok = target == source || (target == "event_ts" && source == "ROWTIME");
            assert!(ok, "{target} is filled from {source} in {statement}");
        }
        pumps += 1;
    }
    assert_eq!(pumps, 3);
    assert!(code.contains("i.\"itemQuantity\""));
    // And the checker catches a quantity taken from a column that does not exist.
    let f = check(
        &KDA_SQL.replace("i.\"itemQuantity\"", "i.\"itemQty\""),
        &["ORDER_ITEM_ENRICHED_STREAM"],
    );
    assert_eq!(f.len(), 2, "{}", messages(&f));
}

#[test]
fn output_stream_not_created() {
    let f = check(&app(""), &["ORDER_ITEM_ENRICHED_STREAM"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Output(0));
    assert!(
        f[0].message.contains(
            "the code never creates the in-application stream \"ORDER_ITEM_ENRICHED_STREAM\" that output 0 reads"
        ) && f[0].message.contains("CREATE OR REPLACE STREAM \"ORDER_ITEM_ENRICHED_STREAM\"")
            && f[0].message.contains("\"OUT\""),
        "{}",
        f[0].message
    );
}

#[test]
fn outputs_of_streams_the_application_has_anyway() {
    let f = check(&app(""), &["OUT", "error_stream", "SOURCE_SQL_STREAM_001"]);
    assert!(f.is_empty(), "{}", messages(&f));
}

#[test]
fn output_stream_created_in_other_case() {
    let f = check(
        &app("CREATE OR REPLACE STREAM order_item_enriched_stream (x INTEGER);"),
        &["OUT", "order_item_enriched_stream"],
    );
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Output(1));
    assert!(
        f[0].message.contains("differs in case")
            && f[0].message.contains("ORDER_ITEM_ENRICHED_STREAM"),
        "{}",
        f[0].message
    );
    let f = check(
        &app("CREATE OR REPLACE STREAM \"Enriched\" (x INTEGER);"),
        &["ENRICHED"],
    );
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(f[0].message.contains("differs in case"), "{}", f[0].message);
    // Unquoted in the code and uppercase in the configuration: the same stream.
    let f = check(
        &app("CREATE OR REPLACE STREAM enriched (x INTEGER);"),
        &["ENRICHED"],
    );
    assert!(f.is_empty(), "{}", messages(&f));
}

#[test]
fn input_stream_not_read() {
    let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                SELECT STREAM s.\"x\" FROM \"MY_INPUT_001\" AS s JOIN \"products\" AS p ON s.\"x\" = p.\"productId\";";
    let f = check(code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::InputPrefix);
    assert!(
        f[0].message
            .contains("never reads the input stream \"SOURCE_SQL_STREAM_001\"")
            && f[0].message.contains("\"MY_INPUT\""),
        "{}",
        f[0].message
    );
    let f = check(
        &app("").replace("\"SOURCE_SQL_STREAM_001\"", "\"source_sql_stream_001\""),
        &["OUT"],
    );
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::InputPrefix);
    assert!(f[0].message.contains("differs in case"), "{}", f[0].message);
    // Unquoted, it is uppercased: found.
    let f = check(
        &app("").replace("\"SOURCE_SQL_STREAM_001\"", "source_sql_stream_001"),
        &["OUT"],
    );
    assert!(f.is_empty(), "{}", messages(&f));
}

#[test]
fn reference_never_used() {
    let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                SELECT STREAM \"orderId\" FROM \"SOURCE_SQL_STREAM_001\";";
    let f = check(code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Reference(0));
    assert!(
        f[0].message
            .contains("never uses the reference table \"products\""),
        "{}",
        f[0].message
    );
}

#[test]
fn reference_unquoted_is_uppercased() {
    let f = check(&app("").replace("\"products\"", "products"), &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Reference(0));
    assert!(
        f[0].message.contains("`products`")
            && f[0].message.contains("PRODUCTS")
            && f[0].message.contains("write it as \"products\""),
        "{}",
        f[0].message
    );
}

#[test]
fn misspelt_quoted_column() {
    let code = app("CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
         CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
         SELECT STREAM \"orderid\" FROM \"SOURCE_SQL_STREAM_001\" WHERE \"recordType\" = 'order';");
    let f = check(&code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Code);
    assert!(
        f[0].message.contains("did you mean \"orderId\"")
            && f[0].message.contains("line 7")
            && f[0]
                .message
                .contains("input stream \"SOURCE_SQL_STREAM_001\""),
        "{}",
        f[0].message
    );
    // A misspelling, not only a case difference.
    let f = check(&code.replace("\"orderid\"", "\"ordrId\""), &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message.contains("did you mean \"orderId\"?"),
        "{}",
        f[0].message
    );
    // Nothing close: the columns are listed.
    let f = check(&code.replace("\"orderid\"", "\"zzzzzzzzzz\""), &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message.contains("its columns are \"recordType\""),
        "{}",
        f[0].message
    );
    // In WHERE and GROUP BY too.
    let f = check(
        &code.replace("\"recordType\" =", "\"recordtype\" ="),
        &["OUT"],
    );
    assert_eq!(f.len(), 2, "{}", messages(&f));
}

#[test]
fn unquoted_column_in_other_case() {
    let code = app(
        "CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
         CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
         SELECT STREAM orderId, unknownThing, CURRENT_ROW_TIMESTAMP FROM \"SOURCE_SQL_STREAM_001\";",
    );
    let f = check(&code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message.contains("`orderId` is not quoted")
            && f[0].message.contains("ORDERID")
            && f[0].message.contains("quote it, \"orderId\""),
        "{}",
        f[0].message
    );
}

#[test]
fn qualified_column_of_an_input_alias() {
    let f = check(&app("").replace("s.\"itemId\"", "s.\"itemQty\""), &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Code);
    assert!(
        f[0].message.contains("`s.\"itemQty\"`")
            && f[0].message.contains("not a column of the input stream")
            && f[0].message.contains("did you mean \"itemQuantity\"?"),
        "{}",
        f[0].message
    );
    // Without AS, and qualified by the stream's own name.
    let code = "CREATE OR REPLACE STREAM \"OUT\" (\"x\" INTEGER);\n\
                CREATE OR REPLACE PUMP \"P\" AS INSERT INTO \"OUT\"\n\
                SELECT STREAM s.\"itemQty\", \"SOURCE_SQL_STREAM_001\".\"itemQt\", p.\"productNam\"\n\
                FROM \"SOURCE_SQL_STREAM_001\" s, \"products\" p;";
    let f = check(code, &["OUT"]);
    assert_eq!(f.len(), 3, "{}", messages(&f));
    assert!(
        f[2].message.contains("reference table \"products\"")
            && f[2].message.contains("did you mean \"productName\"?"),
        "{}",
        f[2].message
    );
}

#[test]
fn columns_of_created_streams() {
    let code = app("CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
         CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
         SELECT STREAM o.\"orderID\" FROM \"OUT\" AS o;");
    let f = check(&code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message
            .contains("the stream \"OUT\" (created on line 1)"),
        "{}",
        f[0].message
    );
}

#[test]
fn tokenizer_error() {
    let f = check(
        "CREATE OR REPLACE STREAM \"OUT\" (x INTEGER);\nSELECT 'oops FROM x;",
        &["OUT"],
    );
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert_eq!(f[0].subject, Subject::Code);
    assert!(
        f[0].message.contains("Unterminated string literal")
            && f[0].message.contains("line 2, column 8"),
        "{}",
        f[0].message
    );
}

#[test]
fn unbalanced_parenthesis() {
    let f = check(
        &app("SELECT STREAM (\"orderId\" FROM \"SOURCE_SQL_STREAM_001\";"),
        &["OUT"],
    );
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message
            .contains("unbalanced parenthesis at line 5, column 15"),
        "{}",
        f[0].message
    );
}

#[test]
fn typical_kda_sql_has_no_findings() {
    let code = r#"
        -- Aggregates, windows, casts: nothing here is a problem.
        CREATE OR REPLACE STREAM "OUT" ("orderId" INTEGER, "total" DOUBLE, "minute_ts" TIMESTAMP);
        CREATE OR REPLACE STREAM "COUNTS" (n BIGINT, "status" VARCHAR(30), ts TIMESTAMP);
        /* a pump
           over two lines */
        CREATE OR REPLACE PUMP "OUT_PUMP" AS INSERT INTO "OUT"
            SELECT STREAM "orderId",
                   SUM(CAST("orderAmount" AS DOUBLE)) OVER W1 AS "total",
                   FLOOR("SOURCE_SQL_STREAM_001".ROWTIME TO MINUTE) "minute_ts"
            FROM "SOURCE_SQL_STREAM_001"
            WHERE "recordType" = 'order' AND "operation" IN ('insert', 'update')
            WINDOW W1 AS (PARTITION BY "orderId" RANGE INTERVAL '30' MINUTE PRECEDING);
        CREATE OR REPLACE PUMP "COUNT_PUMP" AS INSERT INTO "COUNTS"
            SELECT STREAM COUNT(*) AS n, "orderStatus" AS "status",
                   STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND) AS ts
            FROM "SOURCE_SQL_STREAM_001"
            GROUP BY "orderStatus", STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
        CREATE OR REPLACE PUMP "NESTED_PUMP" AS INSERT INTO "COUNTS"
            SELECT STREAM t.n, t."s", CURRENT_ROW_TIMESTAMP
            FROM (SELECT STREAM 1 AS n, CAST("orderStatus" AS VARCHAR(10)) AS "s"
                  FROM "SOURCE_SQL_STREAM_001") AS t;
        CREATE OR REPLACE PUMP "JOIN_PUMP" AS INSERT INTO "OUT"
            SELECT STREAM i."orderId", p."productPrice" * i."itemQuantity", i.ROWTIME
            FROM "SOURCE_SQL_STREAM_001" OVER (RANGE INTERVAL '1' MINUTE PRECEDING) AS i
            LEFT OUTER JOIN "products" AS p ON i."itemId" = p."productId"
            WHERE TRIM(BOTH ' ' FROM i."itemStatus") <> '' AND i.ROWTIME IS NOT NULL;
    "#;
    let f = check(code, &["OUT", "COUNTS"]);
    assert!(f.is_empty(), "{}", messages(&f));
}

#[test]
fn double_quoted_text_gets_a_single_quote_hint() {
    let code = app(
        "CREATE OR REPLACE STREAM \"O\" (\"id\" INTEGER);\n\
         CREATE OR REPLACE PUMP \"P2\" AS INSERT INTO \"O\"\n\
         SELECT STREAM \"orderId\" FROM \"SOURCE_SQL_STREAM_001\" WHERE \"recordType\" = \"order\";",
    );
    let f = check(&code, &["OUT"]);
    assert_eq!(f.len(), 1, "{}", messages(&f));
    assert!(
        f[0].message.contains("use single quotes: 'order'"),
        "{}",
        f[0].message
    );
}

#[test]
fn documented_forms_have_no_findings() {
    // Window named in a WINDOW clause, used with OVER as the join side's name; `//`
    // comments and DESCRIPTION as in the SQL reference's examples.
    let code = r#"
        CREATE OR REPLACE STREAM "OUT" ("orderId" INTEGER, "n" INTEGER)
            DESCRIPTION 'the output';
        CREATE OR REPLACE PUMP "200-OutPump" AS INSERT INTO "OUT" ("orderId", "n")
            // note that this list matches that of the query: orderId, itemId
            SELECT STREAM o."orderId", t."itemQuantity"
            // note: itemQuantity
            FROM "SOURCE_SQL_STREAM_001" AS o
            JOIN "SOURCE_SQL_STREAM_001" OVER t ON o."orderId" = t."orderId"
            JOIN "products" ON "products"."productId" = o."itemId"
            WINDOW t AS (RANGE INTERVAL '1' MINUTE PRECEDING);
        CREATE OR REPLACE PUMP "P2" AS INSERT INTO "OUT"
            SELECT STREAM "orderId", 1 // itemId
            FROM "SOURCE_SQL_STREAM_001";
    "#;
    let f = check(code, &["OUT"]);
    assert!(f.is_empty(), "{}", messages(&f));
}

#[test]
fn check_code_never_panics_on_odd_input() {
    for code in [
        "",
        ";;;",
        "SELECT",
        "SELECT STREAM FROM",
        "SELECT STREAM a. FROM \"SOURCE_SQL_STREAM_001\" AS",
        "SELECT STREAM x FROM \"SOURCE_SQL_STREAM_001\" AS s JOIN",
        ")(",
        "CREATE OR REPLACE STREAM",
        "CREATE OR REPLACE STREAM \"X\" (",
        "SELECT STREAM s. \"a\" . FROM (SELECT) AS , ON",
        "FROM FROM FROM \"SOURCE_SQL_STREAM_001\" . . .",
        "\"unterminated",
        "SELECT STREAM \"x\" FROM \"SOURCE_SQL_STREAM_001\" UNION ALL SELECT STREAM \"y\" FROM \"products\"",
    ] {
        let _ = check(code, &["OUT"]);
    }
}
