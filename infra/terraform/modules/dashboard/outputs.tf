output "ecr_repository_url" {
  description = "Repository CI pushes the dashboard image to (the service image built with every service folder)."
  value       = aws_ecr_repository.this.repository_url
}

output "service_name" {
  description = "ECS service behind <path>/*."
  value       = aws_ecs_service.this.name
}

output "path" {
  description = "Where the dashboard answers on the load balancer."
  value       = "${var.path}/"
}
