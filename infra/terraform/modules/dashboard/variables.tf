variable "platform" {
  description = "The platform's service_platform output: network, cluster, listener, stores, key and secrets."
  type        = any
}

variable "service_names" {
  description = "The services whose batch queues the dashboard reads (their folders are in its image)."
  type        = list(string)
}

variable "image_tag" {
  description = "Tag of the dashboard image (the git SHA CI pushed)."
  type        = string
}

variable "path" {
  description = "Path the dashboard lives under on the load balancer (MLSEAM_DASHBOARD_PREFIX)."
  type        = string
  default     = "/dashboard"
  validation {
    condition     = can(regex("^/[a-z0-9-]+$", var.path))
    error_message = "The path is one segment such as /dashboard."
  }
}

variable "api_url" {
  description = "Public URL of the APIs (https://<domain>) the dashboard probes for readiness; null: it shows none."
  type        = string
  default     = null
}

variable "oidc" {
  description = "An identity provider the load balancer signs managers in with (ALB authenticate-oidc); null: the dashboard asks for the API token instead."
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

variable "cpu" {
  description = "Fargate cpu units of the dashboard task."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Memory (MiB) of the dashboard task."
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "CPU architecture of the image (X86_64 or ARM64)."
  type        = string
  default     = "X86_64"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
