output "launcher_function_name" {
  description = "Invoke this to start a job (console Test button or aws lambda invoke)."
  value       = aws_lambda_function.launcher.function_name
}

output "launcher_function_arn" {
  value = aws_lambda_function.launcher.arn
}

output "ecr_repository_url" {
  description = "Push worker images here, tagged with the commit SHA."
  value       = aws_ecr_repository.worker.repository_url
}

output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "task_definition_family" {
  value = aws_ecs_task_definition.worker.family
}

output "worker_log_group" {
  description = "Where each job's progress and summary appear, one stream per task."
  value       = aws_cloudwatch_log_group.worker.name
}

output "launcher_log_group" {
  value = aws_cloudwatch_log_group.launcher.name
}

output "worker_security_group_id" {
  description = "Admit this group on the search domain (HTTPS) if the domain is in the VPC."
  value       = aws_security_group.worker.id
}

output "launcher_dead_letter_queue_url" {
  value = aws_sqs_queue.launcher_dead_letters.url
}

output "alerts_topic_arn" {
  description = "Task outcomes and alarms arrive here: subscribe on-call to it."
  value       = aws_sns_topic.alerts.arn
}

output "dead_letter_bucket" {
  description = "Where dead letters are: <dead_letter_path><alias>/<job id>/worker-<i>…"
  value       = aws_s3_bucket.dead_letters.id
}

output "dead_letter_path" {
  value = local.dead_letter_path
}

output "launcher_security_group_id" {
  description = "Admit this group on the search domain (HTTPS) too: the launcher answers status and jobs from it."
  value       = aws_security_group.launcher.id
}
