output "cluster_name" {
  description = "ECS cluster every service runs in."
  value       = module.platform.cluster_name
}

output "private_subnet_ids" {
  description = "Subnets of the tasks and the database."
  value       = module.platform.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group of every task."
  value       = module.platform.tasks_security_group_id
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (point the API's domain here)."
  value       = module.platform.alb_dns_name
}

output "ecr_repository_urls" {
  description = "Image repository of each service (service -> URL)."
  value       = { for name, service in module.service : name => service.ecr_repository_url }
}

output "migrate_task" {
  description = "Where `mlseam migrate` runs: cluster, subnets, security groups, and the retrain task definition and container of the first service."
  value       = merge(module.platform.task_network, module.service[sort(keys(local.services))[0]].migrate_task)
}

output "registry_table_name" {
  description = "DynamoDB table of versions and champions (CI reads which services have none yet)."
  value       = module.platform.service_platform.registry_table_name
}

output "services" {
  description = "Each service found in services_dir: its ECS services, batch queue, retrain schedule (EventBridge cron) and task definition, events topic, approver policy, promotion policy and ALB rule priority."
  value = { for name, service in module.service : name => {
    api_service_name            = service.api_service_name
    worker_service_name         = service.worker_service_name
    queue_url                   = service.queue_url
    schedule_expression         = service.schedule_expression
    events_topic_arn            = service.events_topic_arn
    approver_policy_arn         = service.approver_policy_arn
    promotion                   = service.promotion
    retrain_task_definition_arn = service.retrain_task_definition_arn
    listener_rule_priority      = module.platform.service_platform.listener_rule_priorities[name]
  } }
}

output "dashboard" {
  description = "The dashboard: its image repository, ECS service and path on the load balancer."
  value       = module.dashboard
}
