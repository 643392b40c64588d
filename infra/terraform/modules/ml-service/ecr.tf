# The service's image repository: CI creates it first
# (-target=module.environment.module.service["<name>"].aws_ecr_repository.this), pushes the image
# tagged with the git SHA, then applies everything.

resource "aws_ecr_repository" "this" {
  name                 = "${local.prefix}/${var.name}"
  image_tag_mutability = "IMMUTABLE"
  # A disposable environment's repositories go with their images on destroy.
  force_delete = var.platform.disposable

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.platform.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last ${var.ecr_keep_images} images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = var.ecr_keep_images }
      action       = { type = "expire" }
    }]
  })
}
