# One customer-managed key encrypts the environment's data at rest: tables, buckets, queues,
# secrets, logs, images, the database and the alerts topic. Task roles get Decrypt on it.

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109: in a key policy "*" means this key; the account root statement delegates to IAM
  # checkov:skip=CKV_AWS_111: in a key policy "*" means this key; the account root statement delegates to IAM
  # checkov:skip=CKV_AWS_356: in a key policy "*" means this key; the account root statement delegates to IAM
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsOfThisAccount"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  # EventBridge (failed retrains) and CloudWatch alarms (dead letters) publish to the encrypted topic.
  statement {
    sid       = "AlertPublishers"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
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

resource "aws_kms_key" "this" {
  description             = "mlseam ${var.environment}: data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

# The asymmetric key that signs each model artifact's sha256 (mlseam/artifacts/signing.py). Only the
# retrain roles may sign with it and the task roles may only verify: the key policy grants no one
# else Sign or Verify (the account administers the key through IAM, but cannot use it), and each
# role's own policy must grant the same action too (ml-service iam.tf). Roles are matched by name
# because they are created per service after this key; every role of a service is
# mlseam-<env>-<service>-{execution,api,worker,retrain}, so only retrain roles end in "-retrain".
locals {
  retrain_roles = "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-*-retrain"
  task_roles = [for command in ["api", "worker", "retrain"] :
  "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-*-${command}"]
}

data "aws_iam_policy_document" "signing_key" {
  # checkov:skip=CKV_AWS_109: in a key policy "*" means this key; administration is delegated to IAM, use is not
  # checkov:skip=CKV_AWS_111: in a key policy "*" means this key; administration is delegated to IAM, use is not
  # checkov:skip=CKV_AWS_356: in a key policy "*" means this key; administration is delegated to IAM, use is not
  statement {
    sid = "AccountAdministersThroughIam"
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
      "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
      "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "RetrainRolesSignDigests"
    actions   = ["kms:Sign"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = [local.retrain_roles]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:MessageType"
      values   = ["DIGEST"]
    }
  }

  statement {
    sid       = "TaskRolesVerify"
    actions   = ["kms:Verify"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = local.task_roles
    }
  }

  # Belt and braces: even a future statement or grant cannot let anyone but a retrain role sign.
  statement {
    sid       = "NobodyElseSigns"
    effect    = "Deny"
    actions   = ["kms:Sign"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotLike"
      variable = "aws:PrincipalArn"
      values   = [local.retrain_roles]
    }
  }
}

resource "aws_kms_key" "signing" {
  # checkov:skip=CKV_AWS_7: KMS cannot rotate asymmetric keys; a new key means re-signing (infra/README.md)
  description              = "mlseam ${var.environment}: signs model artifact digests"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.signing_key.json
  tags                     = var.tags
}

resource "aws_kms_alias" "signing" {
  name          = "alias/${local.name}-artifact-signing"
  target_key_id = aws_kms_key.signing.key_id
}
