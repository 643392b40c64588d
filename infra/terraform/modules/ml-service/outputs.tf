output "ecr_repository_url" {
  description = "Repository CI pushes the service image to."
  value       = aws_ecr_repository.this.repository_url
}

output "retrain_task_definition_arn" {
  description = "Retrain task definition (also runs `mlseam migrate` with a command override)."
  value       = aws_ecs_task_definition.this["retrain"].arn
}

output "task_definition_arns" {
  description = "Task definition of each command (api, worker, retrain)."
  value       = { for command, definition in aws_ecs_task_definition.this : command => definition.arn }
}

output "api_service_name" {
  description = "ECS service behind /<name>/*."
  value       = aws_ecs_service.api.name
}

output "worker_service_name" {
  description = "ECS service consuming the batch queue."
  value       = aws_ecs_service.worker.name
}

output "queue_url" {
  description = "Batch queue of the service."
  value       = aws_sqs_queue.batches.id
}

output "schedule_expression" {
  description = "The manifest's cron as EventBridge Scheduler runs it (UTC)."
  value       = local.schedule_expression
}

output "migrate_task" {
  description = "Where `mlseam migrate` runs: the retrain task definition and container (merge with the platform's task_network)."
  value       = { task_definition = aws_ecs_task_definition.this["retrain"].arn, container = "retrain" }
}

output "events_topic_arn" {
  description = "SNS topic of the service's platform events (schema mlseam.event/1); subscribe to it."
  value       = aws_sns_topic.events.arn
}

output "approver_policy_arn" {
  description = "Managed policy letting an operator approve, reject, promote and roll back the service: attach it to their role."
  value       = aws_iam_policy.approver.arn
}

output "promotion" {
  description = "The manifest's promotion policy in this environment: auto, or approve (the retrain role cannot move the champion)."
  value       = local.promotion
}
