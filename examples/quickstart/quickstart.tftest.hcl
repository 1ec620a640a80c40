# `terraform test` for the quickstart: applies it (on the local emulator by default: start it
# with `make emulator`, or pass `-var endpoint_url=...`), checks what it made through its
# outputs, plans it again and checks the plan proposes the same pipeline, then destroys it.
#
#   terraform init && terraform test

run "apply" {
  command = apply

  assert {
    condition     = output.cdc_stream_name == "unified-orders-cdc"
    error_message = "The CDC stream is named after the pipeline: unified-orders-cdc."
  }

  assert {
    condition     = can(regex("^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/unified-orders-cdc$", output.cdc_stream_arn))
    error_message = "The CDC stream's ARN is a Kinesis stream ARN in the provider's region and account."
  }

  assert {
    condition     = can(regex(":function:", output.persist_function_arn)) && output.event_source_mapping_id != ""
    error_message = "The function exists and a mapping feeds it the CDC stream."
  }

  assert {
    condition     = output.state_table != "" && output.sink_table != "" && output.state_table != output.sink_table
    error_message = "The engine's state table and the sink are two tables."
  }

  assert {
    condition     = length(output.reference_objects) == 1 && alltrue([for key in keys(output.reference_objects) : strcontains(key, "products")])
    error_message = "The products reference data is uploaded: one object, for the one lookup."
  }

  assert {
    condition     = output.lake_bucket != "" && output.lake_delivery_stream != ""
    error_message = "The data lake's bucket and delivery stream exist."
  }
}

# A second plan of the applied pipeline: it proposes the same pipeline, every identifier known
# and unchanged (a change to any component would leave some of them to be known after apply).
run "plan_again" {
  command = plan

  assert {
    condition = (
      unifiedetl_pipeline.orders.cdc_stream.arn == run.apply.cdc_stream_arn &&
      unifiedetl_pipeline.orders.enriched_stream.arn == run.apply.enriched_stream_arn &&
      unifiedetl_pipeline.orders.persist.function_arn == run.apply.persist_function_arn &&
      unifiedetl_pipeline.orders.persist.event_source_mapping_id == run.apply.event_source_mapping_id &&
      unifiedetl_pipeline.orders.analytics.state_table == run.apply.state_table &&
      unifiedetl_pipeline.orders.sink.name == run.apply.sink_table
    )
    error_message = "A second plan proposes the pipeline the apply made."
  }

  assert {
    condition     = jsonencode(unifiedetl_pipeline.orders.analytics.reference_objects) == jsonencode(run.apply.reference_objects)
    error_message = "A second plan uploads no reference data again."
  }
}
