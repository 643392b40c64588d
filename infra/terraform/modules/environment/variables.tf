variable "name" {
  description = "Environment name (dev or prod): part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region the environment runs in."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the load balancer's HTTPS listener."
  type        = string
}

variable "image_tag" {
  description = "Tag of the service images to run (the git SHA CI pushed)."
  type        = string
}

variable "services_dir" {
  description = "Folder of the services: each <name>/service.yaml in it becomes a service. Relative paths are read from the root module's folder."
  type        = string
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per availability zone instead of a single shared one."
  type        = bool
}

variable "db_multi_az" {
  description = "Run a standby database in a second availability zone."
  type        = bool
}

variable "deletion_protection" {
  description = "Protect the database, the DynamoDB tables and the load balancer from deletion."
  type        = bool
}

variable "disposable" {
  description = "The environment is torn down and re-created at will (dev): buckets and image repositories are destroyed with their contents, the API-token secret without a recovery window, the database without a final snapshot."
  type        = bool
}

variable "tasks" {
  description = "Fewest and most tasks of each service's API and batch worker (autoscaling moves between them); a worker minimum of 0 lets idle workers stop."
  type = object({
    api    = object({ min = number, max = number })
    worker = object({ min = number, max = number })
  })
  validation {
    condition     = 1 <= var.tasks.api.min && var.tasks.api.min <= var.tasks.api.max && 0 <= var.tasks.worker.min && var.tasks.worker.min <= var.tasks.worker.max && var.tasks.worker.max >= 1
    error_message = "tasks.api needs 1 <= min <= max, tasks.worker 0 <= min <= max and max >= 1."
  }
}

variable "use_spot" {
  description = "Run batch workers and retrains mostly on Fargate Spot (interruptible, cheaper), the first worker on demand."
  type        = bool
}

variable "database" {
  description = "Size of the PostgreSQL database of labelled examples: RDS instance class, initial storage and storage autoscaling ceiling in GiB."
  type = object({
    instance_class           = string
    allocated_storage_gb     = number
    max_allocated_storage_gb = number
  })
}

variable "alert_subscribers" {
  description = "Email addresses and HTTPS endpoints (a chat webhook URL) that receive the alerts and every service's events."
  type = object({
    emails          = list(string)
    https_endpoints = list(string)
  })
  default = { emails = [], https_endpoints = [] }
}

variable "dashboard_api_url" {
  description = "Public URL of the APIs (https://<domain>) the dashboard probes for readiness; null: it shows none."
  type        = string
  default     = null
}

variable "dashboard_oidc" {
  description = "Identity provider the load balancer signs managers in to the dashboard with (issuer, endpoints, client id and secret); null: the dashboard asks for the API token."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    client_secret          = string
  })
  default   = null
  sensitive = true
}
