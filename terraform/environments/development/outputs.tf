output "launcher_function_name" {
  value = module.indexer.launcher_function_name
}

output "ecr_repository_url" {
  value = module.indexer.ecr_repository_url
}

output "cluster_name" {
  value = module.indexer.cluster_name
}

output "worker_log_group" {
  value = module.indexer.worker_log_group
}

output "worker_security_group_id" {
  value = module.indexer.worker_security_group_id
}

output "index_node_host" {
  description = "The indexNodeHost to put in events for this environment."
  value       = local.index_node_host
}

output "alerts_topic_arn" {
  value = module.indexer.alerts_topic_arn
}

output "dead_letter_path" {
  value = module.indexer.dead_letter_path
}

output "launcher_security_group_id" {
  value = module.indexer.launcher_security_group_id
}
