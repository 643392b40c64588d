# Prod (deployed from master): highly available and protected. Everything else is in ../../modules.
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

# Given at plan/apply time (-var or TF_VAR_*); none has a default. See infra/README.md.
variable "region" { type = string }
variable "certificate_arn" { type = string }
variable "image_tag" { type = string }

provider "aws" {
  region = var.region
  default_tags {
    tags = { Project = "mlseam", Environment = "prod", ManagedBy = "terraform" }
  }
}

locals {
  # Every services/<name>/service.yaml is a service: adding the folder is the whole change.
  services = { for f in fileset("${path.module}/../../../../services", "*/service.yaml") : dirname(f) => yamldecode(file("${path.module}/../../../../services/${f}")) }
}

module "platform" {
  source              = "../../modules/platform"
  environment         = "prod"
  region              = var.region
  certificate_arn     = var.certificate_arn
  service_names       = keys(local.services)
  nat_gateway_per_az  = true
  db_multi_az         = true
  deletion_protection = true
}

module "service" {
  source           = "../../modules/ml-service"
  for_each         = local.services
  name             = each.key
  manifest         = each.value
  image_tag        = var.image_tag
  platform         = module.platform.service_platform
  api_min_tasks    = 2
  api_max_tasks    = 8
  worker_min_tasks = 2
  worker_max_tasks = 8
  tags             = { Service = each.key }
}

# Read by CI (terraform output -json): push images, then run `mlseam migrate` as a one-off task.
output "cluster_name" { value = module.platform.cluster_name }
output "private_subnet_ids" { value = module.platform.private_subnet_ids }
output "tasks_security_group_id" { value = module.platform.tasks_security_group_id }
output "alb_dns_name" { value = module.platform.alb_dns_name }
output "ecr_repository_urls" { value = { for name, service in module.service : name => service.ecr_repository_url } }
output "migrate_task" { value = merge(module.platform.task_network, module.service[sort(keys(local.services))[0]].migrate_task) }
