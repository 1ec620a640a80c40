# The AWS sample's pipeline as one resource, enrichment and all: a Kinesis Data Analytics SQL
# application reads the CDC stream, splits orders from items, joins items to the products
# reference table and to their order, and writes the enriched items to the enriched stream,
# which the bundled function persists to DynamoDB. The input schema is derived from the
# database's DDL and the SQL is checked against it at plan time.
#
# AWS no longer runs SQL applications (see README.md): this example applies on the local
# emulator, and shows what importing a sample-built pipeline manages.
#
# Cost where SQL applications still run, at us-east-1 list prices (docs/costs.md): about $1,580
# a month idle — the sink's 3,000 WCU / 300 RCU $1,452, one Kinesis Processing Unit $80 (more
# under load), 2 + 2 shards $44.

provider "unifiedetl" {
  region       = var.region
  endpoint_url = var.endpoint_url
  default_tags {
    tags = { project = "unifiedetl-kinesis-analytics-sql" }
  }
}

resource "unifiedetl_pipeline" "orders" {
  name = "unified-orders-sql"

  # The sample's two streams, two shards each.
  cdc_stream {
    shard_count = 2
  }
  enriched_stream {
    shard_count = 2
  }

  # One row per order item, keyed like the sample's UnifiedOrderEnriched table.
  sink {
    partition_key      = "orderId"
    partition_key_type = "N"
    sort_key           = "itemId"
    sort_key_type      = "N"
    billing_mode       = "PROVISIONED"
    read_capacity      = 300
    write_capacity     = 3000
  }

  # The bundled function reads what the application writes to the enriched stream.
  persist {
    batch_size             = 500
    parallelization_factor = 5
    maximum_retry_attempts = 10
  }

  analytics {
    engine      = "kinesis-analytics-sql"
    description = "Order items joined to their order and to the products reference data"
    code        = file("${path.module}/sql/kda-orders-setup.sql")

    # The input schema (SOURCE_SQL_STREAM_001): recordType and operation from the DMS
    # metadata, then every column of the tables, derived from the DDL and shown in the plan.
    schema_ddl = file("${path.module}/sql/orderdb-setup.sql")

    input {
      starting_position = "TRIM_HORIZON"
    }

    # Uploaded to the reference bucket; its schema is inferred from the records.
    reference {
      table_name = "products"
      file       = "${path.module}/reference/products.json"
    }

    output {
      name = "ORDER_ITEM_ENRICHED_STREAM"
    }
  }
}
