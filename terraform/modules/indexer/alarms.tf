# Alarms on the worker's summaries. The last stdout line of every run is its JSON summary, whose
# `status` says how it ended (awslogs ships stdout and stderr alike; progress lines keep their
# fields under `fields`, so only summaries match). One metric and one alarm per outcome that
# needs a person, each saying what it means; all notify the module's SNS topic and
# `alarm_actions`.

locals {
  alarm_actions     = concat([aws_sns_topic.alerts.arn], var.alarm_actions)
  metrics_namespace = "Indexer/${var.environment}"

  job_outcomes = {
    "failed-jobs" = {
      metric  = "FailedJobs"
      pattern = "{ $.status = \"failed\" }"
      meaning = "A job failed (exit 1): the alias is untouched. Read the summary's `error`, fix the cause, start it again"
    }
    "gate-refused" = {
      metric  = "GateRefusedJobs"
      pattern = "{ $.status = \"gate_failed\" }"
      meaning = "A rebuild's gate refused the swap (exit 3): the alias is untouched, the new index kept for inspection. Read `gate_refusals` and the dead letters"
    }
    "interrupted-jobs" = {
      # A follower stopped by a deployment ends `interrupted` too: its own alarm is its lag.
      metric  = "InterruptedJobs"
      pattern = "{ ($.status = \"interrupted\") && ($.mode != \"follow\") }"
      meaning = "A job was interrupted (exit 5: stopped, or Fargate Spot reclaimed it): checkpoints are saved; the next rebuild resumes it"
    }
    "drift" = {
      metric  = "DriftFound"
      pattern = "{ ($.mode = \"verify\") && (($.status = \"drift\") || ($.status = \"refused\")) }"
      meaning = "verify found drift between table and index (exit 6). Read `drift` (counts, sample ids); repair with mode verify and fix: true"
    }
  }
}

resource "aws_cloudwatch_log_metric_filter" "job_outcome" {
  for_each = local.job_outcomes

  name           = "${local.name}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.worker.name
  pattern        = each.value.pattern

  metric_transformation {
    name          = each.value.metric
    namespace     = local.metrics_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "job_outcome" {
  for_each = local.job_outcomes

  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = "${each.value.meaning}. Summaries are in ${aws_cloudwatch_log_group.worker.name}."
  namespace           = local.metrics_namespace
  metric_name         = each.value.metric
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags

  depends_on = [aws_cloudwatch_log_metric_filter.job_outcome]
}

# Launches that failed (refused events, a job already running, ECS errors), which matter most
# for scheduled runs that nobody watches.
resource "aws_cloudwatch_metric_alarm" "launcher_errors" {
  alarm_name          = "${local.name}-launcher-errors"
  alarm_description   = "The indexer launcher refused or failed an invocation; its errorType and message are in ${aws_cloudwatch_log_group.launcher.name}, a failed scheduled event in the queue ${aws_sqs_queue.launcher_dead_letters.name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.launcher.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = local.tags
}

moved {
  from = aws_cloudwatch_log_metric_filter.failed_jobs
  to   = aws_cloudwatch_log_metric_filter.job_outcome["failed-jobs"]
}

moved {
  from = aws_cloudwatch_metric_alarm.failed_jobs
  to   = aws_cloudwatch_metric_alarm.job_outcome["failed-jobs"]
}

# A follower that falls behind, or stops reporting (stopped, crashed, never started): its
# progress lines carry its lag as an embedded metric (progress_lag_s, dimensions alias and mode).
resource "aws_cloudwatch_metric_alarm" "follower_lag" {
  for_each = var.followers

  alarm_name          = "${local.name}-follow-${each.key}-lag"
  alarm_description   = "The follower of alias ${each.key} is more than ${var.follower_lag_alarm_seconds} s behind table ${each.value.table}'s stream, or has reported nothing for 10 minutes (its service ${local.name}-follow-${each.key} has no running task). Its progress lines and summary are in ${aws_cloudwatch_log_group.worker.name}; `indexer status` (mode status) shows its lag and checkpoint age."
  namespace           = local.metrics_namespace
  metric_name         = "progress_lag_s"
  dimensions          = { alias = each.key, mode = "follow" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.follower_lag_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}
