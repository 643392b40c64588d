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

resource "aws_ecs_service" "worker" {
  name                               = "${var.name}-worker"
  cluster                            = var.platform.cluster_arn
  task_definition                    = aws_ecs_task_definition.this["worker"].arn
  desired_count                      = var.worker_min_tasks
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  propagate_tags                     = "SERVICE"
  enable_ecs_managed_tags            = true
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

# Step scaling on queue depth: add workers while chunks wait, remove one after 5 idle minutes.
resource "aws_appautoscaling_policy" "worker_out" {
  name               = "${local.family}-worker-out"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      metric_interval_upper_bound = 100
      scaling_adjustment          = 1
    }
    step_adjustment {
      metric_interval_lower_bound = 100
      scaling_adjustment          = 3
    }
  }
}

resource "aws_appautoscaling_policy" "worker_in" {
  name               = "${local.family}-worker-in"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 300
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_upper_bound = 0
      scaling_adjustment          = -1
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_backlog" {
  alarm_name          = "${local.family}-worker-backlog"
  alarm_description   = "Batch chunks are waiting: add ${var.name} workers."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.batches.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_out.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "worker_idle" {
  alarm_name          = "${local.family}-worker-idle"
  alarm_description   = "No batch chunk waited for 5 minutes: remove a ${var.name} worker."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.batches.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "LessThanOrEqualToThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_appautoscaling_policy.worker_in.arn]
  tags                = var.tags
}
