"""Offline check of the dead-letter bucket's promises, read from the module's source.

The worker's role may do exactly one thing in S3: put objects under the dead-letter prefix
(iam.tf); the bucket refuses plain HTTP, blocks public access, encrypts with the module's key and
expires objects after `dead_letter_expiry_days` (deadletters.tf). `terraform test` checks the
wiring with the provider; this runs where the provider registry is out of reach, so
scripts/check-infra runs it on every branch. It reads the configuration as written (python-hcl2,
from the pinned tool venv), so it checks the module's text, not a plan.

Run: python dead_letter_bucket.py
"""

import pathlib
import sys

import hcl2

MODULE = pathlib.Path(__file__).resolve().parent.parent
PREFIX_OBJECTS = "${aws_s3_bucket.dead_letters.arn}/${local.dead_letter_prefix}/*"


def one(value):
    """python-hcl2 wraps attribute values in lists of one; unwrap them."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def as_list(value):
    value = one(value)
    return value if isinstance(value, list) else [value]


def blocks(tf, kind, type_name, name):
    for block in tf.get(kind, []):
        if type_name in block and name in block[type_name]:
            return block[type_name][name]
    raise SystemExit(f"{kind} {type_name}.{name} is missing")


def main():
    iam = hcl2.load((MODULE / "iam.tf").open())
    bucket = hcl2.load((MODULE / "deadletters.tf").open())
    wrong = []

    task = blocks(iam, "data", "aws_iam_policy_document", "task")
    s3_statements = []
    for statement in task["statement"]:
        # "*" grants every S3 action too; "s3:*" and "s3:Put*" are S3 actions.
        actions = [
            a for a in as_list(statement.get("actions")) if str(a) == "*" or str(a).lower().startswith("s3:")
        ]
        if actions:
            s3_statements.append((actions, as_list(statement.get("resources"))))
    if s3_statements != [(["s3:PutObject"], [PREFIX_OBJECTS])]:
        wrong.append(
            f"the worker's role must hold exactly s3:PutObject on {PREFIX_OBJECTS}; it holds {s3_statements}"
        )

    policy = blocks(bucket, "data", "aws_iam_policy_document", "dead_letters")
    tls = [
        s
        for s in policy["statement"]
        if one(s.get("effect")) == "Deny"
        and as_list(s.get("actions")) == ["s3:*"]
        and any(
            one(c.get("variable")) == "aws:SecureTransport" and as_list(c.get("values")) == ["false"]
            for c in s.get("condition", [])
        )
    ]
    covered = set(as_list(tls[0].get("resources"))) if tls else set()
    if covered != {"${aws_s3_bucket.dead_letters.arn}", "${aws_s3_bucket.dead_letters.arn}/*"}:
        wrong.append("the bucket policy must deny every request over plain HTTP, to the bucket and its objects")

    public = blocks(bucket, "resource", "aws_s3_bucket_public_access_block", "dead_letters")
    flags = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
    if not all(one(public.get(flag)) is True for flag in flags):
        wrong.append(f"the bucket must block public access ({', '.join(flags)})")

    encryption = blocks(bucket, "resource", "aws_s3_bucket_server_side_encryption_configuration", "dead_letters")
    default = one(one(one(encryption["rule"]).get("apply_server_side_encryption_by_default")))
    if (one(default.get("sse_algorithm")), one(default.get("kms_master_key_id"))) != (
        "aws:kms",
        "${aws_kms_key.this.arn}",
    ):
        wrong.append("the bucket must encrypt with the module's KMS key by default")

    lifecycle = blocks(bucket, "resource", "aws_s3_bucket_lifecycle_configuration", "dead_letters")
    expiry = [
        one(one(rule.get("expiration")).get("days"))
        for rule in as_list(lifecycle.get("rule"))
        if rule.get("expiration") and one(rule.get("status")) == "Enabled"
    ]
    if expiry != ["${var.dead_letter_expiry_days}"]:
        wrong.append(f"objects must expire after var.dead_letter_expiry_days (found {expiry})")

    if wrong:
        sys.exit("dead-letter bucket:\n  " + "\n  ".join(wrong))
    print("dead-letter bucket: put-only role, TLS only, private, encrypted with the module's key, expiring")


if __name__ == "__main__":
    main()
