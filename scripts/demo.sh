#!/usr/bin/env bash
# Self-contained demo: builds pam-mfa, starts the daemon on a temporary socket and state
# directory, enrolls a demo user, and runs one PAM authentication through pam_mfa.so with
# pamtester under pam_wrapper (a private PAM stack): the right code is accepted, the same
# code again and a wrong code are refused. Touches nothing in /etc; removes what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
cargo build --release --workspace
BIN="$PWD/target/release"

WORK=$(mktemp -d /tmp/pam-mfa-demo.XXXXXX)
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

SOCK="$WORK/mfa.sock"
cat > "$WORK/config.toml" <<CONF
socket = "$SOCK"
state_dir = "$WORK/state"
issuer = "pam-mfa demo"
max_tries = 1   # one prompt per pamtester run keeps the demo's output short
CONF
# The daemon only enrolls accounts NSS knows. As root the demo user gets an account that
# only the daemon sees (nss_wrapper, a passwd file of the demo's own), not one in /etc/passwd.
ME=$(id -un)
if [ "$(id -u)" -eq 0 ]; then DEMO_USER="demo-$$"; else DEMO_USER=$ME; fi
getent passwd "$ME" > "$WORK/passwd"
[ "$DEMO_USER" = "$ME" ] || echo "$DEMO_USER:x:$((60000 + $$ % 5000)):65534:pam-mfa demo:/nonexistent:/usr/sbin/nologin" >> "$WORK/passwd"
getent group "$(id -gn)" > "$WORK/group"
# pam_mfa.so and mfa-enroll talk only to a daemon run by root or by `daemon_user` (default
# mfa); this one runs as whoever runs the demo.
export MFA_DAEMON_USER="$ME"

"$BIN/mfa-daemon" --check-config "$WORK/config.toml"
LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/passwd" NSS_WRAPPER_GROUP="$WORK/group" \
  "$BIN/mfa-daemon" --config "$WORK/config.toml" 2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { cat "$WORK/daemon.log"; echo "demo: daemon did not start" >&2; exit 1; }
code_at() { oathtool --totp -b "$1" -N "@$2"; }
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

echo "== enrolling $DEMO_USER (mfa-enroll --json totp)"
coproc ENROLL { "$BIN/mfa-enroll" --json --socket "$SOCK" totp --user "$DEMO_USER" 2>"$WORK/enroll.err"; }
ENROLL_CHILD=$ENROLL_PID
read -r first <&"${ENROLL[0]}"
SECRET=$(printf '%s' "$first" | json_field secret)
URI=$(printf '%s' "$first" | json_field otpauth_uri)
echo "   otpauth URI: $URI"
NOW=$(date +%s)
# Confirm with the previous period's code; the login below uses the current one (skew 1).
printf '%s\n' "$(code_at "$SECRET" $((NOW - 30)))" >&"${ENROLL[1]}"
read -r codes <&"${ENROLL[0]}"
wait "$ENROLL_CHILD" || { cat "$WORK/enroll.err" >&2; exit 1; }
echo "   recovery codes: $codes"
RECOVERY=$(printf '%s' "$codes" | sed -n 's/.*"recovery_codes":\["\([^"]*\)".*/\1/p')

mkdir "$WORK/pam.d"
cat > "$WORK/pam.d/mfa-demo" <<PAM
auth    required $BIN/libpam_mfa.so socket=$SOCK daemon_user=$ME
account required pam_permit.so
PAM
pam() {
  printf '%s\n' "$1" | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
    PAM_WRAPPER_SERVICE_DIR="$WORK/pam.d" pamtester -v mfa-demo "$DEMO_USER" authenticate 2>&1 |
    grep -v '^PWRAP_' | sed 's/^/   /'
  return "${PIPESTATUS[1]}"
}

GOOD=$(code_at "$SECRET" "$NOW")
echo "== right code (from oathtool)"
pam "$GOOD" || { echo "demo: FAILED: the right code was refused" >&2; exit 1; }
echo "== the same code again"
if pam "$GOOD"; then echo "demo: FAILED: a used code was accepted" >&2; exit 1; fi
echo "== a wrong code"
WRONG=$(printf '%06d' $(( (10#$GOOD + 1) % 1000000 )))
if pam "$WRONG"; then echo "demo: FAILED: a wrong code was accepted" >&2; exit 1; fi
echo "== a recovery code ($RECOVERY), twice"
pam "$RECOVERY" || { echo "demo: FAILED: a recovery code was refused" >&2; exit 1; }
if pam "$RECOVERY"; then echo "demo: FAILED: a recovery code worked twice" >&2; exit 1; fi
echo "== audit log"
grep '^audit:' "$WORK/daemon.log" | sed 's/^/   /'
echo "demo: OK (right code and a recovery code accepted once each; reused and wrong codes refused; nothing in /etc touched)"
