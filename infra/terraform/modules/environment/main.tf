# One mlseam environment: the platform, and one ml-service per folder of var.services_dir.
# envs/dev and envs/prod only choose its sizes (and hold the state backend and the provider).

locals {
  # Every <services_dir>/<name>/service.yaml is a service: adding the folder is the whole change.
  services = { for f in fileset(var.services_dir, "*/service.yaml") : dirname(f) => yamldecode(file("${var.services_dir}/${f}")) }
}

module "platform" {
  source              = "../platform"
  environment         = var.name
  region              = var.region
  certificate_arn     = var.certificate_arn
  service_names       = keys(local.services)
  nat_gateway_per_az  = var.nat_gateway_per_az
  db_multi_az         = var.db_multi_az
  deletion_protection = var.deletion_protection
  disposable          = var.disposable
  alert_subscribers   = var.alert_subscribers

  db_instance_class           = var.database.instance_class
  db_allocated_storage_gb     = var.database.allocated_storage_gb
  db_max_allocated_storage_gb = var.database.max_allocated_storage_gb
}

module "service" {
  source           = "../ml-service"
  for_each         = local.services
  name             = each.key
  manifest         = each.value
  image_tag        = var.image_tag
  platform         = module.platform.service_platform
  api_min_tasks    = var.tasks.api.min
  api_max_tasks    = var.tasks.api.max
  worker_min_tasks = var.tasks.worker.min
  worker_max_tasks = var.tasks.worker.max
  use_spot         = var.use_spot
  tags             = { Service = each.key }
}

module "dashboard" {
  source        = "../dashboard"
  platform      = module.platform.service_platform
  service_names = keys(local.services)
  image_tag     = var.image_tag
  api_url       = var.dashboard_api_url
  oidc          = var.dashboard_oidc
  tags          = { Service = "dashboard" }
}
