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

variable "tasks" {
  description = "Fewest and most tasks of each service's API and batch worker (autoscaling moves between them)."
  type = object({
    api    = object({ min = number, max = number })
    worker = object({ min = number, max = number })
  })
  validation {
    condition     = alltrue([for t in values(var.tasks) : 1 <= t.min && t.min <= t.max])
    error_message = "Each of tasks.api and tasks.worker needs 1 <= min <= max."
  }
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
