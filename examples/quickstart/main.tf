# The quickstart: the sample's pipeline shape as one resource, applied on the local emulator by
# `make demo`. Point it at a real AWS account with `endpoint_url = null` in a .tfvars file (on
# the command line, `-var endpoint_url=null` would pass the text "null"), and your usual AWS
# credentials and region.
#
# Cost on a real account, at us-east-1 list prices (docs/costs.md): about $1,500 a month idle,
# $1,452 of it the sink's provisioned 3,000 WCU / 300 RCU (the sample's), used or not; about $2
# per million CDC records on top. For a trial, remove `billing_mode`, `read_capacity` and
# `write_capacity` below (on demand: the idle cost drops to about $50 a month).

provider "unifiedetl" {
  region       = var.region
  endpoint_url = var.endpoint_url
  default_tags {
    tags = { project = "unifiedetl-quickstart" }
  }
}

resource "unifiedetl_pipeline" "orders" {
  name = "unified-orders"

  # The CDC ("unified") stream DMS writes every MySQL change to.
  cdc_stream {
    shard_count = 2
  }

  # The enriched rows, published by the engine for other consumers (publish_enriched below).
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
    # The quickstart's sink holds only demo rows: `make demo-down` may delete them with it.
    # Remove this line before the table holds rows you want to keep.
    force_destroy = true
  }

  # The bundled Rust function, with the sample's batch settings. With the `lambda` engine
  # below it reads the CDC stream and does the enrichment itself.
  persist {
    batch_size             = 500
    parallelization_factor = 5
    maximum_retry_attempts = 10
  }

  # The sample's enrichment — items joined to their order and to the products reference data —
  # run by the function: no time window, any delivery order, state in a DynamoDB table.
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
      orderId       = "order.orderId"
      orderAmount   = "order.orderAmount"
      orderStatus   = "order.orderStatus"
      orderDateTime = "order.orderDateTime"
      shipToName    = "order.shipToName"
      shipToAddress = "order.shipToAddress"
      shipToCity    = "order.shipToCity"
      shipToState   = "order.shipToState"
      shipToZip     = "order.shipToZip"
      itemId        = "order_item.itemId"
      itemAmount    = "order_item.itemAmount"
      itemQuantity  = "order_item.itemQuantity"
      itemStatus    = "order_item.itemStatus"
      productName   = "products.productName"
    }
    publish_enriched = true
  }

  # CloudWatch alarms on every component's health metrics (function errors, iterator ages,
  # throttles, capacity, lake freshness, ...), notifying the SNS topic `unified-orders-alarms`
  # (subscribe to it to be told); a dashboard `unified-orders`; the function's logs kept 30 days.
  monitoring {}

  # The raw CDC records forked into an S3 data lake, gzipped, under date partitions. (On the
  # emulator `make demo` does the fork itself: the emulator's Firehose does not read Kinesis.)
  data_lake {
    buffering_interval_seconds = 60
    # The quickstart's lake holds only demo records: `make demo-down` may delete them with it.
    force_destroy = true
  }
}
