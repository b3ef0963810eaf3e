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
  default = 512
}

variable "task_memory" {
  type    = number
  default = 1024
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "alarm_actions" {
  description = "ARNs notified by the alarms besides the module's own alerts topic, which always is."
  type        = list(string)
}

variable "alert_email_addresses" {
  description = "Email addresses subscribed to the alerts topic."
  type        = list(string)
  default     = []
}

variable "notify_success" {
  description = "Also notify the alerts topic when a job succeeds."
  type        = bool
  default     = false
}

variable "allowed_hosts" {
  description = "Search hosts events may name; null for the environment's domain alone."
  type        = list(string)
  default     = null
}

variable "fargate_spot" {
  description = "Run rebuilds on Fargate Spot (they resume after a reclaim)."
  type        = bool
  default     = false
}

variable "tuning_defaults" {
  description = "Defaults for a rebuild's tuning when the event names none (see the module)."
  type = object({
    max_read_units = optional(number)
    max_errors     = optional(number)
    min_ratio      = optional(number)
    keep           = optional(number)
    concurrency    = optional(number)
  })
  default = {}
}

variable "gateway_endpoint_prefix_list_ids" {
  description = "Prefix lists of the VPC's DynamoDB and S3 gateway endpoints, if any."
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

variable "followers" {
  description = "Aliases kept true between rebuilds by following their table's stream (`indexer follow`, one ECS service each), on the environment's search domain: alias => { table, entity (optional) }."
  type = map(object({
    table  = string
    entity = optional(string)
  }))
  default = {}
}
