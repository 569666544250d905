#!/usr/bin/env bash
# Installs what building and testing pam-mfa needs on Debian or Ubuntu. Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  build-essential pkg-config    # cc for crates with C parts, linking
  libpam0g-dev                  # libpam.so for the module's link step
  pamtester libpam-wrapper      # drive PAM stacks; pam_wrapper keeps the demo out of /etc
  oathtool                      # an independent TOTP/HOTP implementation (demo, HOTP suite)
  openssh-server openssh-client sudo passwd procps iproute2  # end-to-end tests
  libnss-wrapper                # directory-style user names under a fake NSS source
  postgresql                    # postgres engine tests: a throw-away cluster (initdb, pg_ctl, psql)
  python3-aiosmtpd openssl      # delivery tests: the SMTP stand-in and its test CA
  libfaketime                   # end-to-end tests move a test daemon's clock instead of sleeping
  chromium fonts-dejavu-core    # passkey tests: headless Chromium over DevTools, a font for its screenshots
  systemd libpam-runtime strace # unit checks: systemd-analyze verify/security, sysusers, pam-auth-update, syscall trace
  man-db groff-base             # man page checks: man --warnings and lexgrog on the generated pages
  dpkg-dev lintian              # packages: cargo-deb's dpkg-shlibdeps; lintian judges the .deb
  rpm rpmlint                   # packages: rpm -qp / rpm -i --root read and install the .rpm; rpmlint judges it
  debootstrap debian-archive-keyring  # packages: the throw-away Debian root the .deb is installed in
  libpam-google-authenticator libpam-oath  # imports: the real google-authenticator CLI and pam_oath make the files imported
  openssh-tests                 # SSH security keys: OpenSSH's software authenticator for tests (regress/misc/sk-dummy/sk-dummy.so)
  freeradius-utils libpam-radius-auth  # RADIUS: real clients for mfa-radius (radclient, radtest, pam_radius_auth in sshd)
  freeradius                    # RADIUS bench: FreeRADIUS with rlm_pam, side by side with mfa-radius
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
fi

# Rust: edition 2024 needs cargo 1.85 or newer.
cargo_ok() {
  command -v cargo >/dev/null 2>&1 || return 1
  local v
  v=$(cargo --version | awk '{print $2}')
  [ "$(printf '%s\n1.85.0\n' "$v" | sort -V | head -n1)" = "1.85.0" ]
}
if ! cargo_ok && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
if ! cargo_ok; then
  echo "install-deps: no cargo >= 1.85 found; trying the distribution's"
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 cargo rustc || true
fi
if ! cargo_ok; then
  echo "install-deps: pam-mfa needs Rust 1.85 or newer (edition 2024); install it with rustup and rerun" >&2
  exit 1
fi
echo "install-deps: ok ($(cargo --version))"
