output "cdc_stream_arn" {
  description = "ARN of the CDC stream DMS writes every MySQL change to."
  value       = unifiedetl_pipeline.orders.cdc_stream.arn
}

output "enriched_stream_arn" {
  description = "ARN of the stream the enriched rows are published to."
  value       = unifiedetl_pipeline.orders.enriched_stream.arn
}

output "cdc_stream_name" {
  description = "Name of the CDC stream (`make demo` writes the sample's records to it)."
  value       = unifiedetl_pipeline.orders.cdc_stream.name
}

output "persist_function_name" {
  description = "Name of the function that enriches and persists the records."
  value       = unifiedetl_pipeline.orders.persist.function_name
}

output "lake_delivery_stream" {
  description = "Name of the Firehose delivery stream that forks the raw changes into the lake."
  value       = unifiedetl_pipeline.orders.data_lake[0].delivery_stream_name
}

output "lake_bucket" {
  description = "Bucket of the S3 data lake."
  value       = unifiedetl_pipeline.orders.data_lake[0].bucket
}

output "sink_table" {
  description = "DynamoDB table holding one row per order item."
  value       = unifiedetl_pipeline.orders.sink.name
}

output "persist_function_arn" {
  description = "ARN of the function that enriches and persists the records."
  value       = unifiedetl_pipeline.orders.persist.function_arn
}

output "state_table" {
  description = "DynamoDB table holding the engine's join state."
  value       = unifiedetl_pipeline.orders.analytics.state_table
}

output "reference_objects" {
  description = "S3 objects of the reference data (the products), by lookup name."
  value       = unifiedetl_pipeline.orders.analytics.reference_objects
}

output "event_source_mapping_id" {
  description = "ID of the mapping that feeds the CDC stream to the function."
  value       = unifiedetl_pipeline.orders.persist.event_source_mapping_id
}
