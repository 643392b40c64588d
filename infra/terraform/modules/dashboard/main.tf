# The manager's page: ECS service "dashboard" behind <path>/* on the platform's HTTPS listener,
# read-only on the registry, the examples database and the batch queues. Its image is the services'
# Dockerfile's `dashboard` target (every service folder), which CI pushes to this module's ECR
# repository with the commit's tag; the task runs `mlseam dashboard`.

locals {
  family = "${var.platform.name_prefix}-dashboard"
  # After every service's rule (priorities 2..49999, platform/main.tf): its path never overlaps theirs.
  listener_rule_priority = 50000
  queue_arn_prefix       = "arn:${var.platform.partition}:sqs:${var.platform.region}:${var.platform.account_id}:${var.platform.name_prefix}"
  queue_arns             = [for name in var.service_names : "${local.queue_arn_prefix}-${name}-batches"]
  dlq_arns               = [for name in var.service_names : "${local.queue_arn_prefix}-${name}-batches-dlq"]
  environment = merge(
    {
      MLSEAM_ENVIRONMENT        = var.platform.environment
      MLSEAM_AWS_REGION         = var.platform.region
      MLSEAM_REGISTRY_TABLE     = var.platform.registry_table_name
      MLSEAM_ARTIFACTS_BUCKET   = var.platform.artifacts_bucket_name
      MLSEAM_BATCHES_TABLE      = var.platform.batches_table_name
      MLSEAM_BATCHES_BUCKET     = var.platform.batches_bucket_name
      MLSEAM_QUEUE_PREFIX       = var.platform.name_prefix
      MLSEAM_DATABASE_URL       = var.platform.database_url
      MLSEAM_DATABASE_SECRET_ID = var.platform.database_secret_arn
      MLSEAM_SERVE_HOST         = "0.0.0.0"
      MLSEAM_SERVE_PORT         = "8080"
      MLSEAM_DASHBOARD_PREFIX   = var.path
      MLSEAM_CODE_VERSION       = var.image_tag
    },
    # Signed in by the load balancer (OIDC), or asked for the API token by the dashboard itself.
    var.oidc != null ? { MLSEAM_AUTH_REQUIRED = "false" } : { MLSEAM_API_TOKEN_SECRET_ID = var.platform.api_token_secret_arn },
    var.api_url != null ? { MLSEAM_DASHBOARD_API_URL = var.api_url } : {},
  )
}

resource "aws_ecr_repository" "this" {
  name                 = "${var.platform.name_prefix}/dashboard"
  image_tag_mutability = "IMMUTABLE"
  # A disposable environment (dev) is destroyed with its images; prod's repository refuses while it holds any.
  force_delete = var.platform.disposable

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.platform.kms_key_arn
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/mlseam/${var.platform.environment}/dashboard"
  retention_in_days = var.platform.log_retention_days
  kms_key_id        = var.platform.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "dashboard"
    image                  = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
    command                = ["dashboard"]
    essential              = true
    user                   = "10001"
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    environment            = [for key, value in local.environment : { name = key, value = value }]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080${var.path}/healthz', timeout=3)"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.platform.region
        awslogs-stream-prefix = "dashboard"
      }
    }
  }])

  tags = var.tags
}

resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378: TLS ends at the load balancer; behind it, plain HTTP on 8080 stays in private subnets
  name                 = substr("${var.platform.name_prefix}-dashboard", 0, 32)
  vpc_id               = var.platform.vpc_id
  target_type          = "ip"
  port                 = 8080
  protocol             = "HTTP"
  deregistration_delay = 15

  health_check {
    path                = "${var.path}/healthz"
    matcher             = "200"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "this" {
  listener_arn = var.platform.https_listener_arn
  priority     = local.listener_rule_priority

  dynamic "action" {
    for_each = var.oidc != null ? [var.oidc] : []
    content {
      type = "authenticate-oidc"
      authenticate_oidc {
        issuer                     = action.value.issuer
        authorization_endpoint     = action.value.authorization_endpoint
        token_endpoint             = action.value.token_endpoint
        user_info_endpoint         = action.value.user_info_endpoint
        client_id                  = action.value.client_id
        client_secret              = action.value.client_secret
        on_unauthenticated_request = "authenticate"
      }
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  condition {
    path_pattern {
      values = [var.path, "${var.path}/*"]
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !contains(var.service_names, trimprefix(var.path, "/"))
      error_message = "A service is named like the dashboard's path; choose another path."
    }
  }
}

resource "aws_ecs_service" "this" {
  name                              = "dashboard"
  cluster                           = var.platform.cluster_arn
  task_definition                   = aws_ecs_task_definition.this.arn
  desired_count                     = 1
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true
  health_check_grace_period_seconds = 60

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
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = "dashboard"
    container_port   = 8080
  }

  tags       = var.tags
  depends_on = [aws_lb_listener_rule.this, aws_iam_role_policy.task]
}
