# The launcher Lambda. It runs one invocation at a time, so two launches never race past the
# "job already running" check; the worker's own lock on the alias backs that check up. Its
# timeout allows for a rebuild split over many workers: one RunTask call per worker (up to 64,
# about a second each), and the Lambda must outlive them to report every task it started.

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
  # checkov:skip=CKV_AWS_117: the launcher calls only the ECS control-plane API and holds no data; a VPC attachment would need a NAT route or an ECS interface endpoint and ENI permissions on *, for no isolation gain
  # checkov:skip=CKV_AWS_272: the zip is built and deployed by the same pipeline from the reviewed commit; signing would need an AWS Signer profile for no added assurance
  function_name                  = "${local.name}-launcher"
  description                    = "Validates a rebuild/sync/verify/resync event and starts the indexer task on ECS"
  role                           = aws_iam_role.launcher.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  filename                       = var.launcher_zip
  source_code_hash               = filebase64sha256(var.launcher_zip)
  memory_size                    = 128
  timeout                        = 120
  reserved_concurrent_executions = 1
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = {
      CLUSTER           = aws_ecs_cluster.this.name
      TASK_DEFINITION   = aws_ecs_task_definition.worker.family
      CONTAINER_NAME    = local.container_name
      SUBNETS           = join(",", var.subnet_ids)
      SECURITY_GROUPS   = join(",", concat([aws_security_group.worker.id], var.extra_security_group_ids))
      ASSIGN_PUBLIC_IP  = var.assign_public_ip ? "ENABLED" : "DISABLED"
      LOG_GROUP         = aws_cloudwatch_log_group.worker.name
      LOG_STREAM_PREFIX = local.log_stream_prefix
    }
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

  depends_on = [aws_iam_role_policy.launcher]
}

# A refused scheduled launch (say, a job still running) is not retried: the next night runs.
resource "aws_lambda_function_event_invoke_config" "launcher" {
  function_name          = aws_lambda_function.launcher.function_name
  maximum_retry_attempts = 0
}
