# Three roles, each allowed only what its holder does:
# - execution: ECS pulls the worker image and writes its logs;
# - task: the worker reads the configured tables (and their streams), calls the one domain and
#   writes dead letters under its prefix of the module's bucket;
# - launcher: the Lambda starts and watches that task definition on that cluster, passes only
#   the two roles above, reads job state from the domain (status, jobs), and runs in the VPC.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrLogin"
    # GetAuthorizationToken has no resource to scope it to.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullTheWorkerImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.worker.arn]
  }
  statement {
    sid       = "WriteTheWorkerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${local.name}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ReadTheTables"
    actions   = ["dynamodb:Scan", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:BatchGetItem"]
    resources = var.table_arns
  }
  statement {
    sid       = "ReadTheirStreams"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [for arn in var.table_arns : "${arn}/stream/*"]
  }
  statement {
    sid       = "UseTheSearchDomain"
    actions   = ["es:ESHttp*"]
    resources = [var.search_domain_arn, "${var.search_domain_arn}/*"]
  }
  statement {
    sid       = "WriteDeadLettersUnderThePrefix"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.dead_letters.arn}/${local.dead_letter_prefix}/*"]
  }
  statement {
    sid       = "EncryptDeadLettersThroughS3"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  dynamic "statement" {
    for_each = length(var.table_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptTablesThroughDynamoDb"
      actions   = ["kms:Decrypt", "kms:DescribeKey"]
      resources = var.table_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "read-tables-write-index"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "launcher" {
  name               = "${local.name}-launcher"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = local.tags
}

locals {
  cluster_arn = aws_ecs_cluster.this.arn
}

data "aws_iam_policy_document" "launcher" {
  statement {
    sid       = "RunTheWorkerOnTheCluster"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${aws_ecs_task_definition.worker.family}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }
  statement {
    sid = "ListTasksOnTheCluster"
    # ListTasks is scoped by its ecs:cluster condition, not by a resource.
    actions   = ["ecs:ListTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }
  statement {
    sid = "TagTheTasksItStarts"
    # RunTask with propagateTags copies the task definition's tags onto the task.
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
  statement {
    sid = "ReadJobStateFromTheSearchDomain"
    # status and jobs read the alias, the indexes and the job records. IAM cannot tell a POST
    # that searches from one that writes; the launcher's code only reads.
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
    resources = [var.search_domain_arn, "${var.search_domain_arn}/*"]
  }
  statement {
    sid       = "DescribeTasksOnTheCluster"
    actions   = ["ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"]
  }
  statement {
    sid       = "PassOnlyTheWorkerRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "WriteTheLauncherLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.launcher.arn}:*"]
  }
  statement {
    sid       = "DeadLetterFailedScheduledLaunches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.launcher_dead_letters.arn]
  }
  statement {
    sid       = "UseTheModuleKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
  statement {
    sid = "SendTraces"
    # X-Ray's write actions have no resource to scope them to.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "launcher" {
  name   = "launch-the-worker"
  role   = aws_iam_role.launcher.id
  policy = data.aws_iam_policy_document.launcher.json
}

# Network interfaces in the VPC for the launcher: AWS's managed policy for exactly that
# (ec2:CreateNetworkInterface and friends, which have no resource to scope them to).
resource "aws_iam_role_policy_attachment" "launcher_vpc" {
  role       = aws_iam_role.launcher.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}
