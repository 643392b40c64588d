output "cluster_name" {
  description = "ECS cluster every service runs in."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "vpc_id" {
  description = "VPC of the environment."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Subnets of the tasks and the database (no public IPs, egress through NAT)."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Subnets of the load balancer and the NAT gateways."
  value       = aws_subnet.public[*].id
}

output "tasks_security_group_id" {
  description = "Security group of every task: 8080 from the load balancer, egress 443 and 5432."
  value       = aws_security_group.tasks.id
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (point the API's domain here)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "https_listener_arn" {
  description = "HTTPS listener the services attach their /<service>/* rules to."
  value       = aws_lb_listener.https.arn
}

output "kms_key_arn" {
  description = "Customer-managed key encrypting the environment's data."
  value       = aws_kms_key.this.arn
}

output "signing_key_arn" {
  description = "Asymmetric key signing model artifact digests (MLSEAM_SIGNING_KEY_ID): retrain roles sign, task roles verify."
  value       = aws_kms_key.signing.arn
}

output "database_url" {
  description = "PostgreSQL URL without password (MLSEAM_DATABASE_URL)."
  value       = local.database_url
}

output "database_secret_arn" {
  description = "RDS-managed secret holding the database username and password (MLSEAM_DATABASE_SECRET_ID)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "api_token_secret_arn" {
  description = "Secret the operators fill with the API bearer token (MLSEAM_API_TOKEN_SECRET_ID)."
  value       = aws_secretsmanager_secret.api_token.arn
}

output "alerts_topic_arn" {
  description = "SNS topic of the environment's alerts."
  value       = local.alerts_topic_arn
}

output "service_platform" {
  description = "Everything modules/ml-service needs, as one value (its `platform` variable)."
  value = {
    environment              = var.environment
    region                   = var.region
    account_id               = local.account_id
    partition                = local.partition
    name_prefix              = local.name
    vpc_id                   = aws_vpc.this.id
    private_subnet_ids       = aws_subnet.private[*].id
    tasks_security_group_id  = aws_security_group.tasks.id
    cluster_arn              = aws_ecs_cluster.this.arn
    cluster_name             = aws_ecs_cluster.this.name
    https_listener_arn       = aws_lb_listener.https.arn
    alb_arn_suffix           = aws_lb.this.arn_suffix
    listener_rule_priorities = local.listener_rule_priorities
    kms_key_arn              = aws_kms_key.this.arn
    signing_key_arn          = aws_kms_key.signing.arn
    registry_table_name      = aws_dynamodb_table.this["registry"].name
    registry_table_arn       = aws_dynamodb_table.this["registry"].arn
    batches_table_name       = aws_dynamodb_table.this["batches"].name
    batches_table_arn        = aws_dynamodb_table.this["batches"].arn
    artifacts_bucket_name    = aws_s3_bucket.artifacts.id
    artifacts_bucket_arn     = aws_s3_bucket.artifacts.arn
    batches_bucket_name      = aws_s3_bucket.artifacts.id
    batches_bucket_arn       = aws_s3_bucket.artifacts.arn
    database_url             = local.database_url
    database_secret_arn      = aws_db_instance.this.master_user_secret[0].secret_arn
    api_token_secret_arn     = aws_secretsmanager_secret.api_token.arn
    alerts_topic_arn         = local.alerts_topic_arn
    alert_subscriptions      = local.alert_subscriptions
    batch_retention_days     = var.batch_retention_days
    log_retention_days       = var.log_retention_days
    disposable               = var.disposable
  }
  # Workers and retrains may ask for Fargate Spot only once the cluster offers it.
  depends_on = [aws_ecs_cluster_capacity_providers.this]

  precondition {
    condition     = length(distinct(values(local.listener_rule_priorities))) == length(local.listener_rule_priorities)
    error_message = "Two service names hash to the same ALB listener-rule priority; rename one of the services."
  }
}

output "task_network" {
  description = "Cluster, subnets and security groups a one-off task (e.g. `mlseam migrate`) runs with."
  value = {
    cluster         = aws_ecs_cluster.this.name
    subnets         = aws_subnet.private[*].id
    security_groups = [aws_security_group.tasks.id]
  }
}
