# What needs a person about this service, on the alerts topic (infra/README.md, "Alerts"): the API
# answering 5xx, slow, or with unhealthy targets; fewer tasks running than wanted; batch chunks
# waiting too long. Dead letters and failed retrains alarm in retrain.tf.

locals {
  target_group = { LoadBalancer = var.platform.alb_arn_suffix, TargetGroup = aws_lb_target_group.api.arn_suffix }
  api_alarms = {
    "api-5xx" = {
      metric = "HTTPCode_Target_5XX_Count", statistic = "Sum", extended = null, threshold = var.alarms.target_5xx_per_minute
      says   = "More than ${var.alarms.target_5xx_per_minute} 5xx answers a minute from ${var.name}-api (503: no model loaded, see /${var.name}/readyz; 500: the model raised)"
    }
    "api-unhealthy-hosts" = {
      metric = "UnHealthyHostCount", statistic = "Maximum", extended = null, threshold = 0
      says   = "${var.name}-api tasks fail the load balancer's check /${var.name}/livez (a champion that cannot be loaded, or a hung process)"
    }
    "api-latency-p95" = {
      metric = "TargetResponseTime", statistic = null, extended = "p95", threshold = var.alarms.p95_latency_s
      says   = "p95 latency of ${var.name}-api above ${var.alarms.p95_latency_s} s: scale or speed up the model"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api" {
  for_each            = local.api_alarms
  alarm_name          = "${local.family}-${each.key}"
  alarm_description   = "${each.value.says} (infra/README.md, alerts)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = each.value.metric
  dimensions          = local.target_group
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.platform.alerts_topic_arn]
  ok_actions          = [var.platform.alerts_topic_arn]
  tags                = var.tags
}

# Container Insights (on for the cluster) counts each ECS service's desired and running tasks. Ten
# minutes leave room for a deploy or a scale-out; a worker scaled to zero wants none.
resource "aws_cloudwatch_metric_alarm" "tasks_below_desired" {
  for_each            = { api = aws_ecs_service.api.name, worker = aws_ecs_service.worker.name }
  alarm_name          = "${local.family}-${each.key}-tasks-below-desired"
  alarm_description   = "Fewer ${each.value} tasks run than it wants, for 10 minutes: tasks that cannot start or keep stopping (see its events in the ECS console and its logs)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 10
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.platform.alerts_topic_arn]
  ok_actions          = [var.platform.alerts_topic_arn]

  metric_query {
    id          = "missing"
    expression  = "FILL(desired, 0) - FILL(running, 0)"
    label       = "Tasks wanted but not running"
    return_data = true
  }
  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = var.platform.cluster_name, ServiceName = each.value }
      stat        = "Minimum"
      period      = 60
    }
  }
  metric_query {
    id = "running"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = { ClusterName = var.platform.cluster_name, ServiceName = each.value }
      stat        = "Minimum"
      period      = 60
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_batch_chunk" {
  alarm_name          = "${local.family}-batches-oldest-chunk"
  alarm_description   = "A ${var.name} batch chunk has waited more than ${var.alarms.oldest_batch_chunk_s} s: workers cannot start (capacity, Spot), crash, or are too few (worker_max_tasks) (infra/README.md, alerts)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.batches.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarms.oldest_batch_chunk_s
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.platform.alerts_topic_arn]
  ok_actions          = [var.platform.alerts_topic_arn]
  tags                = var.tags
}
