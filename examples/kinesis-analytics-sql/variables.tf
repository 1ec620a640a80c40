variable "endpoint_url" {
  description = "AWS endpoint for every service: the local emulator by default."
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
