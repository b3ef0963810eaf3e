# The module's wiring, applied against a mocked AWS provider (no account, no network beyond
# installing the provider): every bad outcome of a worker task reaches the alerts topic, the task
# gets the dead-letter bucket and a stop timeout that fits ECS's, and the launcher gets the
# allow-list and the tuning defaults. CI runs it (`terraform test` in the module's directory).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { region = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.20.0.0/16" }
  }
  # Resources the provider would name with ARNs that other resources check.
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-2:123456789012:indexer-test-alerts" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/indexer-test" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-2:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-2:123456789012:log-group:/ecs/indexer-test" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::indexer-test-dead-letters-123456789012", id = "indexer-test-dead-letters-123456789012" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-2:123456789012:indexer-test-launcher-dead-letters" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-2:123456789012:cluster/indexer-test" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-2:123456789012:repository/indexer-test"
      repository_url = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/indexer-test"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-2:123456789012:function:indexer-test-launcher" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-2:123456789012:rule/indexer-test-task-failed" }
  }
  # Policy documents are rendered by the provider, which is mocked: any valid policy will do.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  environment       = "test"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0123456789abcdef0"]
  table_arns        = ["arn:aws:dynamodb:eu-west-2:123456789012:table/Persons"]
  search_domain_arn = "arn:aws:es:eu-west-2:123456789012:domain/housing-search-test"
  image_tag         = "0123abcd"
  # Any file: only its hash is read.
  launcher_zip  = "versions.tf"
  allowed_hosts = ["vpc-housing-search-test-abc.eu-west-2.es.amazonaws.com"]
  tuning_defaults = {
    max_read_units = 1000
  }
}

run "every_bad_outcome_reaches_the_alerts_topic" {
  command = apply

  # Non-zero exit codes (1 to 6, 137) and tasks that never started; exit 5 (stopped, saved)
  # only for launched tasks, not for a follower service's task stopped by a deployment. (The
  # offline check, tests/task_outcomes.py, matches the same pattern against sample events.)
  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.task_failed.event_pattern).detail["$or"] == [
      { containers = { exitCode = [{ "anything-but" = [0, 5] }] } },
      { containers = { exitCode = [5] }, group = [{ prefix = "family:" }] },
      { containers = { exitCode = [{ exists = false }] }, group = [{ prefix = "family:" }] },
      { stopCode = ["TaskFailedToStart"] },
    ]
    error_message = "the task-failed rule must match every non-zero exit code of launched tasks, every one but 5 of followers, launched tasks that never exited, and tasks that never started"
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.task_failed.event_pattern).detail.clusterArn == [aws_ecs_cluster.this.arn]
    error_message = "the task-failed rule must match this module's cluster"
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.task_failed.event_pattern).detail.lastStatus == ["STOPPED"]
    error_message = "the task-failed rule must match stopped tasks"
  }
  assert {
    condition     = aws_cloudwatch_event_target.task_failed.arn == aws_sns_topic.alerts.arn
    error_message = "stopped tasks must be announced on the alerts topic"
  }
  assert {
    condition     = length(aws_cloudwatch_event_rule.task_succeeded) == 0
    error_message = "success notifications are opt-in"
  }
  assert {
    condition = toset(keys(aws_cloudwatch_metric_alarm.job_outcome)) == toset([
      "failed-jobs", "gate-refused", "interrupted-jobs", "drift",
    ])
    error_message = "one alarm per outcome that needs a person: failed (1), gate refused (3), interrupted (5), drift (6)"
  }
  assert {
    condition = alltrue([
      for alarm in concat(values(aws_cloudwatch_metric_alarm.job_outcome), [aws_cloudwatch_metric_alarm.launcher_errors]) :
      contains(alarm.alarm_actions, aws_sns_topic.alerts.arn)
    ])
    error_message = "every alarm must notify the alerts topic"
  }
}

run "success_notifications_when_asked" {
  command = apply

  variables {
    notify_success = true
  }

  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.task_succeeded[0].event_pattern).detail.containers.exitCode == [0]
    error_message = "the success rule matches exit code 0"
  }
  assert {
    condition     = aws_cloudwatch_event_target.task_succeeded[0].arn == aws_sns_topic.alerts.arn
    error_message = "successes are announced on the alerts topic"
  }
}

