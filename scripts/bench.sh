#!/usr/bin/env bash
# The project's benchmark command: builds release binaries (cargo's bench
# profile) and runs both benchmarks, each printing a markdown table:
#   startup    process start -> handshake, first mTLS RPC, RSS, shutdown
#              (benches/startup.rs)
#   terraform  the real terraform against ucloud-sim (run inside the bench
#              process): providers schema -json, apply / refresh-only plan /
#              destroy of 50 images, API calls per image (benches/terraform.rs)
# Arguments are passed to both benches; each ignores flags it does not know,
# e.g. `scripts/bench.sh --launches 20 --runs 3 --count 50 --parallelism 10`.
# The Terraform CLI is measured once, by the terraform bench (the startup
# bench's own CLI run is switched off).
set -euo pipefail
cd "$(dirname "$0")/.."

terraform="${TF_ACC_TERRAFORM_PATH:-terraform}"
if ! command -v "$terraform" >/dev/null; then
  echo "bench: terraform not found on PATH; install Terraform >= 1.0 or set TF_ACC_TERRAFORM_PATH" >&2
  exit 1
fi

echo "==> cargo bench -p terraform-provider-ucloud --bench startup"
cargo bench --quiet -p terraform-provider-ucloud --bench startup -- --terraform-runs 0 "$@"
echo
echo "==> cargo bench -p terraform-provider-ucloud --bench terraform"
cargo bench --quiet -p terraform-provider-ucloud --bench terraform -- "$@"
