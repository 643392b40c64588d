# One inference service: names, sizes, schedule and container environment derived from its manifest.

locals {
  prefix   = var.platform.name_prefix # mlseam-<environment>: also MLSEAM_QUEUE_PREFIX
  family   = "${var.platform.name_prefix}-${var.name}"
  commands = toset(["api", "worker", "retrain"])

  # Absent manifest keys take mlseam's defaults (mlseam/manifest/). Only a service whose versions can wait
  # in this environment (approve, auto_after_shadow) or that shadows candidates for a while ever has a
  # challenger (Manifest.may_shadow); local.promotion is the policy here (iam.tf).
  may_shadow = var.shadow_memory > 0 && try(var.manifest.shadow.share, 0.1) > 0 && (
    local.promotion != "auto" || try(var.manifest.shadow.auto_after_shadow, false) || try(var.manifest.shadow.candidates_for, null) != null
  )
  sizes = {
    # A challenger in shadow is a second Python with its model: an API that may hold one gets shadow_memory
    # more, rounded up to a whole GiB as Fargate sizes go.
    api     = { cpu = try(var.manifest.resources.api.cpu, 256), memory = local.may_shadow ? ceil((try(var.manifest.resources.api.memory, 512) + var.shadow_memory) / 1024) * 1024 : try(var.manifest.resources.api.memory, 512) }
    worker  = { cpu = try(var.manifest.resources.worker.cpu, 256), memory = try(var.manifest.resources.worker.memory, 512) }
    retrain = { cpu = try(var.manifest.resources.retrain.cpu, 1024), memory = try(var.manifest.resources.retrain.memory, 4096) }
  }

  # The manifest's 5-field cron (UTC) as EventBridge Scheduler's
  # cron(minutes hours day-of-month month day-of-week year), where one day field must be "?".
  # mlseam refuses crons restricting both day fields or stepping the day of week.
  cron = regexall("\\S+", try(var.manifest.schedule, "0 3 * * *"))
  # Day-of-week numbers to names (0 and 7 are Sunday); the names hold no digit, so the order is safe.
  cron_dow            = replace(replace(replace(replace(replace(replace(replace(replace(local.cron[4], "0", "SUN"), "1", "MON"), "2", "TUE"), "3", "WED"), "4", "THU"), "5", "FRI"), "6", "SAT"), "7", "SUN")
  cron_days           = local.cron[4] == "*" ? "${local.cron[2]} ${local.cron[3]} ?" : "? ${local.cron[3]} ${local.cron_dow}"
  schedule_expression = "cron(${local.cron[0]} ${local.cron[1]} ${local.cron_days} *)"

  # Where this service's data lives: every key starts with the service, which scopes its IAM.
  artifacts_prefix  = "artifacts"
  batches_prefix    = "batches"
  artifacts_objects = "${var.platform.artifacts_bucket_arn}/${local.artifacts_prefix}/${var.name}/*"
  batches_objects   = "${var.platform.batches_bucket_arn}/${local.batches_prefix}/${var.name}/*"
  registry_keys     = ["SERVICE#${var.name}"]
  batch_keys        = ["batch#${var.name}#*"]

  # MLSEAM_* settings (mlseam/settings.py). Secrets appear only as Secrets Manager ARNs (*_SECRET_ID):
  # the app fetches their values at run time, so a rotation needs no redeploy.
  environment = {
    MLSEAM_ENVIRONMENT                = var.platform.environment
    MLSEAM_SERVICE                    = var.name
    MLSEAM_AWS_REGION                 = var.platform.region
    MLSEAM_REGISTRY_TABLE             = var.platform.registry_table_name
    MLSEAM_ARTIFACTS_BUCKET           = var.platform.artifacts_bucket_name
    MLSEAM_ARTIFACTS_PREFIX           = local.artifacts_prefix
    MLSEAM_BATCHES_TABLE              = var.platform.batches_table_name
    MLSEAM_BATCHES_BUCKET             = var.platform.batches_bucket_name
    MLSEAM_BATCHES_PREFIX             = local.batches_prefix
    MLSEAM_QUEUE_PREFIX               = local.prefix
    MLSEAM_BATCH_MAX_RECEIVES         = tostring(var.batch_max_receives)
    MLSEAM_BATCH_VISIBILITY_TIMEOUT_S = tostring(var.batch_visibility_timeout_s)
    MLSEAM_BATCH_RETENTION_DAYS       = tostring(var.platform.batch_retention_days)
    MLSEAM_CODE_VERSION               = var.image_tag
    MLSEAM_DATABASE_URL               = var.platform.database_url
    MLSEAM_SIGNING_KEY_ID             = var.platform.signing_key_arn
    MLSEAM_EVENTS_TOPIC_ARN           = aws_sns_topic.events.arn
    # The API and the worker log predictions; the monitor reads them; each writer drops old days.
    MLSEAM_PREDICTION_LOG_SHARE          = tostring(var.prediction_log_share)
    MLSEAM_PREDICTION_LOG_RETENTION_DAYS = tostring(var.prediction_log_retention_days)
  }
  command_environment = {
    api = merge(local.environment, {
      MLSEAM_SERVE_HOST          = "0.0.0.0"
      MLSEAM_SERVE_PORT          = "8080"
      MLSEAM_DATABASE_SECRET_ID  = var.platform.database_secret_arn
      MLSEAM_API_TOKEN_SECRET_ID = var.platform.api_token_secret_arn
    })
    # The worker reads no examples, but it logs the predictions of batch items.
    worker  = merge(local.environment, { MLSEAM_DATABASE_SECRET_ID = var.platform.database_secret_arn })
    retrain = merge(local.environment, { MLSEAM_DATABASE_SECRET_ID = var.platform.database_secret_arn })
  }
}
