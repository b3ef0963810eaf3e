# The worker: a Fargate task definition on its own cluster, logging to CloudWatch.

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_security_group" "worker" {
  name_prefix = "${local.name}-worker-"
  description = "${local.name} worker tasks: HTTPS out to AWS APIs and the search domain, nothing in"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "worker_https" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to ECR, DynamoDB, CloudWatch Logs and the search domain"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_ecs_task_definition" "worker" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Scratch space on the task's ephemeral storage: the only writable path (dead-letter files).
  volume {
    name = "work"
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = "${aws_ecr_repository.worker.repository_url}:${var.image_tag}"
      essential              = true
      readonlyRootFilesystem = true
      privileged             = false
      user                   = "65532:65532"
      # SIGTERM lets the worker drain, checkpoint and exit 5; ECS waits this long before SIGKILL.
      stopTimeout = 120
      environment = [
        { name = "LOG_FORMAT", value = "json" },
        { name = "AWS_REGION", value = local.region },
      ]
      mountPoints = [
        { sourceVolume = "work", containerPath = "/work", readOnly = false },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.worker.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.log_stream_prefix
        }
      }
    },
  ])

  tags = local.tags
}
