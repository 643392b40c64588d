# Prod (deployed from master): highly available and protected. Everything else is in ../../modules/environment.
terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.100, < 7.0" }
  }
  # bucket and region: `terraform init -backend-config=bucket=... -backend-config=region=...`
  backend "s3" {
    key          = "mlseam/prod/terraform.tfstate"
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { Project = "mlseam", Environment = "prod", ManagedBy = "terraform" }
  }
}

# Given at plan/apply time (-var or TF_VAR_*); none has a default. See infra/README.md.
variable "region" { type = string }
variable "certificate_arn" { type = string }
variable "image_tag" { type = string }
# Optional: the dashboard's sign-in through the load balancer (OIDC) and the APIs' public URL.
variable "dashboard_oidc" {
  type      = object({ issuer = string, authorization_endpoint = string, token_endpoint = string, user_info_endpoint = string, client_id = string, client_secret = string })
  default   = null
  sensitive = true
}
variable "dashboard_api_url" {
  type    = string
  default = null
}
# Who hears the alerts and the services' events
# (TF_VAR_alert_subscribers='{emails = ["ops@example.com"], https_endpoints = []}').
variable "alert_subscribers" {
  type    = object({ emails = list(string), https_endpoints = list(string) })
  default = { emails = [], https_endpoints = [] }
}

module "environment" {
  source              = "../../modules/environment"
  name                = "prod"
  region              = var.region
  certificate_arn     = var.certificate_arn
  image_tag           = var.image_tag
  dashboard_oidc      = var.dashboard_oidc
  dashboard_api_url   = var.dashboard_api_url
  services_dir        = "${path.module}/../../../../services"
  alert_subscribers   = var.alert_subscribers
  nat_gateway_per_az  = true
  db_multi_az         = true
  deletion_protection = true
  disposable          = false
  use_spot            = false
  database            = { instance_class = "db.t4g.medium", allocated_storage_gb = 50, max_allocated_storage_gb = 500 }
  tasks               = { api = { min = 2, max = 8 }, worker = { min = 0, max = 8 } }
}

# CI reads migrate_task; `environment` holds every output of the module (infra/README.md).
output "migrate_task" { value = module.environment.migrate_task }
output "ecr_repository_urls" { value = module.environment.ecr_repository_urls }
output "environment" { value = module.environment }
