variable "name" {
  description = "Service name: its folder under services/ and the /<name>/ path prefix on the load balancer."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "A service name is 3-32 characters of a-z, 0-9 and '-', starting with a letter (as mlseam validates it)."
  }
}

variable "manifest" {
  description = "The decoded services/<name>/service.yaml; schedule and resources are read, absent keys take mlseam's defaults."
  type        = any
  validation {
    condition     = length(regexall("\\S+", try(var.manifest.schedule, "0 3 * * *"))) == 5
    error_message = "The manifest's schedule must be a 5-field cron expression (minute hour day-of-month month day-of-week)."
  }
}

variable "image_tag" {
  description = "Tag of the service image to run (the git SHA CI pushed); also MLSEAM_CODE_VERSION."
  type        = string
  validation {
    condition     = length(var.image_tag) > 0
    error_message = "Pass the image tag CI pushed, e.g. -var image_tag=$GIT_SHA."
  }
}

variable "platform" {
  description = "The platform module's service_platform output."
  type = object({
    environment              = string
    region                   = string
    account_id               = string
    partition                = string
    name_prefix              = string
    vpc_id                   = string
    private_subnet_ids       = list(string)
    tasks_security_group_id  = string
    cluster_arn              = string
    cluster_name             = string
    https_listener_arn       = string
    alb_arn_suffix           = string
    listener_rule_priorities = map(number)
    kms_key_arn              = string
    signing_key_arn          = string
    registry_table_name      = string
    registry_table_arn       = string
    batches_table_name       = string
    batches_table_arn        = string
    artifacts_bucket_name    = string
    artifacts_bucket_arn     = string
    batches_bucket_name      = string
    batches_bucket_arn       = string
    database_url             = string
    database_secret_arn      = string
    api_token_secret_arn     = string
    alerts_topic_arn         = string
    alert_subscriptions      = map(object({ protocol = string, endpoint = string }))
    batch_retention_days     = number
    log_retention_days       = number
    disposable               = bool
  })
}

variable "api_min_tasks" {
  description = "Fewest API tasks (also the desired count at creation)."
  type        = number
  default     = 1
}

variable "api_max_tasks" {
  description = "Most API tasks autoscaling may run."
  type        = number
  default     = 4
}

variable "api_requests_per_target" {
  description = "Target of the API's ALBRequestCountPerTarget tracking: requests per task per minute."
  type        = number
  default     = 600
}

variable "api_cpu_target" {
  description = "Target of the API's average CPU tracking, in percent (scales out on whichever of CPU and requests is above target)."
  type        = number
  default     = 60
}

variable "worker_min_tasks" {
  description = "Fewest batch-worker tasks; 0 stops every worker when the queue is idle (the first message wakes one)."
  type        = number
  default     = 0
}

variable "worker_chunks_per_task" {
  description = "Batch chunks (waiting or in flight) per running worker above which another worker starts."
  type        = number
  default     = 10
}

variable "use_spot" {
  description = "Run workers beyond the first, retrains and monitors on Fargate Spot (interruptible); the first worker stays on demand."
  type        = bool
  default     = false
}

variable "alarms" {
  description = "Alarm thresholds: target 5xx answers per minute, p95 latency in seconds, age of the oldest batch chunk in seconds."
  type = object({
    target_5xx_per_minute = number
    p95_latency_s         = number
    oldest_batch_chunk_s  = number
  })
  default = { target_5xx_per_minute = 5, p95_latency_s = 2, oldest_batch_chunk_s = 900 }
}

variable "worker_max_tasks" {
  description = "Most batch-worker tasks autoscaling may run on a deep queue."
  type        = number
  default     = 4
}

variable "batch_max_receives" {
  description = "Attempts at a batch chunk before the dead-letter queue (redrive maxReceiveCount = MLSEAM_BATCH_MAX_RECEIVES)."
  type        = number
  default     = 3
}

variable "batch_visibility_timeout_s" {
  description = "Visibility timeout of the batch queue (= MLSEAM_BATCH_VISIBILITY_TIMEOUT_S)."
  type        = number
  default     = 60
}

variable "ecr_keep_images" {
  description = "Images kept in the repository; older ones expire."
  type        = number
  default     = 30
}

variable "prediction_log_share" {
  description = "Share of predict requests and batch chunks whose predictions are logged (= MLSEAM_PREDICTION_LOG_SHARE)."
  type        = number
  default     = 0.1
  validation {
    condition     = var.prediction_log_share >= 0 && var.prediction_log_share <= 1
    error_message = "prediction_log_share is a share: from 0 (log nothing) to 1 (log every request)."
  }
}

variable "prediction_log_retention_days" {
  description = "Days of predictions kept in the log (= MLSEAM_PREDICTION_LOG_RETENTION_DAYS); labels must arrive within them."
  type        = number
  default     = 30
  validation {
    condition     = var.prediction_log_retention_days >= 1
    error_message = "prediction_log_retention_days must be at least 1."
  }
}

variable "monitor_schedule" {
  description = "When `mlseam monitor` measures live quality and drift (an EventBridge Scheduler expression, UTC)."
  type        = string
  default     = "rate(1 hour)"
}

variable "shadow_memory" {
  description = "MiB added to the API task for the challenger's process when the service may shadow (0: none); the total is rounded up to a whole GiB."
  type        = number
  default     = 512
  validation {
    condition     = var.shadow_memory >= 0
    error_message = "shadow_memory is 0 or more MiB."
  }
}

variable "retrain_max_retries" {
  description = "Retries of a scheduled retrain whose task could not be started."
  type        = number
  default     = 2
}

variable "cpu_architecture" {
  description = "CPU architecture the image is built for (X86_64 or ARM64)."
  type        = string
  default     = "X86_64"
  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture is X86_64 or ARM64."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
