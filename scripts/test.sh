#!/usr/bin/env bash
# The project's test command (README, `.ci/run`): formatting, lints, the tests
# of the workspace that need no Terraform (provider unit, client, docs, plugin
# launch/TLS; crates/ucloud-sim's unit, CLI and behaviour tests)
# once, then the Terraform-driven tests (acceptance, batched waits, examples, logging,
# preflight, release, plugin's CLI tests) and the quick start against every Terraform in
# the matrix, newest first, and a summary per version: tests passed, failed,
# and skipped for needing a newer Terraform.
#
# The matrix:
#   TF_ACC_TERRAFORM_PATHS=/a/terraform:/b/terraform   these (colon-separated)
#   TF_ACC_TERRAFORM_PATH=/a/terraform                 this one only
#   neither                                            `terraform` on PATH, and Terraform 1.0.3
#                                                      (scripts/fetch-terraform.sh, cached in target/)
# Each pass runs the test binaries with TF_ACC_TERRAFORM_PATH set to one
# binary; tests record version skips in the file named by TF_ACC_SKIP_LOG.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests that run the Terraform CLI: whole test binaries, plus plugin.rs's
# CLI tests. A test missing here that runs Terraform fails in the first pass
# (TF_ACC_NO_TERRAFORM), so the list cannot silently fall behind.
terraform_tests='binary(acceptance) | binary(batched_waits) | binary(broken_answers) | binary(examples) | binary(interrupts)
  | binary(logging) | binary(pipeline) | binary(preflight) | binary(release) | binary(throttling) | binary(upload)
  | (binary(plugin) & (test(=terraform_plans_through_a_debug_mode_provider)
                       | test(=terraform_sees_the_provider_schema)
                       | test(=terraform_validates_and_plans_a_custom_image)))'

# Where cargo builds (CARGO_TARGET_DIR or configuration may move it): nextest
# writes its JUnit report there.
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
junit="$target_dir/nextest/terraform-matrix/junit.xml"
results="$target_dir/terraform-matrix/results"

die() { echo "test: $*" >&2; exit 1; }

cargo nextest --version >/dev/null 2>&1 ||
  die "cargo-nextest is needed (the per-version summary reads its JUnit report): cargo install cargo-nextest --locked"

# "VERSION" of a terraform binary, from `terraform version -json` (Terraform >= 0.13).
version_of() {
  CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$1" version -json 2>/dev/null |
    sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p'
}

