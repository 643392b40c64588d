# The API's own figures in CloudWatch: metric filters turn its JSON access lines
# (mlseam/serving/access_log.py: message "request", status, ms, service) into per-service
# metrics in the namespace mlseam/<env>, and one CloudWatch dashboard shows them beside the
# load balancer's, the tasks and the batch queue. /metrics stays for a Prometheus in the VPC.

locals {
  metrics_namespace = "mlseam/${var.platform.environment}"
  access_metrics = {
    requests = { metric = "Requests", pattern = "{ $.message = \"request\" }", value = "1", unit = "Count" }
    latency  = { metric = "RequestLatency", pattern = "{ $.message = \"request\" }", value = "$.ms", unit = "Milliseconds" }
    errors   = { metric = "ServerErrors", pattern = "{ $.message = \"request\" && $.status >= 500 }", value = "1", unit = "Count" }
  }
}

resource "aws_cloudwatch_log_metric_filter" "access" {
  for_each       = local.access_metrics
  name           = "${local.family}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.this.name
  pattern        = each.value.pattern

  metric_transformation {
    namespace  = local.metrics_namespace
    name       = each.value.metric
    value      = each.value.value
    unit       = each.value.unit
    dimensions = { Service = "$.service" }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.family
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "${var.name}: API latency (ms, access log)", region = var.platform.region, view = "timeSeries"
          metrics = [for stat in ["p50", "p95", "p99"] : [local.metrics_namespace, "RequestLatency", "Service", var.name, { stat = stat }]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "${var.name}: requests and 5xx answers", region = var.platform.region, view = "timeSeries", stat = "Sum"
          metrics = [
            [local.metrics_namespace, "Requests", "Service", var.name],
            [local.metrics_namespace, "ServerErrors", "Service", var.name],
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.platform.alb_arn_suffix, "TargetGroup", aws_lb_target_group.api.arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "${var.name}: tasks running", region = var.platform.region, view = "timeSeries", stat = "Average"
          metrics = [for service in [aws_ecs_service.api.name, aws_ecs_service.worker.name] :
          ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.platform.cluster_name, "ServiceName", service]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "${var.name}: batch chunks waiting, in flight, oldest (s)", region = var.platform.region, view = "timeSeries", stat = "Maximum"
          metrics = [for metric in ["ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible", "ApproximateAgeOfOldestMessage"] :
          ["AWS/SQS", metric, "QueueName", aws_sqs_queue.batches.name]]
        }
      },
    ]
  })
}
