# One execution role (pull the image, write logs) and one least-privilege task role per command.
# Every data statement is scoped to this service: its key prefixes, its queues, its secrets.

# Who may assume the service's roles: ECS tasks (execution and task roles), EventBridge Scheduler
# (the retrain schedule) and EventBridge (an interrupted Spot retrain run again, retrain.tf), each
# only on behalf of this account.
data "aws_iam_policy_document" "assume" {
  for_each = toset(["ecs-tasks", "scheduler", "events"])
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.platform.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.family}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs-tasks"].json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrLogin"
    # GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" for it.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullOwnImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.this.arn]
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  for_each           = local.commands
  name               = "${local.family}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs-tasks"].json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  for_each = local.commands
  name     = "${each.key}-least-privilege"
  role     = aws_iam_role.task[each.key].id
  policy = {
    api     = data.aws_iam_policy_document.api.json
    worker  = data.aws_iam_policy_document.worker.json
    retrain = data.aws_iam_policy_document.retrain.json
  }[each.key]
}

# The environment's data key: every object, item, queue and secret the service uses is encrypted with it.
data "aws_iam_policy_document" "data_key" {
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.platform.kms_key_arn]
  }
}

locals {
  # The manifest's promotion policy here (mlseam/manifest/): auto unless it says approve.
  promotion = try(var.manifest.promotion[var.platform.environment], "auto")
  # Under approve, the retrain role may write only the attribute names of versions, the version
  # counter and the monitor's measurements: the champion pointer's `version` and `since` and the
  # history's `action` and `to_version` are the approver's (mlseam/registry/dynamo.py).
  retrain_attributes = ["pk", "sk", "last_version", "status", "record", "live", "drift"]
}

# The service's models (its artifacts and registry items): serving reads them (api, worker) and
# verifies their signatures, retraining also writes and signs them (conditional writes: ConditionCheckItem).
data "aws_iam_policy_document" "models" {
  for_each = {
    read       = { s3 = ["s3:GetObject"], dynamodb = ["dynamodb:GetItem", "dynamodb:Query"], kms = ["kms:Verify"] }
    read_write = { s3 = ["s3:GetObject", "s3:PutObject"], dynamodb = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"], kms = ["kms:Sign", "kms:Verify"] }
  }
  source_policy_documents = [data.aws_iam_policy_document.data_key.json]
  statement {
    sid       = "OwnArtifacts"
    actions   = each.value.s3
    resources = [local.artifacts_objects]
  }
  # Digests only, with the one algorithm mlseam uses: the key signs nothing else.
  statement {
    sid       = "ArtifactSignatures"
    actions   = each.value.kms
    resources = [var.platform.signing_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:MessageType"
      values   = ["DIGEST"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = ["ECDSA_SHA_256"]
    }
  }
  statement {
    sid       = "OwnRegistryItems"
    actions   = each.value.dynamodb
    resources = [var.platform.registry_table_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = local.registry_keys
    }
  }
}

# What batches need (api and worker): the service's batch items and objects.
data "aws_iam_policy_document" "batch_store" {
  statement {
    sid       = "OwnBatchItems"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [var.platform.batches_table_arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = local.batch_keys
    }
  }
  statement {
    sid       = "OwnBatchObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.batches_objects]
  }
}

# Retraining under approve: read everything of the service, write artifacts, and write registry
# items only with the attribute names of versions, so a pending candidate is recorded but the
# champion never moves (its pointer and history need names this role cannot write).
data "aws_iam_policy_document" "models_fenced" {
  source_policy_documents = [data.aws_iam_policy_document.models["read"].json]
  statement {
    sid       = "WriteOwnArtifacts"
    actions   = ["s3:PutObject"]
    resources = [local.artifacts_objects]
  }
  statement {
    sid       = "WriteOwnVersionsNotTheChampion"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.platform.registry_table_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = local.registry_keys
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:Attributes"
      values   = local.retrain_attributes
    }
  }
}

# What an operator who approves, rejects, promotes or rolls back this service needs (the `mlseam`
# CLI): read and write its registry items, the champion pointer included, check artifacts'
# digests, publish the move. Attach the approver_policy_arn output to the operators' role.
data "aws_iam_policy_document" "approver" {
  source_policy_documents = [data.aws_iam_policy_document.publish_events.json, data.aws_iam_policy_document.data_key.json]
  statement {
    sid       = "ReadOwnArtifacts"
    actions   = ["s3:GetObject"]
    resources = [local.artifacts_objects]
  }
  statement {
    sid       = "MoveOwnChampion"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [var.platform.registry_table_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = local.registry_keys
    }
  }
}

resource "aws_iam_policy" "approver" {
  name        = "${local.family}-approver"
  description = "Approve, reject, promote and roll back ${var.name} in ${var.platform.environment} (the mlseam CLI)"
  policy      = data.aws_iam_policy_document.approver.json
  tags        = var.tags
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.models["read"].json, data.aws_iam_policy_document.batch_store.json, data.aws_iam_policy_document.publish_events.json]
  statement {
    sid       = "SubmitBatchChunks"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.batches.arn]
  }
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.platform.api_token_secret_arn, var.platform.database_secret_arn]
  }
}

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [data.aws_iam_policy_document.models["read"].json, data.aws_iam_policy_document.batch_store.json]
  statement {
    sid       = "ConsumeBatchChunks"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.batches.arn, aws_sqs_queue.batches_dlq.arn]
  }
  statement {
    sid       = "MovePoisonChunks"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.batches_dlq.arn]
  }
  statement {
    sid       = "ReadDatabaseSecret" # to log the predictions of batch items
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.platform.database_secret_arn]
  }
}

data "aws_iam_policy_document" "retrain" {
  source_policy_documents = [
    local.promotion == "approve" ? data.aws_iam_policy_document.models_fenced.json : data.aws_iam_policy_document.models["read_write"].json,
    data.aws_iam_policy_document.publish_events.json,
  ]
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.platform.database_secret_arn]
  }
}
