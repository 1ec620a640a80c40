# The quickstart: the sample's pipeline shape as one resource, applied on the local emulator by
# `make demo`. Point it at a real AWS account with `-var endpoint_url=null` (and your usual
# AWS credentials and region).

terraform {
  required_version = ">= 1.5"
  required_providers {
    unifiedetl = {
      source  = "unifiedetl/unifiedetl"
      version = "~> 0.1"
    }
  }
}

variable "endpoint_url" {
  description = "AWS endpoint for every service: the local emulator by default; null for real AWS."
  type        = string
  default     = "http://127.0.0.1:4566"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

provider "unifiedetl" {
  region       = var.region
  endpoint_url = var.endpoint_url
  default_tags = { project = "unifiedetl-quickstart" }
}

resource "unifiedetl_pipeline" "orders" {
  name = "unified-orders"

  # The CDC ("unified") stream DMS writes every MySQL change to.
  cdc_stream {
    shard_count = 2
  }

  # The enriched rows the persist function reads.
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

  # The bundled Rust function, with the sample's batch settings.
  persist {
    batch_size             = 500
    parallelization_factor = 5
    maximum_retry_attempts = 10
  }
}

output "cdc_stream_arn" {
  value = unifiedetl_pipeline.orders.cdc_stream.arn
}

output "enriched_stream_arn" {
  value = unifiedetl_pipeline.orders.enriched_stream.arn
}

output "sink_table" {
  value = unifiedetl_pipeline.orders.sink.name
}

output "persist_function_arn" {
  value = unifiedetl_pipeline.orders.persist.function_arn
}

output "event_source_mapping_id" {
  value = unifiedetl_pipeline.orders.persist.event_source_mapping_id
}
