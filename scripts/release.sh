#!/usr/bin/env bash
# Builds the release archives the Terraform Registry and filesystem mirrors
# expect, into ${DIST:-dist}/:
#   terraform-provider-ucloud_VERSION_OS_ARCH.zip  (binary terraform-provider-ucloud_vVERSION)
#   terraform-provider-ucloud_VERSION_manifest.json (protocol versions)
#   terraform-provider-ucloud_VERSION_SHA256SUMS
# linux_amd64 always; linux_arm64 too when the aarch64 Rust target and
# aarch64-linux-gnu-gcc are installed. Only the provider package is built and
# packed (with README and licenses); the workspace's ucloud-sim and
# test-support crates are neither built nor shipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dist="$(mkdir -p "${DIST:-$root/dist}" && cd "${DIST:-$root/dist}" && pwd)"
name=terraform-provider-ucloud
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"

package() { # target-triple os_arch
  local triple="$1" os_arch="$2" bin stage
  if [ "$triple" = host ]; then
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p "$name" --bin "$name"
    bin="$root/target/release/$name"
  else
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p "$name" --bin "$name" --target "$triple"
    bin="$root/target/$triple/release/$name"
  fi
  stage="$(mktemp -d)"
  cp "$bin" "$stage/${name}_v${version}"
  cp "$root/README.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/" 2>/dev/null || true
  rm -f "$dist/${name}_${version}_${os_arch}.zip"
  (cd "$stage" && zip -q -X "$dist/${name}_${version}_${os_arch}.zip" ./*)
  rm -rf "$stage"
  echo "$dist/${name}_${version}_${os_arch}.zip"
}

case "$(uname -m)" in
  x86_64) package host linux_amd64 ;;
  aarch64) package host linux_arm64 ;;
  *) echo "release: unsupported host $(uname -m)" >&2; exit 1 ;;
esac
if [ "$(uname -m)" = x86_64 ]; then
  if rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
     && command -v aarch64-linux-gnu-gcc >/dev/null; then
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc package aarch64-unknown-linux-gnu linux_arm64
  else
    echo "release: linux_arm64 skipped (needs the aarch64-unknown-linux-gnu Rust target and aarch64-linux-gnu-gcc)" >&2
  fi
fi
cp "$root/terraform-registry-manifest.json" "$dist/${name}_${version}_manifest.json"
(cd "$dist" && sha256sum "${name}_${version}"_*.zip "${name}_${version}_manifest.json" >"${name}_${version}_SHA256SUMS")
echo "$dist/${name}_${version}_SHA256SUMS"
