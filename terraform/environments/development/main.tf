# The indexer in this environment. The VPC, subnets, tables and search domain already exist;
# they are looked up by name, so terraform.tfvars holds names, not IDs.

data "aws_vpc" "this" {
  tags = { Name = var.vpc_name }
}

data "aws_subnets" "private" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.this.id]
  }
  filter {
    name   = "tag:Name"
    values = [var.private_subnet_name_pattern]
  }
}

data "aws_dynamodb_table" "source" {
  for_each = toset(var.table_names)
  name     = each.value
}

data "aws_opensearch_domain" "search" {
  domain_name = var.search_domain_name
}

locals {
  index_node_host = "https://${data.aws_opensearch_domain.search.endpoint}"
  # The hosts events may name: the environment's domain unless allowed_hosts says otherwise.
  allowed_hosts = coalesce(var.allowed_hosts, [data.aws_opensearch_domain.search.endpoint])
  # A VPC domain's security groups, which the worker's and the launcher's egress name.
  search_domain_security_group_ids = flatten([for vpc in data.aws_opensearch_domain.search.vpc_options : vpc.security_group_ids])
}

module "indexer" {
  source = "../../modules/indexer"

  environment              = var.environment
  vpc_id                   = data.aws_vpc.this.id
  subnet_ids               = data.aws_subnets.private.ids
  extra_security_group_ids = var.extra_security_group_ids
  table_arns               = [for table in data.aws_dynamodb_table.source : table.arn]
  search_domain_arn        = data.aws_opensearch_domain.search.arn
  image_tag                = var.image_tag
  launcher_zip             = var.launcher_zip
  task_cpu                 = var.task_cpu
  task_memory              = var.task_memory
  log_retention_days       = var.log_retention_days
  alarm_actions            = var.alarm_actions
  alert_email_addresses    = var.alert_email_addresses
  notify_success           = var.notify_success
  allowed_hosts            = local.allowed_hosts
  fargate_spot             = var.fargate_spot
  tuning_defaults          = var.tuning_defaults
  followers = {
    for alias, follower in var.followers : alias => merge(follower, { host = data.aws_opensearch_domain.search.endpoint })
  }

  search_domain_security_group_ids = local.search_domain_security_group_ids
  gateway_endpoint_prefix_list_ids = var.gateway_endpoint_prefix_list_ids

  schedules = {
    for name, run in var.schedules : name => {
      schedule_expression = run.schedule_expression
      event = jsonencode({
        dynamoTable   = run.table
        indexNodeHost = local.index_node_host
        indexName     = run.index
        mode          = run.mode
      })
    }
  }
}
