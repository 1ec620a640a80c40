variable "endpoint_url" {
  description = "AWS endpoint for every service: the local emulator by default; null for real AWS."
  type        = string
  default     = "http://127.0.0.1:4566"
  validation {
    condition     = var.endpoint_url == null || can(regex("^https?://", var.endpoint_url))
    error_message = "endpoint_url must start with http:// or https:// (or be null for AWS's own endpoints)."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name, e.g. \"us-east-1\"."
  }
}

variable "subnet_ids" {
  description = "Subnets for the replication instance, in two Availability Zones or more."
  type        = list(string)
  default     = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : startswith(s, "subnet-")])
    error_message = "subnet_ids must name two subnets or more (\"subnet-...\"), in different Availability Zones."
  }
}

variable "db_host" {
  description = "The MySQL server DMS reads the binary log of."
  type        = string
  default     = "orders-db.internal.example"
}

variable "db_password" {
  description = "Password of the replication user (`dms`: its grants are in sql/orderdb-setup.sql)."
  type        = string
  sensitive   = true
  default     = "emulator-only-password"
}

variable "tables" {
  description = "The tables DMS replicates, per schema."
  type        = map(list(string))
  default     = { orders = ["order", "order_item"] }
  validation {
    condition     = length(var.tables) > 0 && alltrue([for t in values(var.tables) : length(t) > 0])
    error_message = "tables must name at least one schema, each with at least one table."
  }
}
