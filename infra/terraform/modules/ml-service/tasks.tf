# Task definitions of the image's three commands: api (serve), worker and retrain.

resource "aws_cloudwatch_log_group" "this" {
  name              = "/mlseam/${var.platform.environment}/${var.name}"
  retention_in_days = var.platform.log_retention_days
  kms_key_id        = var.platform.kms_key_arn
  tags              = var.tags
}

locals {
  # The image's ENTRYPOINT is `mlseam`; each container only adds its command.
  containers = {
    api = {
      command      = ["serve"]
      portMappings = [{ containerPort = 8080, protocol = "tcp" }]
      # The image has python but no curl; urlopen raises (exit 1) on anything but a 2xx.
      healthCheck = {
        command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/${var.name}/healthz', timeout=3)"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
    }
    # No health check for the worker and the retrain job: they open no port, and a check that
    # their own process is alive would always pass (ECS already replaces a task whose process exits).
    # 120 s (the Fargate maximum) between SIGTERM and SIGKILL lets a worker finish the chunk in hand.
    worker  = { command = ["worker"], stopTimeout = 120 }
    retrain = { command = ["retrain"] }
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each                 = local.commands
  family                   = "${local.family}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(local.sizes[each.key].cpu)
  memory                   = tostring(local.sizes[each.key].memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The root filesystem is read-only; /tmp (scratch space, model downloads) is task storage.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([merge(local.containers[each.key], {
    name                   = each.key
    image                  = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
    essential              = true
    user                   = "10001"
    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    environment            = [for key, value in local.command_environment[each.key] : { name = key, value = value }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = var.platform.region
        awslogs-stream-prefix = each.key
      }
    }
  })])

  tags = var.tags
}
