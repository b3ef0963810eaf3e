# Failed jobs: the worker's last stdout line is its JSON summary, whose `status` is `failed` or
# `gate_failed` when a run did not complete (awslogs ships stdout and stderr alike; progress
# lines keep their fields under `fields`, so only summaries match).

resource "aws_cloudwatch_log_metric_filter" "failed_jobs" {
  name           = "${local.name}-failed-jobs"
  log_group_name = aws_cloudwatch_log_group.worker.name
  pattern        = "{ ($.status = \"failed\") || ($.status = \"gate_failed\") }"

  metric_transformation {
    name          = "FailedJobs"
    namespace     = "Indexer/${var.environment}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "failed_jobs" {
  alarm_name          = "${local.name}-failed-jobs"
  alarm_description   = "An indexer job failed or its gate refused the swap; the summary is in ${aws_cloudwatch_log_group.worker.name}"
  namespace           = "Indexer/${var.environment}"
  metric_name         = "FailedJobs"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = local.tags
}

# Launches that failed (refused events, a job already running, ECS errors), which matter most
# for scheduled runs that nobody watches.
resource "aws_cloudwatch_metric_alarm" "launcher_errors" {
  alarm_name          = "${local.name}-launcher-errors"
  alarm_description   = "The indexer launcher refused or failed an invocation; see ${aws_cloudwatch_log_group.launcher.name}"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.launcher.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = local.tags
}
