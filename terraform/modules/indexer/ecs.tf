# The worker: a Fargate task definition on its own cluster, logging to CloudWatch.

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

# Fargate, and Fargate Spot for runs that resume where they stopped (rebuilds): the launcher
# picks Spot for them when `fargate_spot` is on. A reclaimed Spot task gets SIGTERM and exits 5
# with its checkpoints saved, which the interrupted-jobs alarm reports.
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
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

data "aws_vpc" "this" {
  id = var.vpc_id
}

# The worker's egress, and what it can and cannot narrow. Security groups match addresses, not
# host names, so:
# - the search domain: a VPC domain is reached at addresses inside the VPC, so HTTPS to its
#   security groups (when given) or else to the VPC's CIDR covers it, and interface endpoints;
# - DynamoDB and S3 (dead letters, ECR's layers): HTTPS to their gateway endpoints' prefix lists,
#   when the VPC has them;
# - ECR's API, CloudWatch Logs (the awslogs driver runs on the task's network) and DynamoDB
#   Streams have no gateway endpoint: without interface endpoints for them they are reached
#   through the NAT at public AWS addresses, which no security group can tell from any other
#   HTTPS host. That is `public_https_egress_cidrs` (0.0.0.0/0 by default); set it to [] only
#   where interface endpoints serve all three. While it is open, what keeps the data from
#   leaving for another host is the launcher's allow-list of search hosts (ALLOWED_HOSTS), not
#   this group.
resource "aws_vpc_security_group_egress_rule" "worker_https_search_domain" {
  for_each = toset(var.search_domain_security_group_ids)

  security_group_id            = aws_security_group.worker.id
  description                  = "HTTPS to the search domain"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "worker_https_vpc" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS inside the VPC: a VPC search domain and interface endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "worker_https_gateway_endpoints" {
  for_each = toset(var.gateway_endpoint_prefix_list_ids)

  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to DynamoDB or S3 through their gateway endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
}

resource "aws_vpc_security_group_egress_rule" "worker_https" {
  for_each = toset(var.public_https_egress_cidrs)

  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to AWS APIs without a VPC endpoint (ECR, CloudWatch Logs, DynamoDB Streams) through the NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

moved {
  from = aws_vpc_security_group_egress_rule.worker_https
  to   = aws_vpc_security_group_egress_rule.worker_https["0.0.0.0/0"]
}

locals {
  # SIGTERM → SIGKILL takes `stop_timeout_seconds` (ECS's stopTimeout, at most 120 s on
  # Fargate). The worker drains in-flight requests for STOP_TIMEOUT_SECS, then still has to
  # save checkpoints, mark the job interrupted and release the lock: that is the margin.
  worker_stop_timeout = var.stop_timeout_seconds - var.stop_margin_seconds

  worker_environment = {
    LOG_FORMAT          = "json"
    AWS_REGION          = local.region
    DEAD_LETTER_PATH    = local.dead_letter_path
    DEAD_LETTER_KMS_KEY = aws_kms_key.this.arn
    METRICS_NAMESPACE   = local.metrics_namespace
    STOP_TIMEOUT_SECS   = tostring(local.worker_stop_timeout)
  }
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

  # Scratch space on the task's ephemeral storage, the only writable path, and the working
  # directory. ECS gives a bind mount the ownership and contents the image has at the same path,
  # so the image must create /work owned by the task's user (65532) — the Dockerfile's part.
  # Dead letters do not depend on it: they go to S3 (DEAD_LETTER_PATH).
  volume {
    name = "work"
  }

  container_definitions = jsonencode([local.worker_container])

  tags = local.tags
}

locals {
  # The one container of every task the module runs: a launched worker, or a follower (whose
  # definition adds its command and host, followers.tf).
  worker_container = {
    name                   = local.container_name
    image                  = "${aws_ecr_repository.worker.repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    user                   = "65532:65532"
    workingDirectory       = "/work"
    # SIGTERM lets the worker drain, checkpoint and exit 5; ECS sends SIGKILL this long after.
    stopTimeout = var.stop_timeout_seconds
    environment = [for name in sort(keys(local.worker_environment)) : { name = name, value = local.worker_environment[name] }]
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
  }
}
