terraform {
  required_version = ">= 1.5"
  required_providers {
    unifiedetl = {
      source  = "unifiedetl/unifiedetl"
      version = "~> 0.1"
    }
  }
}
