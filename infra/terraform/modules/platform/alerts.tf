# Where operators hear about failed retrains, dead-lettered work and the alarms (see infra/README.md),
# and who is subscribed: var.alert_subscribers, on this topic and on each service's events topic.

resource "aws_sns_topic" "alerts" {
  count             = var.alerts_topic_arn == null ? 1 : 0
  name              = "${local.name}-alerts"
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "alerts" {
  count = var.alerts_topic_arn == null ? 1 : 0

  statement {
    sid       = "EventBridgeAndAlarmsOfThisAccount"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alerts" {
  count  = var.alerts_topic_arn == null ? 1 : 0
  arn    = aws_sns_topic.alerts[0].arn
  policy = data.aws_iam_policy_document.alerts[0].json
}

locals {
  alerts_topic_arn = var.alerts_topic_arn == null ? aws_sns_topic.alerts[0].arn : var.alerts_topic_arn
  # Keyed by address, or by a hash of the URL: a chat webhook's URL is a credential, kept out of resource addresses.
  alert_subscriptions = merge(
    { for address in var.alert_subscribers.emails : address => { protocol = "email", endpoint = address } },
    { for url in var.alert_subscribers.https_endpoints : "https-${substr(sha1(url), 0, 12)}" => { protocol = "https", endpoint = url } },
  )
}

# An email subscription waits for its address to confirm it (a link in the first message); an
# HTTPS endpoint must answer SNS's SubscriptionConfirmation (infra/README.md, "Alerts").
resource "aws_sns_topic_subscription" "alerts" {
  for_each  = local.alert_subscriptions
  topic_arn = local.alerts_topic_arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

# The database of labelled examples: busy, short of memory, or filling up (storage autoscaling
# has a ceiling, db_max_allocated_storage_gb).
locals {
  db_alarms = {
    cpu = {
      metric = "CPUUtilization", operator = "GreaterThanThreshold", threshold = var.db_alarms.cpu_percent
      says   = "CPU above ${var.db_alarms.cpu_percent}% for 15 minutes: a heavy retrain read or too small an instance (db_instance_class)"
    }
    memory = {
      metric = "FreeableMemory", operator = "LessThanThreshold", threshold = var.db_alarms.free_memory_mib * 1048576
      says   = "freeable memory below ${var.db_alarms.free_memory_mib} MiB for 15 minutes: a larger db_instance_class"
    }
    storage = {
      metric = "FreeStorageSpace", operator = "LessThanThreshold", threshold = var.db_alarms.free_storage_gb * 1073741824
      says   = "free storage below ${var.db_alarms.free_storage_gb} GiB: raise db_max_allocated_storage_gb or prune examples"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "database" {
  for_each            = local.db_alarms
  alarm_name          = "${local.name}-database-${each.key}"
  alarm_description   = "mlseam ${var.environment} database: ${each.value.says} (infra/README.md, alerts)."
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  treat_missing_data  = "missing"
  alarm_actions       = [local.alerts_topic_arn]
  ok_actions          = [local.alerts_topic_arn]
  tags                = var.tags
}

# The bearer token product backends send to /<service>/v1/. Operators put its value (infra/README.md);
# Terraform never sees it.
resource "aws_secretsmanager_secret" "api_token" {
  # checkov:skip=CKV2_AWS_57: the token is shared with the product backends, so rotating it is a coordinated manual step (infra/README.md)
  name        = "${local.name}/api-token"
  description = "Bearer token of the mlseam ${var.environment} APIs (MLSEAM_API_TOKEN_SECRET_ID)"
  kms_key_id  = aws_kms_key.this.arn
  # A disposable environment is destroyed and re-created: a secret pending deletion would keep its name taken.
  recovery_window_in_days = var.disposable ? 0 : 7
  tags                    = var.tags
}
