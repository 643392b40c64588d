# DynamoDB tables and the S3 bucket the services share; every key is prefixed by its service,
# which is what lets each service's task roles reach only their own items and objects.

resource "aws_dynamodb_table" "this" {
  # registry: pk SERVICE#<service> (versions, metrics, champion); batches: pk batch#<service>#<id>.
  for_each                    = toset(["registry", "batches"])
  name                        = "${local.name}-${each.key}"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags
}

# Artifacts (artifacts/<service>/<version>/model.pkl, written once) and batches
# (batches/<service>/<batch id>/..., expired after the batch retention) share one bucket.
resource "aws_s3_bucket" "artifacts" {
  # checkov:skip=CKV_AWS_144: artifacts are rebuilt by a retrain and batches are short-lived; cross-region replication is not worth its cost here
  # checkov:skip=CKV2_AWS_62: nothing reacts to object events: the registry in DynamoDB is the source of truth
  bucket = "${local.name}-artifacts-${local.account_id}"
  # Versioned and never empty: only a disposable environment may delete it with its objects.
  force_destroy = var.disposable
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3-access/${aws_s3_bucket.artifacts.id}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-batches"
    status = "Enabled"
    filter {
      prefix = "batches/"
    }
    # S3 rounds to the next midnight UTC; one more day keeps results at least the retention.
    expiration {
      days = ceil(var.batch_retention_days) + 1
    }
  }

  rule {
    id     = "noncurrent-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

# Both buckets (artifacts, logs) refuse plain HTTP; the logs bucket's policy adds its writers (logs.tf).
data "aws_iam_policy_document" "tls_only" {
  for_each = { artifacts = aws_s3_bucket.artifacts.arn, logs = aws_s3_bucket.logs.arn }
  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket     = aws_s3_bucket.artifacts.id
  policy     = data.aws_iam_policy_document.tls_only["artifacts"].json
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
