# Where operators hear about failed retrains and dead-lettered work (see infra/README.md).
# Subscribe an address or a chat integration to the topic; nothing is subscribed here.

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
}

# The bearer token product backends send to /<service>/v1/. Operators put its value (infra/README.md);
# Terraform never sees it.
resource "aws_secretsmanager_secret" "api_token" {
  # checkov:skip=CKV2_AWS_57: the token is shared with the product backends, so rotating it is a coordinated manual step (infra/README.md)
  name        = "${local.name}/api-token"
  description = "Bearer token of the mlseam ${var.environment} APIs (MLSEAM_API_TOKEN_SECRET_ID)"
  kms_key_id  = aws_kms_key.this.arn
  # A secret in its recovery window keeps its name: a destroyed dev could not be applied again for
  # a week. Protected envs keep the window, to undo a deletion.
  recovery_window_in_days = var.deletion_protection ? 7 : 0
  tags                    = var.tags
}
