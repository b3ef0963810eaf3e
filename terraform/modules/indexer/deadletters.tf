# Dead letters: items a run could not index, kept after the task stops. The worker writes one
# object per part under <prefix>/<alias>/<job id>/worker-<i>…, encrypted with the module's key.
# They hold personal data (whole source items), so the bucket is private, TLS-only, and expires
# them after `dead_letter_expiry_days`: long enough to fix and resync the items, no longer.

resource "aws_s3_bucket" "dead_letters" {
  # checkov:skip=CKV_AWS_18: access logging needs a separate log bucket per environment; CloudTrail data events (the account's trail) are where reads of this bucket are audited
  # checkov:skip=CKV_AWS_144: dead letters are short-lived working copies of items the table already holds in its own region; replicating personal data to a second region widens exposure for no recovery gain
  # checkov:skip=CKV2_AWS_62: nothing consumes object events; failed runs are announced by the SNS topic and the alarms
  bucket        = "${local.name}-dead-letters-${local.account_id}"
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "dead_letters" {
  bucket                  = aws_s3_bucket.dead_letters.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

# Versioning keeps an object overwritten by mistake (a rerun reusing a job id) for the same
# expiry window as current objects; the worker itself never overwrites an object.
resource "aws_s3_bucket_versioning" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id

  rule {
    id     = "expire-dead-letters"
    status = "Enabled"
    filter {}

    expiration {
      days = var.dead_letter_expiry_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.dead_letter_expiry_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.dead_letters]
}

data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid     = "DenyPlainHttp"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.dead_letters.arn,
      "${aws_s3_bucket.dead_letters.arn}/*",
    ]
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
  statement {
    sid       = "DenyObjectsNotEncryptedWithTheModuleKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.dead_letters.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.this.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "dead_letters" {
  bucket = aws_s3_bucket.dead_letters.id
  policy = data.aws_iam_policy_document.dead_letters.json

  depends_on = [aws_s3_bucket_public_access_block.dead_letters]
}

locals {
  # Where the worker writes dead letters: DEAD_LETTER_PATH in the task's environment.
  dead_letter_prefix = trim(var.dead_letter_prefix, "/")
  dead_letter_path   = "s3://${aws_s3_bucket.dead_letters.id}/${local.dead_letter_prefix}/"
}
