output "application_name" {
  description = "Name of the Kinesis Data Analytics SQL application."
  value       = unifiedetl_pipeline.orders.analytics.application_name
}

output "application_version_id" {
  description = "Version of the SQL application (it goes up with each change)."
  value       = unifiedetl_pipeline.orders.analytics.application_version_id
}

output "input_columns" {
  description = "The SQL application's input columns, derived from the database's DDL."
  value       = unifiedetl_pipeline.orders.analytics.input.columns
}

output "enriched_stream_name" {
  description = "Name of the stream the SQL application writes the enriched items to."
  value       = unifiedetl_pipeline.orders.enriched_stream.name
}

output "sink_table" {
  description = "DynamoDB table holding one row per order item."
  value       = unifiedetl_pipeline.orders.sink.name
}
