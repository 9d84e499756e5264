#!/usr/bin/env bash
# Quick start: builds the provider and ucloud-sim (crates/ucloud-sim), makes a small
# local qcow2 file, starts the simulator (UCloud's image API and UFile), uploads and
# imports the file with `terraform apply` on examples/quickstart through a dev override
# (no registry, no `terraform init`), prints the image, shows that a wrong `format` fails
# before any upload or import, destroys the image and stops the simulator. Nothing is left running or written outside a
# temp dir.
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

# An empty qcow2 v3 image of 1 GiB, laid out as `qemu-img create -f qcow2` lays
# it out (header, refcount table, refcount block, L1 table), for machines
# without qemu-img. `qemu-img check` finds no errors in it.
write_qcow2() {
  local f="$1" hex
  bytes() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }
  : >"$f"
  # magic "QFI\xfb", version 3, no backing file, 2^16-byte clusters, 1 GiB, no
  # encryption, 2 L1 entries at 0x30000, refcount table at 0x10000 (1 cluster),
  # no snapshots, no feature bits, refcount order 4, header length 104
  hex="514649fb00000003""0000000000000000""00000000""00000010""0000000040000000""00000000"
  hex+="00000002""0000000000030000""0000000000010000""00000001""00000000""0000000000000000"
  hex+="0000000000000000""0000000000000000""0000000000000000""00000004""00000068"
  bytes "$hex" | dd of="$f" conv=notrunc status=none
  # The refcount table's one entry, the refcount block at 0x20000, which counts
  # one reference to each of the four clusters in use.
  bytes "0000000000020000" | dd of="$f" bs=1 seek=$((0x10000)) conv=notrunc status=none
  bytes "0001000100010001" | dd of="$f" bs=1 seek=$((0x20000)) conv=notrunc status=none
  truncate -s $((0x30000 + 16)) "$f"
}

# The local image file, and the simulator's UFile (DIR/BUCKET/KEY) with an
# empty bucket to stage it in.
image="$work/centos-7.qcow2"
mkdir -p "$work/ufile/my-bucket"
if command -v qemu-img >/dev/null; then
  qemu-img create -q -f qcow2 "$image" 1G
else
  write_qcow2 "$image"
fi

echo "==> Starting ucloud-sim (imports stay 'Making' for 3s; UFile buckets in $work/ufile)"
"$bin/ucloud-sim" --listen 127.0.0.1:0 --making-time 3s --key sim-public-key:sim-private-key \
  --ufile-dir "$work/ufile" >"$work/sim.out" 2>"$work/sim.log" &
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
# The upload and the import's URL go to the simulator's UFile.
export UCLOUD_UFILE_BASE_URL="$url/ufile"

tf_in() {
  local dir="$1"
  shift
  "$terraform" -chdir="$dir" "$@" 2> >(grep -v -e 'Provider development overrides' >&2)
}
tf() { tf_in "$work" "$@"; }

echo "==> terraform apply"
tf apply -auto-approve -no-color | grep -E '^(ucloud_|Apply complete)' || true
echo "==> The imported image"
echo "    id:     $(tf output -raw image_id)"
echo "    status: $(tf output -raw image_status)"
echo "    file:   $(tf output -raw source_size) bytes, checked, uploaded to $(tf output -raw staged_url | sed 's|^http://[^/]*/ufile/||')"
staged() { curl -fsS "$url/_sim/ufile/objects" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
echo "    staged objects left in UFile: $(staged) (deleted once the image was Available)"
echo "==> The same file declared RAW fails at once, before any upload or import"
# In a directory of its own, so that the image above is not replaced.
mkdir "$work/wrong"
cp "$root"/examples/quickstart/*.tf "$work/wrong/"
imports() { curl -fsS "$url/_sim/journal" | grep -o '"Action":"ImportCustomImage"' | wc -l; }
before="$(imports)"
if tf_in "$work/wrong" apply -auto-approve -no-color -var format=RAW -var image_file="$image" >"$work/wrong.out" 2>&1; then
  echo "quickstart: an image declared RAW but holding qcow2 was imported" >&2
  exit 1
fi
grep -A 30 '^Error:' "$work/wrong.out" | sed 's/^/    /'
[ "$(imports)" = "$before" ] || { echo "quickstart: the wrong format reached ImportCustomImage" >&2; exit 1; }
echo "==> terraform destroy"
tf destroy -auto-approve -no-color | grep -E '^(ucloud_|Destroy complete)' || true
live="$(curl -fsS "$url/_sim/images" 2>/dev/null | python3 -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin) if not i["Deleted"]))' 2>/dev/null || echo "?")"
echo "==> Done: images left in the simulator: $live"
[ "$live" = "0" ]
