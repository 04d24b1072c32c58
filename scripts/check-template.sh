#!/usr/bin/env bash
# Checks the SAM template and the sample events, offline (no AWS account, no network, dummy credentials):
#   1. sam validate                        SAM's own schema validation
#   2. sam validate --lint                 cfn-lint over the SAM template
#   3. expansion with samtranslator        (offline managed-policy loader) into plain CloudFormation
#   4. cfn-lint on the expanded template   every finding, warnings included, fails
#   5. project rules                       scripts/template_rules (Python, with its own unit tests):
#                                          environment variables against the lists the Rust code
#                                          exports, least privilege, the settings the deployment
#                                          depends on, and every sample event's shape
#      cfn-lint --include-checks I and checkov on the expansion: informational findings too
#   6. self-test                           the checks in 3-5 must fail on known-bad copies
# Exit status non-zero on any finding. CUSTODY_TEMPLATE and CUSTODY_EVENTS_DIR check other files;
# --no-self-test skips step 6.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
template="${CUSTODY_TEMPLATE:-$root/template.yaml}"
events="${CUSTODY_EVENTS_DIR:-$root/samples/events}"
self_test=1
[ "${1:-}" = "--no-self-test" ] && self_test=0

"$root/scripts/install-sam-tools.sh"
venv="$root/.tools/sam-venv"

# Offline and deterministic: the developer's own AWS profile and credentials are never used.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=custody-template-check-dummy
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_TELEMETRY=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

run() { # run NAME COMMAND... : prints the command's output only when it fails
  local name="$1"; shift
  if "$@" >"$work/out" 2>&1; then
    echo "ok    $name"
  else
    echo "FAIL  $name"
    sed 's/^/      /' "$work/out"
    failures=$((failures + 1))
  fi
}

# Steps 3 and 5 (and the expansion cfn-lint reads): expand TEMPLATE into EXPANDED, check rules and
# events with the Python module scripts/template_rules (its own tests run below). The environment
# variable lists come from the Rust code: functions/*/env-vars.json, kept current by Rust tests.
project_checks() { # project_checks TEMPLATE EVENTS_DIR EXPANDED
  PYTHONPATH="$root/scripts" "$venv/bin/python" -m template_rules "$@" \
    --env-vars "$root/functions/tagger/env-vars.json" --env-vars "$root/functions/sequencer/env-vars.json" \
    --env-vars "$root/functions/auditor/env-vars.json"
}

cfn_lint_expanded() { # cfn_lint_expanded TEMPLATE EVENTS_DIR: expands, then lints the result
  local expanded="$work/expanded-$RANDOM.json"
  project_checks "$1" "$2" "$expanded" >"$work/project-out" 2>&1 || true
  [ -s "$expanded" ] || { cat "$work/project-out"; return 1; }
  "$venv/bin/cfn-lint" --format parseable -- "$expanded"
}

run "template rules: unit tests" env PYTHONPATH="$root/scripts" "$venv/bin/python" -m unittest -q template_rules.test_rules
run "sam validate" "$venv/bin/sam" validate --template-file "$template" --region us-east-1
run "sam validate --lint" "$venv/bin/sam" validate --lint --template-file "$template" --region us-east-1
run "cfn-lint (SAM template)" "$venv/bin/cfn-lint" --format parseable -- "$template"
run "cfn-lint --include-checks I (SAM template)" "$venv/bin/cfn-lint" --format parseable --include-checks I -- "$template"
run "expansion + project rules + sample events" project_checks "$template" "$events" "$work/expanded.json"
if [ -s "$work/expanded.json" ]; then
  run "cfn-lint (expanded CloudFormation)" "$venv/bin/cfn-lint" --format parseable -- "$work/expanded.json"
  run "cfn-lint --include-checks I (expanded)" "$venv/bin/cfn-lint" --format parseable --include-checks I -- "$work/expanded.json"
  run "checkov (expanded CloudFormation)" "$root/.tools/checkov-venv/bin/checkov" --quiet --compact --framework cloudformation \
    --skip-download --file "$work/expanded.json"
fi

if [ "$self_test" = 1 ]; then
  # Each known-bad copy must make exactly the check meant for it fail.
  bad="$work/bad"
  mkdir -p "$bad/events"
  cp "$events"/*.json "$bad/events/"
  expect_failure() { # expect_failure NAME PATTERN COMMAND...: must fail, saying PATTERN
    local name="$1" pattern="$2"; shift 2
    if "$@" >"$work/self-test-out" 2>&1; then
      echo "FAIL  self-test: $name was not detected"
      failures=$((failures + 1))
    elif ! grep -q -- "$pattern" "$work/self-test-out"; then
      echo "FAIL  self-test: $name failed for another reason:"
      sed 's/^/      /' "$work/self-test-out"
      failures=$((failures + 1))
    else
      echo "ok    self-test: $name is detected"
    fi
  }
  sed 's/^\(        RUST_LOG: !Ref LogLevel\)$/\1\n        CUSTODY_UNKNOWN: "1"/' "$template" >"$bad/extra-env.yaml"
  expect_failure "an unknown environment variable" "CUSTODY_UNKNOWN, which the Rust code does not read" project_checks "$bad/extra-env.yaml" "$events" "$work/x.json"
  sed 's/^\(      Timeout: \)900$/\11000/' "$template" >"$bad/timeout.yaml"
  expect_failure "a Lambda timeout above 900 s (cfn-lint on the expansion)" "is greater than the maximum of 900" cfn_lint_expanded "$bad/timeout.yaml" "$events"
  sed 's/\[s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration\]$/[s3:GetBucketVersioning, "s3:Put*"]/' \
    "$template" >"$bad/wildcard.yaml"
  expect_failure "a wildcard or write action in an IAM role" "wildcard action s3:Put\\*" project_checks "$bad/wildcard.yaml" "$events" "$work/x.json"
  printf '{"Records": [' >"$bad/events/broken.json"
  expect_failure "a sample event that is not JSON" "broken.json: not valid JSON" project_checks "$template" "$bad/events" "$work/x.json"
  rm "$bad/events/broken.json"
  sed 's/%3D/=/g' "$events/s3-put-metadata.json" >"$bad/events/s3-put-metadata.json"
  expect_failure "an S3 event key that is not URL-encoded" "s3-put-metadata.json: Records\\[0\\]: key .* is not URL-encoded" project_checks "$template" "$bad/events" "$work/x.json"
fi

if [ "$failures" -ne 0 ]; then
  echo "check-template: $failures check(s) failed"
  exit 1
fi
echo "check-template: all checks passed"
