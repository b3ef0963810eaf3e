# Outcomes people see without reading logs: one SNS topic the module owns, fed by
# - EventBridge, on every worker task that stops badly: a non-zero exit code (1 failure, 2 bad
#   input, 3 gate refused, 4 lock held, 5 interrupted, 6 drift, 137 killed: out of memory or
#   SIGKILL after stopTimeout), a launched task whose container never exited, or a task that
#   never started (stop code TaskFailedToStart: image pull, ENI, capacity), and, opt-in, on every
#   task that exits 0;
# - the CloudWatch alarms in alarms.tf, by default.
# Subscribe people or a pager to the topic (alert_email_addresses, or a subscription made
# elsewhere). ECS task events carry the exit code and the stop reason, not the run's counts:
# those are in the summary line of the task's log stream, named in the message.

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = local.tags
}

data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "EventBridgePublishesTaskOutcomes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in local.task_outcome_rules : "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.name}-${rule}"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-*"]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "alert_email" {
  for_each = toset(var.alert_email_addresses)

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  task_outcome_rules = var.notify_success ? ["task-failed", "task-succeeded"] : ["task-failed"]

  # Which stopped tasks each rule matches (the `detail` of its event pattern, less the cluster),
  # kept in a JSON file so scripts/check-infra can match it against sample ECS events offline
  # (tests/task_outcomes.py). `failed`: any exit code but 0 and 5; exit 5 (interrupted, saved)
  # of a launched task (group `family:…`) but not of a follower service's task stopped by a
  # deployment (group `service:…`); a launched task whose container never exited (stopped
  # while pending, Fargate Spot reclaimed it before it started); and any task that failed to
  # start (image pull, ENI, capacity). `succeeded` (opt-in): exit code 0.
  task_outcome_patterns = jsondecode(file("${path.module}/task-outcomes.json"))

  # What every task-outcome message says, from the ECS "Task State Change" event.
  task_event_paths = {
    task      = "$.detail.taskArn"
    group     = "$.detail.group"
    startedBy = "$.detail.startedBy"
    exitCode  = "$.detail.containers[0].exitCode"
    stopCode  = "$.detail.stopCode"
    reason    = "$.detail.stoppedReason"
    container = "$.detail.containers[0].reason"
  }
}

resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${local.name}-task-failed"
  description = "${local.name}: a worker task stopped with a non-zero exit code or never started"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail        = merge({ clusterArn = [aws_ecs_cluster.this.arn] }, local.task_outcome_patterns.failed)
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "task_failed" {
  rule = aws_cloudwatch_event_rule.task_failed.name
  arn  = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths    = local.task_event_paths
    input_template = "\"${local.name}: worker task <task> (startedBy <startedBy>) stopped with exit code <exitCode>, stop code <stopCode>: <reason> <container>. Exit codes: 1 failure, 2 bad input, 3 gate refused the swap, 4 another job holds the lock, 5 interrupted (resumable), 6 verify found drift, 137 killed (out of memory, or SIGKILL after the stop timeout); no exit code: the task never started. Summary and progress: log group ${aws_cloudwatch_log_group.worker.name}, stream ${local.log_stream_prefix}/${local.container_name}/ followed by the task id (the last part of the task ARN).\""
  }
}

resource "aws_cloudwatch_event_rule" "task_succeeded" {
  count = var.notify_success ? 1 : 0

  name        = "${local.name}-task-succeeded"
  description = "${local.name}: a worker task exited 0"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail        = merge({ clusterArn = [aws_ecs_cluster.this.arn] }, local.task_outcome_patterns.succeeded)
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "task_succeeded" {
  count = var.notify_success ? 1 : 0

  rule = aws_cloudwatch_event_rule.task_succeeded[0].name
  arn  = aws_sns_topic.alerts.arn

  input_transformer {
    input_paths    = local.task_event_paths
    input_template = "\"${local.name}: worker task <task> (startedBy <startedBy>) succeeded (exit code 0). The counts are in its summary line: log group ${aws_cloudwatch_log_group.worker.name}, stream ${local.log_stream_prefix}/${local.container_name}/ followed by the task id (the last part of the task ARN).\""
  }
}
