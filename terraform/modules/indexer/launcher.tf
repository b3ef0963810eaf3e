# The launcher Lambda. It runs one invocation at a time, so two launches never race past the
# "job already running" check; the worker's own lock on the alias backs that check up. Its
# timeout allows for a rebuild split over many workers: one RunTask call per worker (up to 64,
# about a second each), and the Lambda must outlive them to report every task it started.
#
# It runs in the worker's subnets because it answers `status` and `jobs` itself, from the
# search domain (a VPC domain is reachable only from inside the VPC); it reaches the ECS API
# through the same route the workers reach AWS APIs by.

resource "aws_security_group" "launcher" {
  name_prefix = "${local.name}-launcher-"
  description = "${local.name} launcher: HTTPS out to the ECS API and the search domain, nothing in"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "launcher_https_search_domain" {
  for_each = toset(var.search_domain_security_group_ids)

  security_group_id            = aws_security_group.launcher.id
  description                  = "HTTPS to the search domain (status, jobs)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "launcher_https_vpc" {
  security_group_id = aws_security_group.launcher.id
  description       = "HTTPS inside the VPC: a VPC search domain and an ECS interface endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

# The ECS API has no gateway endpoint: without an interface endpoint it is reached through the
# NAT at public addresses, like the workers' AWS APIs (see ecs.tf).
resource "aws_vpc_security_group_egress_rule" "launcher_https" {
  for_each = toset(var.public_https_egress_cidrs)

  security_group_id = aws_security_group.launcher.id
  description       = "HTTPS to the ECS API through the NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

locals {
  # The launcher's environment: where and how to run the worker, which search hosts events may
  # name, and the environment's defaults for a rebuild's tuning.
  tuning_defaults = {
    DEFAULT_MAX_READ_UNITS = var.tuning_defaults.max_read_units
    DEFAULT_MAX_ERRORS     = var.tuning_defaults.max_errors
    DEFAULT_MIN_RATIO      = var.tuning_defaults.min_ratio
    DEFAULT_KEEP           = var.tuning_defaults.keep
    DEFAULT_CONCURRENCY    = var.tuning_defaults.concurrency
  }
  launcher_environment = merge(
    {
      CLUSTER               = aws_ecs_cluster.this.name
      TASK_DEFINITION       = aws_ecs_task_definition.worker.family
      CONTAINER_NAME        = local.container_name
      SUBNETS               = join(",", var.subnet_ids)
      SECURITY_GROUPS       = join(",", concat([aws_security_group.worker.id], var.extra_security_group_ids))
      ASSIGN_PUBLIC_IP      = var.assign_public_ip ? "ENABLED" : "DISABLED"
      LOG_GROUP             = aws_cloudwatch_log_group.worker.name
      LOG_STREAM_PREFIX     = local.log_stream_prefix
      ALLOWED_HOSTS         = join(",", var.allowed_hosts)
      MAX_STOP_TIMEOUT_SECS = tostring(local.worker_stop_timeout)
      FARGATE_SPOT          = var.fargate_spot ? "true" : "false"
    },
    { for name, value in local.tuning_defaults : name => tostring(value) if value != null },
  )
}

resource "aws_cloudwatch_log_group" "launcher" {
  name              = "/aws/lambda/${local.name}-launcher"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# Scheduled (asynchronous) launches that fail land here, with the event that failed.
resource "aws_sqs_queue" "launcher_dead_letters" {
  name                      = "${local.name}-launcher-dead-letters"
  kms_master_key_id         = aws_kms_key.this.arn
  message_retention_seconds = 1209600
  tags                      = local.tags
}

resource "aws_lambda_function" "launcher" {
  # checkov:skip=CKV_AWS_272: the zip is built and deployed by the same pipeline from the reviewed commit; signing would need an AWS Signer profile for no added assurance
  function_name                  = "${local.name}-launcher"
  description                    = "Validates an indexer event: starts the worker on ECS, or answers status and jobs from the search domain"
  role                           = aws_iam_role.launcher.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = var.launcher_zip
  source_code_hash               = filebase64sha256(var.launcher_zip)
  memory_size                    = 256
  timeout                        = 120
  reserved_concurrent_executions = 1
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = local.launcher_environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.launcher.id]
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.launcher.name
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.launcher_dead_letters.arn
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.launcher, aws_iam_role_policy_attachment.launcher_vpc]
}

# A refused scheduled launch (say, a job still running) is not retried: the next night runs.
resource "aws_lambda_function_event_invoke_config" "launcher" {
  function_name          = aws_lambda_function.launcher.function_name
  maximum_retry_attempts = 0
}