run "the_task_and_the_launcher_are_configured" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].stopTimeout == 120
    error_message = "ECS's longest stop timeout on Fargate"
  }
  assert {
    condition = {
      for pair in jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].environment : pair.name => pair.value
      } == {
      AWS_REGION          = "eu-west-2"
      DEAD_LETTER_KMS_KEY = aws_kms_key.this.arn
      DEAD_LETTER_PATH    = "s3://${aws_s3_bucket.dead_letters.id}/dead-letters/"
      LOG_FORMAT          = "json"
      METRICS_NAMESPACE   = "Indexer/test"
      STOP_TIMEOUT_SECS   = "110"
    }
    error_message = "the task's environment: dead letters to S3, a drain that ends before SIGKILL"
  }
  assert {
    condition     = aws_lambda_function.launcher.environment[0].variables.ALLOWED_HOSTS == "vpc-housing-search-test-abc.eu-west-2.es.amazonaws.com"
    error_message = "the launcher allows the given hosts only"
  }
  assert {
    condition     = aws_lambda_function.launcher.environment[0].variables.MAX_STOP_TIMEOUT_SECS == "110"
    error_message = "the launcher caps an event's stopTimeout at the task's drain"
  }
  assert {
    condition     = aws_lambda_function.launcher.environment[0].variables.DEFAULT_MAX_READ_UNITS == "1000"
    error_message = "the environment's tuning defaults reach the launcher"
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.launcher.environment[0].variables), "DEFAULT_KEEP")
    error_message = "a default left null is not set"
  }
  assert {
    condition     = aws_lambda_function.launcher.environment[0].variables.FARGATE_SPOT == "false"
    error_message = "Fargate Spot is opt-in"
  }
  assert {
    condition     = length(aws_lambda_function.launcher.vpc_config) == 1
    error_message = "the launcher runs in the VPC, to answer status and jobs from a VPC domain"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.dead_letters.block_public_policy && aws_s3_bucket_public_access_block.dead_letters.restrict_public_buckets
    error_message = "the dead-letter bucket is private"
  }
}

run "a_follower_is_one_service_with_its_lag_alarm" {
  command = apply

  variables {
    followers = {
      persons = {
        table = "Persons"
        host  = "vpc-housing-search-test-abc.eu-west-2.es.amazonaws.com"
      }
    }
  }

  assert {
    condition = jsondecode(aws_ecs_task_definition.follower["persons"].container_definitions)[0].command == [
      "follow", "--table", "Persons", "--index", "persons",
    ]
    error_message = "the follower's task runs indexer follow of its table and alias"
  }
  assert {
    condition = {
      for pair in jsondecode(aws_ecs_task_definition.follower["persons"].container_definitions)[0].environment : pair.name => pair.value
    }["INDEX_NODE_HOST"] == "https://vpc-housing-search-test-abc.eu-west-2.es.amazonaws.com"
    error_message = "the follower writes to its host over HTTPS"
  }
  assert {
    condition = (
      aws_ecs_service.follower["persons"].desired_count == 1
      && aws_ecs_service.follower["persons"].deployment_maximum_percent == 100
      && aws_ecs_service.follower["persons"].deployment_minimum_healthy_percent == 0
    )
    error_message = "one follower task at a time, the old one stopped before the new one starts"
  }
  assert {
    condition = (
      contains(aws_cloudwatch_metric_alarm.follower_lag["persons"].alarm_actions, aws_sns_topic.alerts.arn)
      && aws_cloudwatch_metric_alarm.follower_lag["persons"].treat_missing_data == "breaching"
      && aws_cloudwatch_metric_alarm.follower_lag["persons"].dimensions == { alias = "persons", mode = "follow" }
    )
    error_message = "a follower behind its stream, or silent, alerts the topic"
  }
}

run "a_follower_of_a_host_not_allowed_is_refused" {
  command = plan

  variables {
    followers = {
      persons = {
        table = "Persons"
        host  = "elsewhere.example.com"
      }
    }
  }

  expect_failures = [aws_ecs_service.follower]
}
