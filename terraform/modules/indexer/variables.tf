variable "environment" {
  description = "Environment name (development, staging, production); part of every resource name."
  type        = string
}

variable "name" {
  description = "Base name of the resources."
  type        = string
  default     = "indexer"
}

variable "vpc_id" {
  description = "VPC the worker tasks run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the worker tasks; they need a route to ECR, DynamoDB, CloudWatch Logs and the search domain."
  type        = list(string)
}

variable "extra_security_group_ids" {
  description = "Security groups added to the worker's own, e.g. one the search domain admits."
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Give worker tasks a public IP (only for subnets without a NAT gateway)."
  type        = bool
  default     = false
}

variable "table_arns" {
  description = "DynamoDB tables the worker may read (and their streams)."
  type        = list(string)
}

variable "table_kms_key_arns" {
  description = "Customer-managed KMS keys of those tables, if any; the worker may decrypt through DynamoDB only."
  type        = list(string)
  default     = []
}

variable "search_domain_arn" {
  description = "The OpenSearch/Elasticsearch domain the worker writes to."
  type        = string
}

variable "image_tag" {
  description = "Tag of the worker image in the module's ECR repository (the pipeline pushes the commit SHA)."
  type        = string
}

variable "task_cpu" {
  description = "Worker task CPU units."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Worker task memory (MiB)."
  type        = number
  default     = 2048
}

variable "launcher_zip" {
  description = "Path of the launcher's Lambda zip (cargo lambda build --release --arm64 --output-format zip)."
  type        = string
}

variable "log_retention_days" {
  description = "Days the worker's and the launcher's logs are kept."
  type        = number
  default     = 365
}

variable "images_kept" {
  description = "Tagged worker images kept in ECR; older ones expire."
  type        = number
  default     = 30
}

variable "schedules" {
  description = "Scheduled runs: name => { schedule_expression (EventBridge cron/rate, UTC), event (the launcher's event as JSON) }. Empty for none."
  type = map(object({
    schedule_expression = string
    event               = string
  }))
  default = {}
}

variable "alarm_actions" {
  description = "ARNs notified when a job fails or a launch fails (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
