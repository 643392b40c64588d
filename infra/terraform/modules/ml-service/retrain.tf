# Scheduled retraining: EventBridge Scheduler runs the retrain task on the manifest's cron (UTC),
# and `mlseam monitor` in the same task definition every `monitor_schedule`; a run that fails,
# or a schedule that cannot start it, reaches the alerts topic.

resource "aws_sqs_queue" "retrain_dlq" {
  name                              = "${local.prefix}-${var.name}-retrain-dlq"
  message_retention_seconds         = 1209600 # 14 days
  kms_master_key_id                 = var.platform.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

locals {
  # With use_spot, scheduled retrains and monitors run on Fargate Spot; one that Spot interrupts
  # is run again at once on demand, with the same command (rule `retrain-on-demand` below).
  retrain_capacity = var.use_spot ? { FARGATE_SPOT = 1 } : { FARGATE = 1 }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.family}-retrain-schedule"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  source_policy_documents = [data.aws_iam_policy_document.data_key.json]
  statement {
    sid       = "RunRetrainTask"
    actions   = ["ecs:RunTask"]
    resources = ["${aws_ecs_task_definition.this["retrain"].arn_without_revision}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.platform.cluster_arn]
    }
  }
  statement {
    sid       = "PassRetrainRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task["retrain"].arn, aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.retrain_dlq.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-retrain"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "retrain" {
  name                         = "${local.family}-retrain"
  description                  = "Retrain ${var.name} on its manifest's schedule (${try(var.manifest.schedule, "0 3 * * *")} UTC)"
  schedule_expression          = local.schedule_expression
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.platform.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.platform.cluster_arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.this["retrain"].arn
      platform_version    = "LATEST"
      task_count          = 1

      dynamic "capacity_provider_strategy" {
        for_each = local.retrain_capacity
        content {
          capacity_provider = capacity_provider_strategy.key
          weight            = capacity_provider_strategy.value
        }
      }

      network_configuration {
        subnets          = var.platform.private_subnet_ids
        security_groups  = [var.platform.tasks_security_group_id]
        assign_public_ip = false
      }
    }

    # Retries cover a task that could not be started (capacity, throttling); after them the
    # event lands in the DLQ, which alarms.
    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = var.retrain_max_retries
    }

    dead_letter_config {
      arn = aws_sqs_queue.retrain_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

# Live quality and drift, measured off the request path and stored beside each version: the
# retrain task definition (its role reads the log and artifacts and writes the registry), with
# the container's command replaced. A retrain whose retrain_when waits on them measures first too.
resource "aws_scheduler_schedule" "monitor" {
  name                         = "${local.family}-monitor"
  description                  = "Measure ${var.name}'s live quality and drift (${var.monitor_schedule} UTC)"
  schedule_expression          = var.monitor_schedule
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.platform.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.platform.cluster_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ containerOverrides = [{ name = "retrain", command = ["monitor", var.name] }] })

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.this["retrain"].arn
      platform_version    = "LATEST"
      task_count          = 1

      dynamic "capacity_provider_strategy" {
        for_each = local.retrain_capacity
        content {
          capacity_provider = capacity_provider_strategy.key
          weight            = capacity_provider_strategy.value
        }
      }

      network_configuration {
        subnets          = var.platform.private_subnet_ids
        security_groups  = [var.platform.tasks_security_group_id]
        assign_public_ip = false
      }
    }

    retry_policy {
      maximum_event_age_in_seconds = 1800
      maximum_retry_attempts       = var.retrain_max_retries
    }

    dead_letter_config {
      arn = aws_sqs_queue.retrain_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

# A retrain (or `mlseam migrate`, which runs in the same task definition) that exits non-zero
# (3: refused by a quality gate, 4: failed) or never starts.
resource "aws_cloudwatch_event_rule" "retrain_failed" {
  name        = "${local.family}-retrain-failed"
  description = "A ${var.name} retrain or monitor task stopped with a non-zero exit code or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.platform.cluster_arn]
      lastStatus = ["STOPPED"]
      group      = ["family:${aws_ecs_task_definition.this["retrain"].family}"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "retrain_failed" {
  rule = aws_cloudwatch_event_rule.retrain_failed.name
  arn  = var.platform.alerts_topic_arn

  input_transformer {
    input_paths = {
      task   = "$.detail.taskArn"
      exit   = "$.detail.containers[0].exitCode"
      reason = "$.detail.stoppedReason"
    }
    input_template = "\"mlseam ${var.platform.environment}: ${var.name} retrain (or monitor) task <task> stopped, exit code <exit>: <reason>\""
  }
}

# Dead letters anywhere in the service need a person: poison batch chunks, unstartable retrains.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = {
    batches = aws_sqs_queue.batches_dlq.name
    retrain = aws_sqs_queue.retrain_dlq.name
  }
  alarm_name          = "${local.family}-${each.key}-dead-letters"
  alarm_description   = "Messages in ${each.value}: see infra/README.md (alerts)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.platform.alerts_topic_arn]
  ok_actions          = [var.platform.alerts_topic_arn]
  tags                = var.tags
}

# The on-demand fallback of Spot: a retrain or monitor task stopped by a Spot interruption is run
# again on FARGATE with the overrides it had (a monitor stays a monitor). The interrupted retrain's
# version is closed by a later retrain once abandoned; the rerun cannot be interrupted in turn.
resource "aws_cloudwatch_event_rule" "retrain_on_demand" {
  count       = var.use_spot ? 1 : 0
  name        = "${local.family}-retrain-on-demand"
  description = "Run a ${var.name} retrain or monitor task again on demand when Fargate Spot interrupted it"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn           = [var.platform.cluster_arn]
      lastStatus           = ["STOPPED"]
      group                = ["family:${aws_ecs_task_definition.this["retrain"].family}"]
      stopCode             = ["SpotInterruption"]
      capacityProviderName = ["FARGATE_SPOT"]
    }
  })
  tags = var.tags
}

resource "aws_iam_role" "retrain_on_demand" {
  count              = var.use_spot ? 1 : 0
  name               = "${local.family}-retrain-on-demand"
  assume_role_policy = data.aws_iam_policy_document.assume["events"].json
  tags               = var.tags
}

resource "aws_iam_role_policy" "retrain_on_demand" {
  count  = var.use_spot ? 1 : 0
  name   = "run-retrain"
  role   = aws_iam_role.retrain_on_demand[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_cloudwatch_event_target" "retrain_on_demand" {
  count    = var.use_spot ? 1 : 0
  rule     = aws_cloudwatch_event_rule.retrain_on_demand[0].name
  arn      = var.platform.cluster_arn
  role_arn = aws_iam_role.retrain_on_demand[0].arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.this["retrain"].arn
    launch_type         = "FARGATE"
    platform_version    = "LATEST"
    task_count          = 1

    network_configuration {
      subnets          = var.platform.private_subnet_ids
      security_groups  = [var.platform.tasks_security_group_id]
      assign_public_ip = false
    }
  }

  # An ECS target takes its input as the task's overrides: the interrupted task's own.
  input_transformer {
    input_paths    = { overrides = "$.detail.overrides" }
    input_template = "<overrides>"
  }

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = var.retrain_max_retries
  }

  depends_on = [aws_iam_role_policy.retrain_on_demand]
}
