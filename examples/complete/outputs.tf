output "replication_task_arn" {
  description = "ARN of the DMS replication task (start it to replicate)."
  value       = unifiedetl_pipeline.orders.source[0].replication_task_arn
}

output "alarm_topic_arn" {
  description = "Subscribe to it to be told when an alarm goes off."
  value       = unifiedetl_pipeline.orders.monitoring[0].alarm_topic_arn
}

output "lake_bucket" {
  description = "Bucket of the S3 data lake."
  value       = unifiedetl_pipeline.orders.data_lake[0].bucket
}

output "delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream that forks the raw changes into the lake."
  value       = unifiedetl_pipeline.orders.data_lake[0].delivery_stream_arn
}

output "sink_table" {
  description = "DynamoDB table holding one row per order item."
  value       = unifiedetl_pipeline.orders.sink.name
}
