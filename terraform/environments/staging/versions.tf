terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "indexer"
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "indexer"
    }
  }
}
