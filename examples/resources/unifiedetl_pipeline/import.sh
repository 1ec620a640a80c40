# A pipeline the provider created (or one built with its naming): import by the pipeline's name.
# Each component is found under its deterministic name (orders-cdc, orders-enriched,
# orders-sink, orders-persist, …) and must carry the tag `unifiedetl:pipeline = orders`.
terraform import unifiedetl_pipeline.orders orders

# A pipeline built elsewhere under other names (here the AWS sample's): name its components,
# as comma-separated key=value pairs starting with name=. Keys: name, cdc_stream,
# enriched_stream, sink, function, role, dead_letter_bucket, replication_subnet_group,
# replication_instance, source_endpoint, target_endpoint, replication_task, dms_role,
# application, analytics_role, reference_bucket, state_table, delivery_stream, lake_bucket,
# firehose_role.
terraform import unifiedetl_pipeline.orders 'name=orders,cdc_stream=unifiedOrderStream,enriched_stream=unifiedOrderEnrichedStream,sink=UnifiedOrderEnriched,replication_instance=MySQL-rpl-Id,source_endpoint=MySQLEndPointId,target_endpoint=KinesisEndPointId,replication_task=DMS-Repl-Task-Orders,application=UnifiedKDA-OrderETL'

# With Terraform 1.5 or later, an import block does the same at plan time instead:
#
#   import {
#     to = unifiedetl_pipeline.orders
#     id = "orders"
#   }
#
# The component map reads best as a list (an expression in `id` needs Terraform 1.6; on 1.5
# write the joined string as a literal):
#
#   import {
#     to = unifiedetl_pipeline.orders
#     id = join(",", [
#       "name=orders",
#       "cdc_stream=unifiedOrderStream",
#       "enriched_stream=unifiedOrderEnrichedStream",
#       "sink=UnifiedOrderEnriched",
#       "replication_instance=MySQL-rpl-Id",
#       "source_endpoint=MySQLEndPointId",
#       "target_endpoint=KinesisEndPointId",
#       "replication_task=DMS-Repl-Task-Orders",
#       "application=UnifiedKDA-OrderETL",
#     ])
#   }
#
# Without a resource block yet, let Terraform write one from what it imports:
terraform plan -generate-config-out=generated.tf
