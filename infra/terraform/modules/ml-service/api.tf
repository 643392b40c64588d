# The HTTP API: /<service>/* on the platform's HTTPS listener -> ECS service <service>-api.

locals {
  # Target group names are at most 32 characters; long ones keep a hash suffix to stay unique.
  target_group_name = length("${var.platform.environment}-${var.name}") <= 32 ? "${var.platform.environment}-${var.name}" : "${substr("${var.platform.environment}-${var.name}", 0, 23)}-${substr(sha1(var.name), 0, 8)}"
}

resource "aws_lb_target_group" "api" {
  # checkov:skip=CKV_AWS_378: TLS ends at the load balancer; behind it, plain HTTP on 8080 stays in private subnets and only the ALB's security group reaches it
  name                 = local.target_group_name
  vpc_id               = var.platform.vpc_id
  target_type          = "ip"
  port                 = 8080
  protocol             = "HTTP"
  deregistration_delay = 15

  # Live: serving, or up and waiting for a first champion (200, the reason in the body), so a new
  # service's first deploy turns healthy and its first retrain's model is hot-reloaded. A task
  # whose champion cannot be loaded fails it, so such a deploy still rolls back. Clients read
  # /readyz, which stays strict (README.md).
  health_check {
    path                = "/${var.name}/livez"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "api" {
  listener_arn = var.platform.https_listener_arn
  priority     = var.platform.listener_rule_priorities[var.name]

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  condition {
    path_pattern {
      values = ["/${var.name}/*"]
    }
  }

  tags = var.tags
}

resource "aws_ecs_service" "api" {
  name                              = "${var.name}-api"
  cluster                           = var.platform.cluster_arn
  task_definition                   = aws_ecs_task_definition.this["api"].arn
  desired_count                     = var.api_min_tasks
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  health_check_grace_period_seconds = 120
  # Keep full capacity during a deploy; a deploy whose tasks never get ready rolls back.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.platform.private_subnet_ids
    security_groups  = [var.platform.tasks_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = 8080
  }

  # Autoscaling owns the task count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }

  tags       = var.tags
  depends_on = [aws_lb_listener_rule.api, aws_iam_role_policy.task]
}

resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.platform.cluster_name}/${aws_ecs_service.api.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_min_tasks
  max_capacity       = var.api_max_tasks
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "api_requests" {
  name               = "${local.family}-api-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_requests_per_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.platform.alb_arn_suffix}/${aws_lb_target_group.api.arn_suffix}"
    }
  }
}

# CPU as well as requests: a slow model saturates its tasks long before the request count says so.
resource "aws_appautoscaling_policy" "api_cpu" {
  name               = "${local.family}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_cpu_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
