variable "environment" {
  description = "Environment name: part of every resource name and the MLSEAM_ENVIRONMENT of every task."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "The environment must be dev or prod."
  }
}

variable "region" {
  description = "AWS region the environment runs in (MLSEAM_AWS_REGION of every task)."
  type        = string
}

variable "service_names" {
  description = "The services (folders under services/) that will be attached to the load balancer."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into one public and one private subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over."
  type        = number
  default     = 2
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "Use 2 to 4 availability zones: the load balancer and Multi-AZ RDS need at least 2."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per availability zone (survives an AZ outage) instead of a single shared one."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the database, the DynamoDB tables and the load balancer from deletion."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database of labelled examples."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded automatically)."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run a standby database in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups (point-in-time restore window)."
  type        = number
  default     = 7
  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "RDS keeps 1 to 35 days of backups."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group of the environment."
  type        = number
  default     = 365
}

variable "batch_retention_days" {
  description = "Days a batch and its results are kept (MLSEAM_BATCH_RETENTION_DAYS; the S3 lifecycle expires batches/ after it)."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept in the artifacts bucket."
  type        = number
  default     = 30
}

variable "alerts_topic_arn" {
  description = "SNS topic for alerts (failed retrains, dead letters); null creates mlseam-<environment>-alerts."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "disposable" {
  description = "The environment is torn down and re-created at will (dev): buckets are destroyed with their objects, the API-token secret without a recovery window, the database without a final snapshot."
  type        = bool
  default     = false
}

variable "alert_subscribers" {
  description = "Who hears the alerts and the services' events: email addresses and HTTPS endpoints (a chat webhook URL) subscribed to the alerts topic and to each events topic."
  type = object({
    emails          = list(string)
    https_endpoints = list(string)
  })
  default = { emails = [], https_endpoints = [] }
}

variable "db_alarms" {
  description = "Database alarm thresholds: CPU percent, freeable memory in MiB, free storage in GiB (each over 15 minutes)."
  type = object({
    cpu_percent     = number
    free_memory_mib = number
    free_storage_gb = number
  })
  default = { cpu_percent = 80, free_memory_mib = 128, free_storage_gb = 2 }
}