# An absolute path for a binary named by path or found on PATH.
absolute() {
  local found
  found="$(command -v "$1" 2>/dev/null)" || return 1
  case "$found" in
    /*) ;;
    *) found="$PWD/$found" ;;
  esac
  [ -f "$found" ] && [ -x "$found" ] && echo "$found"
}

echo "==> Terraform matrix"
candidates=()
if [ -n "${TF_ACC_TERRAFORM_PATHS:-}" ]; then
  IFS=: read -ra candidates <<<"$TF_ACC_TERRAFORM_PATHS"
elif [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then
  candidates=("$TF_ACC_TERRAFORM_PATH")
else
  command -v terraform >/dev/null ||
    die "terraform not found on PATH; install Terraform >= 1.0, or set TF_ACC_TERRAFORM_PATH (one) or TF_ACC_TERRAFORM_PATHS (several, colon-separated)"
  oldest="$(scripts/fetch-terraform.sh)" || die "cannot fetch Terraform 1.0.3 (scripts/fetch-terraform.sh, above)"
  candidates=(terraform "$oldest")
fi
listed=""
for candidate in "${candidates[@]}"; do
  [ -n "$candidate" ] || continue
  path="$(absolute "$candidate")" || die "$candidate is not an executable terraform binary"
  version="$(version_of "$path")"
  [ -n "$version" ] || die "$path does not report a version (terraform version -json); Terraform >= 1.0 is needed"
  listed+="$version"$'\t'"$path"$'\n'
done
[ -n "$listed" ] || die "the Terraform matrix is empty"
versions=()
paths=()
while IFS=$'\t' read -r version path; do
  if [[ " ${versions[*]} " == *" $version "* ]]; then
    echo "    Terraform $version: $path is a second copy, left out"
    continue
  fi
  versions+=("$version")
  paths+=("$path")
  echo "    Terraform $version: $path"
done < <(printf '%s' "$listed" | sort -t$'\t' -k1,1Vr)
# The matrix passes set it per binary; no test process should see the list.
unset TF_ACC_TERRAFORM_PATHS

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

failed=0
rm -rf "$results"
mkdir -p "$results"

echo "==> tests that need no Terraform"
if ! TF_ACC_NO_TERRAFORM=1 cargo nextest run --workspace --no-fail-fast -E "not ($terraform_tests)"; then
  failed=1
fi

for i in "${!versions[@]}"; do
  version="${versions[$i]}"
  path="${paths[$i]}"
  start=$SECONDS
  status=ok
  echo "==> Terraform $version ($path): quick start"
  TF_ACC_TERRAFORM_PATH="$path" scripts/quickstart.sh || status=failed
  echo "==> Terraform $version ($path): Terraform-driven tests"
  rm -f "$junit"
  TF_ACC_TERRAFORM_PATH="$path" TF_ACC_SKIP_LOG="$results/$version.skipped" \
    cargo nextest run --workspace --profile terraform-matrix --no-fail-fast -E "$terraform_tests" || status=failed
  if [ -f "$junit" ]; then
    cp "$junit" "$results/$version.junit.xml"
  fi
  printf '%s\t%s\t%s\t%s\n' "$version" "$path" "$((SECONDS - start))" "$status" >>"$results/passes"
  [ "$status" = ok ] || failed=1
done

echo "==> Summary per Terraform version"
python3 - "$results" <<'PY' || failed=1
"""Per version: tests passed, failed, and skipped for needing a newer Terraform.

nextest's JUnit report says which tests passed; a test skipped for its version
passes there too, so the skips the tests recorded (TF_ACC_SKIP_LOG lines:
version, binary::test, minimum, feature) are counted apart.
"""
import os
import sys
import xml.etree.ElementTree as ET

results = sys.argv[1]
ok = True
totals = [0, 0, 0]
with open(os.path.join(results, "passes")) as f:
    passes = [line.rstrip("\n").split("\t") for line in f if line.strip()]
for version, path, seconds, status in passes:
    skips = {}
    skip_log = os.path.join(results, version + ".skipped")
    if os.path.exists(skip_log):
        with open(skip_log) as f:
            for line in f:
                _, test, minimum, feature = line.rstrip("\n").split("\t", 3)
                skips[test] = (minimum, feature)
    junit = os.path.join(results, version + ".junit.xml")
    passed, failed = [], []
    if os.path.exists(junit):
        for case in ET.parse(junit).getroot().iter("testcase"):
            binary = case.get("classname", "").rsplit("::", 1)[-1]
            name = binary + "::" + case.get("name", "")
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(name)
            elif name not in skips:
                passed.append(name)
    minutes, secs = divmod(int(seconds), 60)
    line = (
        f"Terraform {version}: {len(passed)} passed, {len(failed)} failed, "
        f"{len(skips)} skipped for needing a newer Terraform ({minutes}m{secs:02d}s, {path})"
    )
    if not os.path.exists(junit):
        line += "; NO TEST REPORT (did the build fail?)"
        ok = False
    if status != "ok":
        line += "; quick start or tests FAILED"
        ok = False
    print(line)
    for name in sorted(failed):
        print(f"    failed  {name}")
    for name, (minimum, feature) in sorted(skips.items()):
        print(f"    skipped {name}: needs >= {minimum} for {feature}")
    totals[0] += len(passed)
    totals[1] += len(failed)
    totals[2] += len(skips)
print(f"matrix: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
sys.exit(0 if ok else 1)
PY

if [ "$failed" != 0 ]; then
  echo "test: FAILED (see above)" >&2
  exit 1
fi
echo "test: all passed"
