#!/usr/bin/env bash
# Quick start: builds the provider and ucloud-sim (crates/ucloud-sim), starts the simulator, imports
# an image with `terraform apply` on examples/quickstart through a dev override
# (no registry, no `terraform init`), prints the image, destroys it and stops the
# simulator. Nothing is left running or written outside a temp dir.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
terraform="${TF_ACC_TERRAFORM_PATH:-terraform}"
command -v "$terraform" >/dev/null || {
  echo "quickstart: terraform not found; install Terraform >= 1.0 or set TF_ACC_TERRAFORM_PATH" >&2
  exit 1
}

echo "==> Building terraform-provider-ucloud and ucloud-sim (release)"
# One package per build: the provider is then built with exactly its own
# dependency features, as scripts/release.sh builds it, and is not rebuilt there.
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p terraform-provider-ucloud --bin terraform-provider-ucloud
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p ucloud-sim --bin ucloud-sim
bin="$root/target/release"

work="$(mktemp -d)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> Starting ucloud-sim (imports stay 'Making' for 3s)"
"$bin/ucloud-sim" --listen 127.0.0.1:0 --making-time 3s --key sim-public-key:sim-private-key \
  >"$work/sim.out" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do
  grep -q 'listening on' "$work/sim.out" 2>/dev/null && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
  sleep 0.05
done
url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/sim.out")"
[ -n "$url" ] || { echo "quickstart: ucloud-sim did not start" >&2; cat "$work/sim.log" >&2; exit 1; }
echo "    simulator at $url"

cat >"$work/terraformrc" <<CFG
provider_installation {
  dev_overrides {
    "registry.terraform.io/ucloud-rs/ucloud" = "$bin"
  }
  direct {}
}
CFG
cp "$root"/examples/quickstart/*.tf "$work/"

export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 TF_INPUT=0
export UCLOUD_API_BASE_URL="$url" UCLOUD_PUBLIC_KEY=sim-public-key UCLOUD_PRIVATE_KEY=sim-private-key
export UCLOUD_REGION=cn-bj2 UCLOUD_POLL_INTERVAL_MS="${UCLOUD_POLL_INTERVAL_MS:-500}"

tf() { "$terraform" -chdir="$work" "$@" 2> >(grep -v -e 'Provider development overrides' >&2); }

echo "==> terraform apply"
tf apply -auto-approve -no-color | grep -E '^(ucloud_|Apply complete)' || true
echo "==> The imported image"
echo "    id:     $(tf output -raw image_id)"
echo "    status: $(tf output -raw image_status)"
echo "==> terraform destroy"
tf destroy -auto-approve -no-color | grep -E '^(ucloud_|Destroy complete)' || true
live="$(curl -fsS "$url/_sim/images" 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin) if not i["Deleted"]))' 2>/dev/null || echo "?")"
echo "==> Done: images left in the simulator: $live"
[ "$live" = "0" ]
