#!/usr/bin/env bash
# Installs the SAM template tooling into .tools/sam-venv (git-ignored), idempotently, from PyPI:
# the SAM CLI (sam validate / build / local invoke), the SAM translator (template expansion) and
# cfn-lint. Versions are pinned; override with the variables below to try others.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/sam-venv"
AWS_SAM_CLI_VERSION="${AWS_SAM_CLI_VERSION:-1.170.0}"
AWS_SAM_TRANSLATOR_VERSION="${AWS_SAM_TRANSLATOR_VERSION:-1.115.0}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"
stamp="$venv/.installed-sam-$AWS_SAM_CLI_VERSION-translator-$AWS_SAM_TRANSLATOR_VERSION-cfnlint-$CFN_LINT_VERSION"

if [ -f "$stamp" ] && [ -x "$venv/bin/sam" ] && [ -x "$venv/bin/cfn-lint" ]; then
  exit 0
fi
mkdir -p "$root/.tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "aws-sam-cli==$AWS_SAM_CLI_VERSION" \
  "aws-sam-translator==$AWS_SAM_TRANSLATOR_VERSION" \
  "cfn-lint==$CFN_LINT_VERSION"
SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
rm -f "$venv"/.installed-sam-*
touch "$stamp"
echo "SAM tools installed in $venv ($(SAM_CLI_TELEMETRY=0 "$venv/bin/sam" --version), cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}'))" >&2
