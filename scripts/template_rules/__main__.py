"""python -m template_rules TEMPLATE EVENTS_DIR EXPANDED_OUT --env-vars FILE [--env-vars FILE ...]

Expands TEMPLATE into EXPANDED_OUT (for cfn-lint and checkov), then applies every project rule;
prints the findings and exits 1 when there is any."""

import argparse
import json
import sys
from pathlib import Path

from . import deployment, env_vars, events, privilege
from .expand import expand

# The required parameters; all others keep their defaults.
PARAMS = {
    "ExportBucketName": "genesys-exports-example",
    "SigningKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:custody/ledger-signing-key-AbC123",
    "LedgerVerifierKeys": "custody.example.com/ledger+0a1b2c3d+AU7cOW3Ur8Yr9cFhCFh6h0w+Ttrd0IGmgVNFwjKJ0Ld7",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="template_rules")
    parser.add_argument("template")
    parser.add_argument("events_dir")
    parser.add_argument("expanded")
    parser.add_argument("--env-vars", action="append", default=[])
    args = parser.parse_args(argv)
    findings = []
    sam, cfn = expand(args.template, PARAMS, findings.append)
    if cfn is not None:
        Path(args.expanded).write_text(json.dumps(cfn, indent=1))
        resources = cfn.get("Resources", {})
        env_vars.check(resources, env_vars.load_specs(args.env_vars), findings.append)
        deployment.check(sam, resources, findings.append)
        privilege.check(resources, findings.append)
    events.check(args.events_dir, findings.append)
    for f in findings:
        print(f)
    print(f"{len(findings)} finding(s) in {args.template} and {args.events_dir}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
