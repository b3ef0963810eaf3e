# Optional followers: one ECS service per followed alias, which keeps the alias's index true
# between rebuilds by applying its table's stream (`indexer follow`). One task each: the
# follower's lease refuses a second one, and a deployment stops the old task (which saves its
# shard checkpoints on SIGTERM) before it starts the new one, which resumes from them.

resource "aws_ecs_task_definition" "follower" {
  for_each = var.followers

  family                   = "${local.name}-follow-${each.key}"
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

  # The same scratch space as the worker's (ecs.tf).
  volume {
    name = "work"
  }

  container_definitions = jsonencode([merge(local.worker_container, {
    command = concat(
      ["follow", "--table", each.value.table, "--index", each.key],
      each.value.entity == null ? [] : ["--entity", each.value.entity],
    )
    environment = [
      for name in sort(keys(local.follower_environment[each.key])) :
      { name = name, value = local.follower_environment[each.key][name] }
    ]
  })])

  tags = local.tags
}

locals {
  follower_environment = {
    for alias, follower in var.followers : alias => merge(local.worker_environment, {
      INDEX_NODE_HOST = "https://${follower.host}"
    })
  }
}

resource "aws_ecs_service" "follower" {
  for_each = var.followers

  name             = "${local.name}-follow-${each.key}"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.follower[each.key].arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  # Never two followers of one alias: the old task stops (and checkpoints) before the new one.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = concat([aws_security_group.worker.id], var.extra_security_group_ids)
    assign_public_ip = var.assign_public_ip
  }

  lifecycle {
    precondition {
      condition     = contains(var.allowed_hosts, each.value.host)
      error_message = "followers[\"${each.key}\"].host (${each.value.host}) is not one of allowed_hosts."
    }
  }

  tags = local.tags
}
