"""SAM -> CloudFormation, offline: samtranslator's transform with the managed-policy list bundled
with samtranslator instead of IAM calls, and local CodeUri values replaced as `sam package` would."""

import json
import os
from pathlib import Path


def expand(template_path, params, finding):
    """The SAM template and its expansion; None for the expansion when samtranslator refuses it."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class BundledManagedPolicies(ManagedPolicyLoader):
        """Managed policy names resolved from the list bundled with samtranslator instead of IAM."""

        def __init__(self):
            super().__init__(iam_client=None)

        def load(self):
            import samtranslator

            path = Path(samtranslator.__file__).parent / "internal/data/aws_managed_policies.json"
            return json.loads(path.read_text())["aws"]

    # samtranslator asks boto for a region; the check is offline and region-independent.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sam = yaml_parse(Path(template_path).read_text())
    for logical_id, res in sam.get("Resources", {}).items():
        is_function = res.get("Type") == "AWS::Serverless::Function"
        code_uri = res.get("Properties", {}).get("CodeUri") if is_function else None
        if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
            if not (Path(template_path).parent / code_uri / "Cargo.toml").is_file():
                finding(f"{logical_id}: CodeUri {code_uri} has no Cargo.toml next to the template")
            res["Properties"]["CodeUri"] = f"s3://custody-check-placeholder/{logical_id}.zip"
    try:
        cfn = transform(json.loads(json.dumps(sam)), params, BundledManagedPolicies())
    except Exception as exc:  # samtranslator raises InvalidDocumentException with every cause
        causes = "".join(f"\n  - {c.message}" for c in getattr(exc, "causes", []) or [])
        finding(f"samtranslator could not expand {template_path}: {exc}{causes}")
        return sam, None
    return sam, cfn
