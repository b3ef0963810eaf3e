variable "environment" {
  type = string
}

variable "region" {
  type    = string
  default = "eu-west-2"
}

variable "vpc_name" {
  description = "Name tag of the VPC the worker runs in."
  type        = string
}

variable "private_subnet_name_pattern" {
  description = "Name tag (wildcards allowed) of the private subnets the worker runs in."
  type        = string
}

variable "extra_security_group_ids" {
  description = "Security groups the worker also joins (e.g. the one the search domain admits)."
  type        = list(string)
  default     = []
}

variable "table_names" {
  description = "DynamoDB tables the worker may read."
  type        = list(string)
}

variable "search_domain_name" {
  description = "The OpenSearch/Elasticsearch domain holding the indexes."
  type        = string
}

variable "image_tag" {
  description = "Worker image tag to deploy: the commit SHA the pipeline pushed."
  type        = string
}

variable "launcher_zip" {
  description = "Path of the launcher's zip, built by cargo lambda build --release --arm64 --output-format zip."
  type        = string
}

variable "task_cpu" {
  type    = number
  default = 1024
}

variable "task_memory" {
  type    = number
  default = 2048
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified of failed jobs and launches."
  type        = list(string)
  default     = []
}

variable "schedules" {
  description = "Scheduled runs: name => { schedule_expression (UTC), table, index, mode }."
  type = map(object({
    schedule_expression = string
    table               = string
    index               = string
    mode                = optional(string, "rebuild")
  }))
  default = {}
}
