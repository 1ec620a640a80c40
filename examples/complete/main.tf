# The complete pipeline: every block the provider manages, applied on the local emulator by
# the tests (`make test`). MySQL changes come in through DMS, the function joins them into the
# sink table, and Firehose forks the raw changes into an S3 data lake.
#
# On a real AWS account: `endpoint_url = null` in a .tfvars file (`-var endpoint_url=null` would
# pass the text "null"), your subnets and database host, and the
# password from the environment (`TF_VAR_db_password`). A real account also needs the
# account-level `dms-vpc-role` (see docs/index.md).
#
# Cost on a real account, at us-east-1 list prices (docs/costs.md): about $105 a month idle
# (the DMS dms.t3.medium $53, 2 + 2 shards $44, monitoring $7; the tables are on demand), plus
# about $3 per million CDC records.

provider "unifiedetl" {
  region       = var.region
  endpoint_url = var.endpoint_url
  default_tags {
    tags = { project = "unifiedetl-complete" }
  }
}

resource "unifiedetl_pipeline" "orders" {
  name = "complete-orders"

  # DMS: MySQL's binary log into the CDC stream, existing rows first.
  source {
    server_name    = var.db_host
    username       = "dms"
    password       = var.db_password
    subnet_ids     = var.subnet_ids
    tables         = var.tables
    migration_type = "full-load-and-cdc"
  }

  cdc_stream {
    shard_count = 2
  }

  enriched_stream {
    shard_count = 2
  }

  sink {
    partition_key      = "orderId"
    partition_key_type = "N"
    sort_key           = "itemId"
    sort_key_type      = "N"
  }

  persist {
    batch_size             = 500
    parallelization_factor = 5
    maximum_retry_attempts = 10
  }

  # The enrichment in the function: items joined to their order and the products reference
  # data (uploaded to S3 from reference/products.json).
  analytics {
    engine       = "lambda"
    schema       = "orders"
    parent_table = "order"
    parent_key   = "orderId"
    children = [
      { table = "order_item", parent_key = "orderId", key = "itemId" },
    ]
    lookups = [
      {
        name  = "products"
        file  = "${path.module}/reference/products.json"
        from  = "order_item.itemId"
        match = "productId"
      },
    ]
    columns = {
      orderId      = "order.orderId"
      orderStatus  = "order.orderStatus"
      itemId       = "order_item.itemId"
      itemQuantity = "order_item.itemQuantity"
      productName  = "products.productName"
    }
    publish_enriched = true
  }

  # The raw CDC records, gzipped, under date partitions.
  data_lake {
    buffering_interval_seconds = 60
  }

  # Alarms on every component (DMS CDC latency and lake freshness included), notifying the
  # pipeline's SNS topic; a dashboard; the function's logs kept 90 days. Thresholds default to
  # what the AWS sample's "Operational aspects" suggests; override any of them here.
  monitoring {
    log_retention_days = 90
    iterator_age_ms    = 120000
  }

  timeouts {
    create = "60m"
    delete = "40m"
  }
}
