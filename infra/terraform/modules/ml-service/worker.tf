# Queue-style batches: the API queues chunks, ECS service <service>-worker predicts them.

resource "aws_sqs_queue" "batches_dlq" {
  name                              = "${local.prefix}-${var.name}-batches-dlq"
  message_retention_seconds         = 1209600 # 14 days, the SQS maximum: time to inspect poison chunks
  kms_master_key_id                 = var.platform.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "batches" {
  name                              = "${local.prefix}-${var.name}-batches"
  visibility_timeout_seconds        = var.batch_visibility_timeout_s
  message_retention_seconds         = min(ceil(var.platform.batch_retention_days * 86400), 1209600)
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = var.platform.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.batches_dlq.arn
    maxReceiveCount     = var.batch_max_receives
  })
  tags = var.tags
}

# Only this service's queue may dead-letter into its DLQ (a separate resource avoids a cycle).
resource "aws_sqs_queue_redrive_allow_policy" "batches_dlq" {
  queue_url = aws_sqs_queue.batches_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.batches.arn]
  })
}

locals {
  # The first worker runs on demand, so batches progress when Spot capacity is short; with
  # use_spot, three in four of the others run on Fargate Spot (an interrupted worker's chunk
  # returns to the queue after its visibility timeout and is done by another).
  worker_capacity = {
    FARGATE      = { base = 1, weight = 1 }
    FARGATE_SPOT = { base = 0, weight = var.use_spot ? 3 : 0 }
  }
}

resource "aws_ecs_service" "worker" {
  name                               = "${var.name}-worker"
  cluster                            = var.platform.cluster_arn
  task_definition                    = aws_ecs_task_definition.this["worker"].arn
  desired_count                      = var.worker_min_tasks
  platform_version                   = "LATEST"
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  # Lets a change of strategy (use_spot) roll out as a new deployment instead of replacing the service.
  force_new_deployment = true

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = local.worker_capacity.FARGATE.base
    weight            = local.worker_capacity.FARGATE.weight
  }
  capacity_provider_strategy {
    capacity_provider = "FARGATE_SPOT"
    base              = local.worker_capacity.FARGATE_SPOT.base
    weight            = local.worker_capacity.FARGATE_SPOT.weight
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.platform.private_subnet_ids
    security_groups  = [var.platform.tasks_security_group_id]
    assign_public_ip = false
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.task]
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.platform.cluster_name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_min_tasks
  max_capacity       = var.worker_max_tasks
  tags               = var.tags
}

# Scaling reads the backlog: chunks waiting plus chunks in flight (a worker holds those), per
# running worker. Three step policies, each on its own alarm:
#   wake: no worker is wanted but chunks are there -> exactly one (from zero on the first message);
#   out:  more than worker_chunks_per_task per running worker -> +1, or +3 past twice that;
#   in:   under one chunk per running worker for 10 minutes -> -1, down to worker_min_tasks
#         (0 when the queue and the workers are idle); a worker still holding a chunk is not idle.
locals {
  worker_scaling = {
    wake = {
      expression = "IF(FILL(desired, 0) == 0 AND backlog > 0, 1, 0)"
      operator   = "GreaterThanOrEqualToThreshold", threshold = 1, periods = 1
      says       = "Batch chunks wait and no ${var.name} worker runs: start one."
      metrics    = { desired = local.worker_metrics.desired, visible = local.worker_metrics.visible, in_flight = local.worker_metrics.in_flight }
    }
    out = {
      expression = "IF(FILL(running, 0) > 0, backlog / FILL(running, 0), 0)"
      operator   = "GreaterThanThreshold", threshold = var.worker_chunks_per_task, periods = 2
      says       = "More than ${var.worker_chunks_per_task} batch chunks per ${var.name} worker: add workers."
      metrics    = { running = local.worker_metrics.running, visible = local.worker_metrics.visible, in_flight = local.worker_metrics.in_flight }
    }
    in = {
      expression = "IF(FILL(running, 0) > 0, backlog / FILL(running, 0), 1)"
      operator   = "LessThanThreshold", threshold = 1, periods = 10
      says       = "Fewer batch chunks than ${var.name} workers for 10 minutes: remove one."
      metrics    = { running = local.worker_metrics.running, visible = local.worker_metrics.visible, in_flight = local.worker_metrics.in_flight }
    }
  }
  worker_steps = {
    wake = { adjustment_type = "ExactCapacity", cooldown = 60, steps = [{ lower = 0, upper = null, change = 1 }] }
    out = { adjustment_type = "ChangeInCapacity", cooldown = 120, steps = [
      { lower = 0, upper = var.worker_chunks_per_task, change = 1 },
      { lower = var.worker_chunks_per_task, upper = null, change = 3 },
    ] }
    in = { adjustment_type = "ChangeInCapacity", cooldown = 300, steps = [{ lower = null, upper = 0, change = -1 }] }
  }
}

resource "aws_appautoscaling_policy" "worker" {
  for_each           = local.worker_steps
  name               = "${local.family}-worker-${each.key}"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = each.value.adjustment_type
    cooldown                = each.value.cooldown
    metric_aggregation_type = "Maximum"

    dynamic "step_adjustment" {
      for_each = each.value.steps
      content {
        metric_interval_lower_bound = step_adjustment.value.lower
        metric_interval_upper_bound = step_adjustment.value.upper
        scaling_adjustment          = step_adjustment.value.change
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_scaling" {
  for_each            = local.worker_scaling
  alarm_name          = "${local.family}-worker-${each.key}"
  alarm_description   = each.value.says
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  evaluation_periods  = each.value.periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker[each.key].arn]

  metric_query {
    id          = "scaling"
    expression  = each.value.expression
    label       = "${each.key}: ${each.value.expression}"
    return_data = true
  }

  metric_query {
    id          = "backlog"
    expression  = "FILL(visible, 0) + FILL(in_flight, 0)"
    label       = "Batch chunks waiting or in flight"
    return_data = false
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id          = metric_query.key
      return_data = false
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        stat        = "Maximum"
        period      = 60
      }
    }
  }

  tags = var.tags
}

locals {
  worker_dimensions = { ClusterName = var.platform.cluster_name, ServiceName = aws_ecs_service.worker.name }
  worker_metrics = {
    visible   = { namespace = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = aws_sqs_queue.batches.name } }
    in_flight = { namespace = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesNotVisible", dimensions = { QueueName = aws_sqs_queue.batches.name } }
    running   = { namespace = "ECS/ContainerInsights", metric_name = "RunningTaskCount", dimensions = local.worker_dimensions }
    desired   = { namespace = "ECS/ContainerInsights", metric_name = "DesiredTaskCount", dimensions = local.worker_dimensions }
  }
}
