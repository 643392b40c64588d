# PostgreSQL of labelled examples. RDS keeps the master password in Secrets Manager and rotates it;
# tasks get the secret's ARN (MLSEAM_DATABASE_SECRET_ID), never the password.

locals {
  db_name     = "mlseam"
  db_username = "mlseam"
  # No password in the URL: the app reads it from the secret at connect time (rotation-safe).
  database_url = "postgresql://${local.db_username}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${local.db_name}?sslmode=require"
}

resource "aws_db_subnet_group" "this" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name   = "${local.name}-postgres${split(".", var.db_engine_version)[0]}"
  family = "postgres${split(".", var.db_engine_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# RDS would create these on first export, unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "db" {
  for_each          = toset(["postgresql", "upgrade"])
  name              = "/aws/rds/instance/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags
}

# A new id (a UUID) each time the environment is created: the final snapshot of one
# environment's life never collides with that of the previous one.
resource "terraform_data" "database_generation" {
  input = local.name
}

resource "aws_db_instance" "this" {
  # checkov:skip=CKV_AWS_293: deletion protection follows var.deletion_protection: on in prod, off in the disposable dev
  # checkov:skip=CKV_AWS_157: Multi-AZ follows var.db_multi_az: on in prod, off in dev to halve its cost
  identifier     = local.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  db_name                       = local.db_name
  username                      = local.db_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.this.arn

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name
  multi_az               = var.db_multi_az

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "01:00-01:30"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.disposable
  final_snapshot_identifier = "${local.name}-final-${terraform_data.database_generation.id}"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.this.arn

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.db, aws_iam_role_policy_attachment.rds_monitoring]
}
