# Optional scheduled runs (e.g. a nightly rebuild), each invoking the launcher with its event.

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = var.schedules

  name                = "${local.name}-${each.key}"
  description         = "${local.name}: scheduled ${each.key}"
  schedule_expression = each.value.schedule_expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = var.schedules

  rule  = aws_cloudwatch_event_rule.schedule[each.key].name
  arn   = aws_lambda_function.launcher.arn
  input = each.value.event
}

resource "aws_lambda_permission" "schedule" {
  for_each = var.schedules

  statement_id  = "schedule-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.launcher.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
