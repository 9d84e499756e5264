#!/usr/bin/env bash
# The project's test command (README, `.ci/run`): formatting, lints, every test
# (unit, simulator, acceptance against the real terraform, docs, examples,
# release archive) and the quick start.
set -euo pipefail
cd "$(dirname "$0")/.."

terraform="${TF_ACC_TERRAFORM_PATH:-terraform}"
if ! command -v "$terraform" >/dev/null; then
  echo "test: terraform not found on PATH; install Terraform >= 1.0 or set TF_ACC_TERRAFORM_PATH" >&2
  exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "==> release build (quick start, release archive)"
cargo build --quiet --release --bins
echo "==> quick start"
scripts/quickstart.sh
echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
