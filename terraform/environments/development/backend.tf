# State for development lives in the development account's state bucket; S3-native locking.
terraform {
  backend "s3" {
    bucket       = "housing-development-terraform-state"
    key          = "indexer/terraform.tfstate"
    region       = "eu-west-2"
    encrypt      = true
    use_lockfile = true
  }
}
