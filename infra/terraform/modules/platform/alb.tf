# The one public entry point: HTTPS only; each service adds a /<service>/* rule (modules/ml-service).

resource "aws_lb" "this" {
  # checkov:skip=CKV_AWS_150: deletion protection follows var.deletion_protection: on in prod, off in the disposable dev
  # checkov:skip=CKV2_AWS_28: callers are the product's own backends with bearer tokens; a WAF is an add-on with its own cost, see infra/README.md
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }

  tags       = var.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  # Same error shape as the services' own 404s.
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ error = { code = "not_found", message = "No service here: call /<service>/v1/..." } })
    }
  }

  tags = var.tags
}

# Prometheus scrapes each task inside the VPC; from outside, /<service>/metrics is not an API.
# Priority 1 is kept for this rule, so it is matched before every service's /<service>/* rule.
resource "aws_lb_listener_rule" "no_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ error = { code = "not_found", message = "metrics are not served through the load balancer" } })
    }
  }

  condition {
    path_pattern {
      values = ["/*/metrics", "/*/metrics/"]
    }
  }

  tags = var.tags
}

resource "aws_ecs_cluster" "this" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

# Fargate Spot for interruptible work (workers, retrains: modules/ml-service use_spot); on-demand by default.
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}
