"""Least privilege in the roles: every permission spelled out (no managed policies), no wildcard
action, no Resource "*", the auditor read-only and never granted the export bucket, the tagger
never granted the signing key (it only submits; the sequencer alone signs), and none of the
actions the code never calls (the list in UNUSED)."""

import re

WRITE = re.compile(r"^(s3:(Put|Delete|Abort|Restore|Replicate|Bypass)|secretsmanager:|kms:(Encrypt|GenerateDataKey))")

# Granted once, never called by the code (issue 13): each would widen what a stolen role can do.
UNUSED = {
    "TaggerRole": {"s3:GetObjectRetention", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes",
                   "s3:ListBucketVersions", "sqs:ChangeMessageVisibility"},
    "AuditorRole": {"s3:GetObjectAttributes", "s3:GetObjectVersionAttributes", "s3:ListBucketVersions",
                    "s3:GetObjectTagging", "s3:GetObjectVersionTagging"},
}


def statements(policy_document):
    """Every statement, both branches of a conditional one, minus AWS::NoValue."""
    stmts = policy_document.get("Statement", [])
    stmts = stmts if isinstance(stmts, list) else [stmts]
    out = []
    for s in stmts:
        if isinstance(s, dict) and "Fn::If" in s:
            out += [b for b in s["Fn::If"][1:] if isinstance(b, dict) and b != {"Ref": "AWS::NoValue"}]
        else:
            out.append(s)
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def mentions_export_bucket(resource):
    return "ExportBucketName" in str(resource) or "ExportKmsKeyArn" in str(resource)


def check(resources, finding):
    for role_id in ("TaggerRole", "SequencerRole", "AuditorRole", "BatchOperationsRole"):
        role = resources.get(role_id)
        if not role:
            finding(f"{role_id}: missing")
            continue
        if role["Properties"].get("ManagedPolicyArns"):
            finding(f"{role_id}: attaches managed policies; every permission must be spelled out and scoped")
        for policy in role["Properties"].get("Policies", []):
            for s in statements(policy["PolicyDocument"]):
                sid = s.get("Sid", "?")
                if s.get("Effect") != "Allow":
                    continue
                for action in as_list(s.get("Action", [])):
                    if "*" in action:
                        finding(f"{role_id}/{sid}: wildcard action {action}")
                    if role_id == "AuditorRole" and WRITE.match(action):
                        finding(f"{role_id}/{sid}: the auditor must be read-only, but is granted {action}")
                    if role_id == "TaggerRole" and action.startswith("secretsmanager:"):
                        finding(f"{role_id}/{sid}: the tagger only submits and never signs, but is granted {action}")
                    if action in UNUSED.get(role_id, ()):
                        finding(f"{role_id}/{sid}: grants {action}, which the code never calls")
                for resource in as_list(s.get("Resource", [])):
                    if resource == "*":
                        finding(f"{role_id}/{sid}: Resource is *")
                    if role_id == "AuditorRole" and mentions_export_bucket(resource):
                        finding(f"{role_id}/{sid}: the auditor reads the ledger only, but is granted the export bucket")
