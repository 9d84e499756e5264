#!/usr/bin/env bash
# The project's benchmark command: builds release binaries (cargo's bench
# profile) and runs both benchmarks, each printing a markdown table:
#   startup    process start -> handshake, first mTLS RPC, RSS, shutdown
#              (benches/startup.rs)
#   terraform  the real terraform against ucloud-sim (run inside the bench
#              process): providers schema -json, then apply / refresh-only
#              plan / destroy of 10, 50 and 200 images at -parallelism 10 and
#              50: wall time against its floors, API calls per image by
#              action, ids per DescribeImage (benches/terraform.rs); then
#              the adaptive rate: the same rows with the limiter off (what
#              it costs), 200 images at -parallelism 50 against a simulator
#              throttling each key at 4 and at 12 requests per second (the
#              provider's defaults, 1 s tick), and two applies of 100 images
#              at once on one key throttled at 4/s; about a quarter of an
#              hour in all
#   upload     a 2 GiB local file uploaded at concurrency 1, 4 and 8 beside a
#              raw streamed PUT of it, then terraform apply from 1 GiB and
#              4 GiB files: the provider's peak RSS over idle, requests by
#              kind (benches/upload.rs)
# Arguments are passed to both benches; each ignores flags it does not know,
# e.g. `scripts/bench.sh --launches 20 --runs 3 --counts 50 --parallelisms 10`.
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
echo
echo "==> terraform bench, adaptive limiter off (the comparison for what it costs)"
cargo bench --quiet -p terraform-provider-ucloud --bench terraform -- --schema-runs 0 --counts 50,200 --limiter off "$@"
for quota in 4 12; do
  echo
  echo "==> terraform bench, simulator throttling each key at $quota/s, provider defaults"
  cargo bench --quiet -p terraform-provider-ucloud --bench terraform -- --schema-runs 0 --counts 200 \
    --parallelisms 50 --poll-ms 1000 --sim-rate-limit "$quota" "$@"
done
echo
echo "==> terraform bench, two applies of 100 images at once on one key throttled at 4/s"
cargo bench --quiet -p terraform-provider-ucloud --bench terraform -- --schema-runs 0 --counts 100 \
  --parallelisms 50 --poll-ms 1000 --sim-rate-limit 4 --concurrent 2 "$@"
echo
echo "==> cargo bench -p terraform-provider-ucloud --bench upload"
cargo bench --quiet -p terraform-provider-ucloud --bench upload -- "$@"
