# State for production lives in the production account's state bucket; S3-native locking.
terraform {
  backend "s3" {
    bucket       = "housing-production-terraform-state"
    key          = "indexer/terraform.tfstate"
    region       = "eu-west-2"
    encrypt      = true
    use_lockfile = true
  }
}
