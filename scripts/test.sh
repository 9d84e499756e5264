#!/usr/bin/env bash
# The project's test command (README, `.ci/run`): formatting, lints, every test
# of the workspace (provider unit, acceptance against the real terraform, docs,
# examples, release archive; crates/ucloud-sim's unit, CLI and behaviour tests)
# and the quick start.
set -euo pipefail
cd "$(dirname "$0")/.."

terraform="${TF_ACC_TERRAFORM_PATH:-terraform}"
if ! command -v "$terraform" >/dev/null; then
  echo "test: terraform not found on PATH; install Terraform >= 1.0 or set TF_ACC_TERRAFORM_PATH" >&2
  exit 1
fi

# The image-format tests make real files with qemu-img. CI runs as root on
# Debian/Ubuntu: install it there; elsewhere the tests say what to install.
if ! command -v qemu-img >/dev/null && [ -n "${CI:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> apt-get install -y qemu-utils (for qemu-img)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null
fi

echo "==> cargo fmt --all --check"
cargo fmt --all --check
echo "==> cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --quiet --workspace --all-targets -- -D warnings
echo "==> release build (quick start, release archive)"
# As the quick start and scripts/release.sh build them: one package at a time.
cargo build --quiet --release -p terraform-provider-ucloud --bin terraform-provider-ucloud
cargo build --quiet --release -p ucloud-sim --bin ucloud-sim
echo "==> quick start"
scripts/quickstart.sh
echo "==> tests (whole workspace)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
