"""Each function's environment variables against the lists its Rust code exports.

functions/<crate>/env-vars.json (written from the Rust constants by a test in that crate):
  {"function": "TaggerFunction", "required": [...], "optional": [...], "local": [...]}
required: the template must set it; optional: it may; local: it must not (local S3 endpoints, a
signing key in the environment). Any other variable is one the code does not read."""

import json
from pathlib import Path

# Only the sequencer signs: the auditor verifies, the tagger submits.
SIGNING_KEY = ("CUSTODY_SIGNING_KEY_SECRET_ARN", "CUSTODY_SIGNING_KEY")
NEVER_GIVEN_THE_KEY = ("AuditorFunction", "TaggerFunction")


def load_specs(paths):
    return [json.loads(Path(p).read_text()) for p in paths]


def env_of(props):
    return set(props.get("Environment", {}).get("Variables", {}))


def check(resources, specs, finding):
    if not specs:
        finding("no env-vars.json lists given: the environment cannot be checked")
    for spec in specs:
        logical_id = spec["function"]
        res = resources.get(logical_id)
        if not res or res.get("Type") != "AWS::Lambda::Function":
            finding(f"{logical_id}: no AWS::Lambda::Function of that name in the expanded template")
            continue
        have = env_of(res["Properties"])
        known = set(spec["required"]) | set(spec["optional"])
        for name in sorted(set(spec["required"]) - have):
            finding(f"{logical_id}: environment variable {name} is not set")
        for name in sorted(have & set(spec["local"])):
            finding(f"{logical_id}: sets {name}, which is for local runs only")
        for name in sorted(have - known - set(spec["local"])):
            finding(f"{logical_id}: sets environment variable {name}, which the Rust code does not read")
        if logical_id in NEVER_GIVEN_THE_KEY:
            for name in SIGNING_KEY:
                if name in have:
                    finding(f"{logical_id}: must not be given the signing key ({name})")
