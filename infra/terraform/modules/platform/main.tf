# Shared values of the platform: names, account and the ALB listener-rule priority of each service.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Subnets take the first az_count zone names in sorted order. No state filter: a zone that is
# briefly impaired must not shift the list (that would replace subnets).
data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394: only the first az_count names are used and AWS adds zones after existing ones; zone names differ per account, so they cannot be pinned here
}

locals {
  name       = "mlseam-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # A rule's priority comes from its service's name alone, so adding or removing a service never
  # renumbers the others (renumbering rules in place can collide mid-apply). Paths never overlap,
  # so the order itself does not matter. Priority 1 belongs to the rule refusing /*/metrics (alb.tf).
  listener_rule_priorities = { for name in var.service_names : name => 2 + parseint(substr(sha256(name), 0, 8), 16) % 49998 }
}
