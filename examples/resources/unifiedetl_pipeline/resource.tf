# A pipeline with every component at its defaults but the sink's key: two provisioned
# one-shard streams with KMS encryption, an on-demand table, and the bundled persist function.
resource "unifiedetl_pipeline" "minimal" {
  name = "orders"

  sink {
    partition_key = "orderId"
  }
}

# Every component tuned.
resource "unifiedetl_pipeline" "orders" {
  name = "orders-prod"
  tags = { cost-center = "analytics" }

  cdc_stream {
    shard_count     = 4
    retention_hours = 72
  }

  enriched_stream {
    stream_mode = "ON_DEMAND"
    kms_key_id  = "alias/orders-streams"
  }

  sink {
    name               = "UnifiedOrderEnriched"
    partition_key      = "orderId"
    partition_key_type = "N"
    sort_key           = "itemId"
    sort_key_type      = "N"
    billing_mode       = "PAY_PER_REQUEST"
  }

  persist {
    architecture                    = "arm64"
    memory_size                     = 512
    timeout                         = 120
    batch_size                      = 500
    maximum_batching_window_seconds = 1
    parallelization_factor          = 5
    starting_position               = "TRIM_HORIZON"
    bisect_batch_on_function_error  = true
    maximum_retry_attempts          = 10
    maximum_record_age_seconds      = 86400
  }
}
