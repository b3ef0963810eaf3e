# The indexer in one environment: the worker image's repository, the ECS cluster and task
# definition that run it, the Lambda that launches it, an optional schedule, the dead-letter
# bucket, and the alerts (an SNS topic fed by task outcomes and alarms).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name           = "${var.name}-${var.environment}"
  account_id     = data.aws_caller_identity.current.account_id
  region         = data.aws_region.current.region
  partition      = data.aws_partition.current.partition
  container_name = "indexer"
  # The awslogs stream of a task is <prefix>/<container>/<task id>.
  log_stream_prefix = "indexer"
  tags              = merge(var.tags, { Application = var.name, Environment = var.environment })
}

# One key for everything the module stores: logs, images, the launcher's settings and its
# dead-letter queue, the workers' dead letters and the alerts topic.
resource "aws_kms_key" "this" {
  description             = "${local.name}: logs, images, launcher settings, dead letters and alerts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsThisModulesLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/*/${local.name}*"
          }
        }
      },
      {
        # The alerts topic is encrypted with this key: its publishers need a data key. Who may
        # publish is the topic policy's decision (this module's rules and alarms only); a
        # condition here that the services' key requests did not carry would drop alerts
        # silently.
        Sid       = "EventBridgeAndAlarmsPublishToTheAlertsTopic"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}
