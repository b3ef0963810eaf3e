# State for staging lives in the staging account's state bucket; S3-native locking.
terraform {
  backend "s3" {
    bucket       = "housing-staging-terraform-state"
    key          = "indexer/terraform.tfstate"
    region       = "eu-west-2"
    encrypt      = true
    use_lockfile = true
  }
}
