# The service's platform events (champion moves, pending candidates, refused and failed retrains,
# reload failures, drift flags) as JSON messages of schema mlseam.event/1 (README.md, "Events").
# The environment's alert subscribers get every event too (infra/README.md, "Events"); add your own
# subscriptions beside them (a queue, a Lambda), with a filter policy on `type` if you like.

resource "aws_sns_topic" "events" {
  name              = "${local.family}-events"
  kms_master_key_id = var.platform.kms_key_arn
  tags              = var.tags
}

# Publishers: the API (reload failures), the retrain task (retrains, promotions, drift) and the
# approver policy (approvals, rejections, manual promotions and rollbacks).
data "aws_iam_policy_document" "publish_events" {
  statement {
    sid       = "PublishOwnEvents"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn]
  }
}

resource "aws_sns_topic_subscription" "events" {
  for_each  = var.platform.alert_subscriptions
  topic_arn = aws_sns_topic.events.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}
