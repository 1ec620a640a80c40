terraform {
  required_providers {
    unifiedetl = {
      source  = "unifiedetl/unifiedetl"
      version = "~> 0.1"
    }
  }
}

# Credentials come from the standard AWS chain (environment, profile, SSO, instance role).
provider "unifiedetl" {
  region = "eu-west-1"

  # For the local emulator: endpoint_url = "http://127.0.0.1:4566" (or AWS_ENDPOINT_URL).

  default_tags {
    tags = { team = "data-platform" }
  }
  max_retries = 10
}
