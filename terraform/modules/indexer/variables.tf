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

# Runs measure under 150 MB of memory, and memory does not grow with the table; one vCPU
# feeds about 15,000 documents/s (README, Sizing). Half a vCPU and 1 GB is Fargate's smallest
# size with that headroom.
variable "task_cpu" {
  description = "Worker task CPU units (512 = 0.5 vCPU)."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Worker task memory (MiB)."
  type        = number
  default     = 1024
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
  description = "ARNs notified by the alarms besides the module's own alerts topic (e.g. a pager's SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "allowed_hosts" {
  description = "Search hosts (names, no scheme or port) events may name in indexNodeHost; the launcher refuses any other. With exactly one, events may omit indexNodeHost."
  type        = list(string)

  validation {
    condition     = length(var.allowed_hosts) > 0 && alltrue([for host in var.allowed_hosts : can(regex("^[A-Za-z0-9.-]+$", host))])
    error_message = "allowed_hosts needs at least one host name, each without scheme, port or path."
  }
}

variable "search_domain_security_group_ids" {
  description = "Security groups of a VPC search domain; the worker's and the launcher's HTTPS egress names them. Empty for a public domain."
  type        = list(string)
  default     = []
}

variable "gateway_endpoint_prefix_list_ids" {
  description = "Prefix lists of the VPC's DynamoDB and S3 gateway endpoints, if it has them; the worker may reach them on 443."
  type        = list(string)
  default     = []
}

variable "public_https_egress_cidrs" {
  description = "Where the worker and launcher may reach AWS APIs that have no gateway endpoint (ECR, CloudWatch Logs, DynamoDB Streams, ECS) on 443. Set to [] only where interface endpoints serve all of them."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "stop_timeout_seconds" {
  description = "ECS stopTimeout: seconds between SIGTERM and SIGKILL (Fargate allows 2 to 120)."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "Fargate's stopTimeout is 2 to 120 seconds."
  }
}

variable "stop_margin_seconds" {
  description = "Seconds kept after the worker's drain (STOP_TIMEOUT_SECS = stop_timeout_seconds - this) to save checkpoints and release the lock before SIGKILL."
  type        = number
  default     = 10

  validation {
    condition     = var.stop_margin_seconds >= 1
    error_message = "Keep at least one second for the checkpoint save."
  }
}

variable "fargate_spot" {
  description = "Run rebuilds (which resume where they stopped) on Fargate Spot; other modes stay on Fargate."
  type        = bool
  default     = false
}

variable "tuning_defaults" {
  description = "The environment's defaults for a rebuild's tuning, used when an event names none: max_read_units (RCU/s), max_errors, min_ratio, keep, concurrency. Null leaves the worker's own default."
  type = object({
    max_read_units = optional(number)
    max_errors     = optional(number)
    min_ratio      = optional(number)
    keep           = optional(number)
    concurrency    = optional(number)
  })
  default = {}
}

variable "dead_letter_prefix" {
  description = "Key prefix of dead letters in the module's bucket."
  type        = string
  default     = "dead-letters"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/?$", var.dead_letter_prefix))
    error_message = "dead_letter_prefix is a plain S3 key prefix such as dead-letters."
  }
}

variable "dead_letter_expiry_days" {
  description = "Days dead letters are kept: long enough to fix and resync the items; they hold personal data."
  type        = number
  default     = 30
}

variable "notify_success" {
  description = "Also notify the alerts topic when a worker task exits 0."
  type        = bool
  default     = false
}

variable "alert_email_addresses" {
  description = "Email addresses subscribed to the alerts topic (each confirms by email)."
  type        = list(string)
  default     = []
}

variable "followers" {
  description = "Aliases kept true between rebuilds by following their table's stream, one ECS service each: the key is the alias; table is the DynamoDB table (with a stream carrying new images), host the search host (one of allowed_hosts), entity the entity when the table's name does not say it."
  type = map(object({
    table  = string
    host   = string
    entity = optional(string)
  }))
  default = {}

  validation {
    condition = alltrue([
      for alias, follower in var.followers :
      can(regex("^[a-z0-9][a-z0-9._-]{0,199}$", alias)) && can(regex("^[A-Za-z0-9._-]{3,255}$", follower.table))
    ])
    error_message = "Each followers key is an alias name (lowercase letters, digits, '.', '_', '-') and each table a DynamoDB table name."
  }
}

variable "follower_lag_alarm_seconds" {
  description = "A follower further behind its stream than this (seconds), over two five-minute periods, raises its lag alarm."
  type        = number
  default     = 300
}
