#!/usr/bin/env bash
# Builds the packages a sysadmin installs, from a clean clone:
#   dist/pam-mfa_<version>-1_amd64.deb      (cargo-deb)
#   dist/pam-mfa-<version>-1.x86_64.rpm     (cargo-generate-rpm)
# One release build of the workspace, the man pages (mfa-man) into target/man, then both
# packages from the metadata in mfa-daemon/Cargo.toml. cargo-deb and cargo-generate-rpm are
# installed at pinned versions into target/tools (or $MFA_TOOLS_DIR) when missing.
#
#   packaging/build.sh [--version VERSION] [--out DIR]
#
# --version overrides the workspace version (the upgrade test builds a higher one); --out
# puts the packages somewhere other than dist/.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CARGO_DEB_VERSION=3.8.0
readonly CARGO_GENERATE_RPM_VERSION=0.21.1
readonly REVISION=1

usage() {
  echo "usage: packaging/build.sh [--version VERSION] [--out DIR]" >&2
  exit 2
}

version=""
out="dist"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --version) [ "$#" -ge 2 ] || usage; version="$2"; shift 2 ;;
    --out) [ "$#" -ge 2 ] || usage; out="$2"; shift 2 ;;
    *) usage ;;
  esac
done

if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
workspace_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$workspace_version" ] || { echo "build.sh: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }
version="${version:-$workspace_version}"

# The .deb puts pam_mfa.so in the amd64 multiarch directory (see mfa-daemon/Cargo.toml).
machine=$(uname -m)
if [ "$machine" != "x86_64" ]; then
  echo "build.sh: the package metadata is for x86_64 (amd64); this machine is $machine" >&2
  exit 1
fi

tools="${MFA_TOOLS_DIR:-target/tools}"
install_tool() { # crate version
  if ! "$tools/bin/$1" --version 2>/dev/null | grep -qF "$2"; then
    echo "build.sh: installing $1 $2 into $tools"
    cargo install --locked --quiet --root "$tools" --version "$2" "$1"
  fi
}
install_tool cargo-deb "$CARGO_DEB_VERSION"
install_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"

cargo build --release --workspace

# Man pages, compressed as both distributions ship them.
rm -rf target/man
cargo run --quiet --release -p mfa-man -- target/man
for page in pam_mfa.8 mfa-daemon.8 mfa-web.8 mfa-radius.8 mfactl.8 mfa-enroll.1 mfa.toml.5; do
  [ -f "target/man/$page" ] || { echo "build.sh: mfa-man wrote no target/man/$page" >&2; exit 1; }
done
gzip -9nf target/man/*.[0-9]

# The Debian changelog, for this version (lintian wants one in every package).
date_epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
mkdir -p target/packaging
cat >target/packaging/changelog <<EOF
pam-mfa ($version-$REVISION) unstable; urgency=medium

  * Package of pam-mfa $version; see /usr/share/doc/pam-mfa/README.md.

 -- pam-mfa developers <pam-mfa@example.org>  $(LC_ALL=C date -u -R -d "@$date_epoch")
EOF

mkdir -p "$out"
deb="$out/pam-mfa_${version}-${REVISION}_amd64.deb"
rpm="$out/pam-mfa-${version}-${REVISION}.x86_64.rpm"
rm -f "$deb" "$rpm"
export SOURCE_DATE_EPOCH="$date_epoch"
"$tools/bin/cargo-deb" --no-build --quiet -p mfa-daemon --deb-version "$version-$REVISION" \
  --output "$deb"
"$tools/bin/cargo-generate-rpm" -p mfa-daemon --set-metadata "version = \"$version\"" \
  --output "$rpm"
ls -l "$deb" "$rpm"
