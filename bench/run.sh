#!/usr/bin/env bash
# Benchmarks of pam-mfa against the targets in DESIGN.md ("Performance targets"), side by
# side with pam_oath and google-authenticator-libpam:
#   1. added latency per authentication (pamtester median minus pam_permit's, one run);
#   2. 64 concurrent authentications through the daemon, with durable replay state;
#   3. size of libpam_mfa.so and the daemon's idle RSS;
#   4. the daemon's answer time per class of user name (DESIGN.md, invariant 10);
#   5. logins with a code sent by text message through the menu, the send itself left out,
#      against a Twilio API stand-in on 127.0.0.1 (mfa-standin).
# Installs what it needs, builds the release once, prints the figures and writes them to
# bench/RESULTS.md (keeping the block bench/attack.sh writes there). Run as root (root may
# authenticate any name through the daemon, and both other modules read their secrets from
# files given here).
# Touches nothing in /etc: every PAM stack runs under pam_wrapper, the daemon listens on a
# socket in a temporary directory and knows the bench users from a passwd file of its own
# (nss_wrapper: it enrolls only accounts NSS knows), and what this starts is stopped by PID
# on any exit. Benchmarks are not tests: a missed target is reported, not an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LATENCY_USERS=${LATENCY_USERS:-100}   # per stack; each is used once per round
LATENCY_ROUNDS=${LATENCY_ROUNDS:-6}   # three rounds fit in a 30 s period, then it waits
CONCURRENT_USERS=${CONCURRENT_USERS:-64}
CONCURRENT_ROUNDS=${CONCURRENT_ROUNDS:-6}
NAME_SAMPLES=${NAME_SAMPLES:-250}     # per name class and answer shape
SENT_USERS=${SENT_USERS:-50}          # each logs in once per round with each kind of code
SENT_ROUNDS=${SENT_ROUNDS:-6}
STEP_TIMEOUT=300                      # seconds any one benchmark step may take

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: run as root (it enrolls users for any name through the daemon)" >&2
  exit 1
fi

echo "== installing packages"
scripts/install-deps.sh
BENCH_PACKAGES=(libpam-oath libpam-google-authenticator oathtool pamtester libpam-wrapper libnss-wrapper procps)
missing=()
for p in "${BENCH_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
fi
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

echo "== building the release"
cargo build --release --workspace
BIN="$ROOT/target/release"
BENCH="$BIN/mfa-bench"

WORK=$(mktemp -d /tmp/pam-mfa-bench.XXXXXX)
SHM=""
DAEMON_PIDS=()
STANDIN_PIDS=()
STEP_PID=""
cleanup() {
  local pid
  for pid in $STEP_PID "${DAEMON_PIDS[@]}" "${STANDIN_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  if [ -n "$SHM" ]; then rm -rf "$SHM"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step COMMAND...: runs a benchmark step with a time limit, in the background so that a
# signal to this script is handled at once (and the cleanup stops the step by its PID).
step() {
  local status=0
  timeout "$STEP_TIMEOUT" "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || status=$?
  STEP_PID=""
  return "$status"
}

# Unique per run, so that a run killed half-way leaves nothing a rerun trips over.
PREFIX="mfab$$-"

# The bench users' accounts, for the daemon and mfa-enroll only (nss_wrapper reads these
# files instead of the system's): root, the daemon's account (which mfa-enroll looks up; the
# bench daemon runs as root all the same), every name enrolled below, and one account that
# is never enrolled (for the name classes). No bench user logs in to the system.
NSS_UNENROLLED="${PREFIX}u0"
{
  getent passwd root
  echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
  uid=70000
  for name in "$NSS_UNENROLLED" "${PREFIX}e0" \
    $(seq -f "${PREFIX}l%g" 0 $((LATENCY_USERS - 1))) \
    $(seq -f "${PREFIX}c%g" 0 $((CONCURRENT_USERS - 1))) \
    $(seq -f "${PREFIX}t%g" 0 $((LATENCY_USERS - 1))); do
    echo "$name:x:$uid:70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
    uid=$((uid + 1))
  done
} >"$WORK/passwd"
printf 'root:x:0:\nmfabench:x:70000:\n' >"$WORK/group"
NSS_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/passwd" NSS_WRAPPER_GROUP="$WORK/group")

# start_daemon NAME STATE_DIR [EXTRA_TOML]: an mfa-daemon with built-in defaults (and
# EXTRA_TOML) listening on $WORK/NAME.sock, logging to $WORK/NAME.log; sets STARTED_PID.
start_daemon() {
  local sock="$WORK/$1.sock"
  printf 'socket = "%s"\nstate_dir = "%s"\n%s\n' "$sock" "$2" "${3:-}" >"$WORK/$1.toml"
  "${NSS_ENV[@]}" "$BIN/mfa-daemon" --config "$WORK/$1.toml" 2>"$WORK/$1.log" &
  STARTED_PID=$!
  DAEMON_PIDS+=("$STARTED_PID")
  for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
  cat "$WORK/$1.log" >&2
  echo "bench: mfa-daemon $1 did not start" >&2
  exit 1
}
# The measured daemon's resident set, in KiB, 1 s after its last request.
idle_rss() {
  sleep 1
  awk '/^VmRSS:/ {print $2}' "/proc/$MFA_PID/status"
}

# The daemon that is measured keeps its state on the same disk as /tmp (fsync is real unless
# /tmp is a tmpfs). A second one, for the breakdown only, keeps it on tmpfs, where fsync
# costs nothing: the difference between the two is the cost of durable replay state.
echo "== starting mfa-daemon"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SOCK="$WORK/mfa.sock"
STATE="$WORK/state"
start_daemon mfa "$STATE"
MFA_PID=$STARTED_PID
RSS_START=$(idle_rss)
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = "tmpfs" ]; then
  SHM=$(mktemp -d /dev/shm/pam-mfa-bench.XXXXXX)
  start_daemon mfa-tmpfs "$SHM/state"
fi

echo "== bench users: $LATENCY_USERS per PAM stack, $CONCURRENT_USERS for the concurrency run"
enroll_started=$SECONDS
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$SOCK" \
  --prefix "${PREFIX}l" --count "$LATENCY_USERS" --jobs "$(nproc)" --out "$WORK/mfa.roster"
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$SOCK" \
  --prefix "${PREFIX}c" --count "$CONCURRENT_USERS" --jobs "$(nproc)" --out "$WORK/concurrent.roster"
ENROLL_SECONDS=$((SECONDS - enroll_started))
RSS_ENROLLED=$(idle_rss)
BREAKDOWN_STACKS=()
if [ -n "$SHM" ]; then
  step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$WORK/mfa-tmpfs.sock" \
    --prefix "${PREFIX}t" --count "$LATENCY_USERS" --jobs "$(nproc)" --out "$WORK/mfa-tmpfs.roster"
  BREAKDOWN_STACKS+=(--stack "pam_mfa, state on tmpfs=bench-mfa-tmpfs=$WORK/mfa-tmpfs.roster")
fi
BREAKDOWN_STACKS+=(--stack "pam_mfa, module only=bench-mfa-module")
"$BENCH" secrets --prefix "${PREFIX}o" --count "$LATENCY_USERS" --out "$WORK/oath.roster"
"$BENCH" secrets --prefix "${PREFIX}g" --count "$LATENCY_USERS" --out "$WORK/ga.roster"

# pam_oath: one usersfile with a TOTP line per user (hex secret); it rewrites the file under
# a lock file to record each user's last accepted code.
mkdir -m 700 "$WORK/oath" "$WORK/ga"
while read -r name secret _; do
  case $name in '#'*) continue ;; esac
  printf 'HOTP/T30 %s - %s\n' "$name" "$(printf '%s' "$secret" | base32 -d | od -An -v -tx1 | tr -d ' \n')"
done <"$WORK/oath.roster" >"$WORK/oath/users"
chmod 600 "$WORK/oath/users"

# google-authenticator-libpam: one secret file per user, as its own tool writes them for
# TOTP with reuse refused and one step of skew either side; owned by root, mode 0400.
while read -r name secret _; do
  case $name in '#'*) continue ;; esac
  printf '%s\n" TOTP_AUTH\n" DISALLOW_REUSE\n" WINDOW_SIZE 3\n' "$secret" >"$WORK/ga/$name"
  chmod 400 "$WORK/ga/$name"
done <"$WORK/ga.roster"

PAM_DIR="$WORK/pam.d"
mkdir "$PAM_DIR"
echo "auth required pam_permit.so" >"$PAM_DIR/bench-permit"
echo "auth required $BIN/libpam_mfa.so socket=$SOCK" >"$PAM_DIR/bench-mfa"
echo "auth required $BIN/libpam_mfa.so socket=$WORK/mfa-tmpfs.sock" >"$PAM_DIR/bench-mfa-tmpfs"
# Loads and runs the module up to its failed connect, then lets pam_permit decide.
printf 'auth optional %s socket=%s failmode=safe\nauth required pam_permit.so\n' \
  "$BIN/libpam_mfa.so" "$WORK/no-daemon.sock" >"$PAM_DIR/bench-mfa-module"
echo "auth required pam_oath.so usersfile=$WORK/oath/users window=1 digits=6" >"$PAM_DIR/bench-oath"
# shellcheck disable=SC2016 # ${USER} is for the module to expand.
echo 'auth required pam_google_authenticator.so secret='"$WORK"'/ga/${USER} user=root' >"$PAM_DIR/bench-ga"

echo "== 1. latency per authentication ($LATENCY_ROUNDS rounds)"
step "$BENCH" latency --pam-dir "$PAM_DIR" --rounds "$LATENCY_ROUNDS" \
  --baseline pam_permit=bench-permit \
  --stack "pam_mfa=bench-mfa=$WORK/mfa.roster" \
  --stack "pam_oath=bench-oath=$WORK/oath.roster" \
  --stack "google-authenticator=bench-ga=$WORK/ga.roster" \
  "${BREAKDOWN_STACKS[@]}" \
  --target pam_mfa=0.5 >"$WORK/latency.md"
cat "$WORK/latency.md"
RSS_AFTER_LATENCY=$(idle_rss)

echo "== 2. $CONCURRENT_USERS concurrent authentications ($CONCURRENT_ROUNDS rounds)"
step "$BENCH" concurrency --socket "$SOCK" --roster "$WORK/concurrent.roster" \
  --rounds "$CONCURRENT_ROUNDS" >"$WORK/concurrency.md"
cat "$WORK/concurrency.md"
RSS_AFTER_CONCURRENCY=$(idle_rss)
RECORDS=$(find "$STATE/users" -name '*.json' | wc -l)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== where the time of a durable record write goes, on the state directory's filesystem"
RECORD_BYTES=$(find "$STATE/users" -name '*.json' -printf '%s\n' | sort -n | tail -1)
step "$BENCH" fs-probe --dir "$WORK" --record-bytes "$RECORD_BYTES" >"$WORK/fs-probe.md"
cat "$WORK/fs-probe.md"

echo "== 3. size and memory"
SO="$BIN/libpam_mfa.so"
SO_BYTES=$(stat -c %s "$SO")
module_bytes() { stat -L -c %s "/lib/x86_64-linux-gnu/security/$1" 2>/dev/null || echo "-"; }
verdict() { if [ "$1" -eq 1 ]; then echo MET; else echo "NOT MET"; fi; }
SIZE_OK=$((SO_BYTES < 500000 ? 1 : 0))
RSS_MAX=$(printf '%s\n' "$RSS_START" "$RSS_ENROLLED" "$RSS_AFTER_LATENCY" "$RSS_AFTER_CONCURRENCY" | sort -n | tail -1)
RSS_OK=$((RSS_MAX < 15 * 1024 ? 1 : 0))
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f MiB", kb / 1024}'; }
{
  echo "| what | figure |"
  echo "|---|---:|"
  echo "| target/release/libpam_mfa.so (stripped) | $SO_BYTES bytes ($((SO_BYTES / 1024)) KiB) |"
  echo "| for comparison: pam_oath.so / pam_google_authenticator.so | $(module_bytes pam_oath.so) / $(module_bytes pam_google_authenticator.so) bytes |"
  echo "| daemon idle RSS after start | $(mib "$RSS_START") |"
  echo "| ... after enrolling $((LATENCY_USERS + CONCURRENT_USERS)) users (argon2id hashes of 10 recovery codes each) | $(mib "$RSS_ENROLLED") |"
  echo "| ... after the latency run | $(mib "$RSS_AFTER_LATENCY") |"
  echo "| ... after the concurrency run ($RECORDS user records) | $(mib "$RSS_AFTER_CONCURRENCY") |"
  echo
  echo "Growth while enrolling: $(mib $((RSS_ENROLLED - RSS_START))); while authenticating (latency and concurrency runs): $(mib $((RSS_AFTER_CONCURRENCY - RSS_ENROLLED)))."
  echo
  echo "Target: libpam_mfa.so under 500 KB (500000 bytes): $(verdict "$SIZE_OK")."
  echo "Target: daemon idle RSS under 15 MiB at every point above: $(verdict "$RSS_OK") (highest $(mib "$RSS_MAX"))."
} | tee "$WORK/size.md"

echo "== 4. time by name class ($NAME_SAMPLES samples each)"
# A daemon of its own whose attempt limits let every wrong answer through (so no lockout
# changes a path), with one enrolled account and one account with nothing enrolled.
start_daemon mfa-names "$WORK/names-state" $'[limits]\nmax_failures = 1000\naccount_max_failures = 100000'
NAMES_PID=$STARTED_PID
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$WORK/mfa-names.sock" \
  --prefix "${PREFIX}e" --count 1 --out "$WORK/names.roster"
step "$BENCH" name-timing --socket "$WORK/mfa-names.sock" --enrolled "${PREFIX}e0" \
  --unenrolled "$NSS_UNENROLLED" --unknown-prefix "${PREFIX}n" --invalid "bad/name" \
  --samples "$NAME_SAMPLES" >"$WORK/names.md"
cat "$WORK/names.md"
kill "$NAMES_PID" 2>/dev/null || true
wait "$NAMES_PID" 2>/dev/null || true

echo "== 5. sent code by text message, through the menu ($SENT_USERS users, $SENT_ROUNDS rounds)"
# A Twilio API stand-in on 127.0.0.1 that writes each message it accepts to a file, and a
# daemon of its own that sends through it, with send limits far above what the run sends
# (by default 5 codes per user per hour and 200 per hour from the host).
(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/twilio-token")
TWILIO_SID="AC$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
"$BIN/mfa-standin" twilio --dir "$WORK/twilio" --account-sid "$TWILIO_SID" \
  --auth-token-file "$WORK/twilio-token" >/dev/null 2>"$WORK/twilio.log" &
STANDIN_PIDS+=($!)
for _ in $(seq 100); do [ -e "$WORK/twilio/url" ] && break; sleep 0.05; done
[ -e "$WORK/twilio/url" ] || { cat "$WORK/twilio.log" >&2; echo "bench: mfa-standin did not start" >&2; exit 1; }
SENT_TOML="[otp]
max_sends = 1000
max_sends_per_hour = 1000000
[sms]
provider = \"twilio\"
[twilio]
account_sid = \"$TWILIO_SID\"
auth_token_file = \"$WORK/twilio-token\"
from = \"+15005550006\"
api_url = \"$(cat "$WORK/twilio/url")\""
# Its users in a passwd file of their own, enrolled one at a time: under concurrent lookups
# nss_wrapper (1.1.12) now and then finds no account, or crashes the daemon, and the longer
# its file, the likelier that is.
{
  getent passwd root
  echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
  for i in $(seq 0 $((SENT_USERS - 1))); do
    echo "${PREFIX}s$i:x:$((71000 + i)):70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
  done
} >"$WORK/sent-passwd"
# From here on, daemons and mfa-enroll know these users only.
NSS_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/sent-passwd" NSS_WRAPPER_GROUP="$WORK/group")
start_daemon mfa-sent "$WORK/sent-state" "$SENT_TOML"
SENT_PID=$STARTED_PID
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$WORK/mfa-sent.sock" \
  --prefix "${PREFIX}s" --count "$SENT_USERS" --jobs 1 --out "$WORK/sent.roster"
step "${NSS_ENV[@]}" "$BENCH" sent-code --socket "$WORK/mfa-sent.sock" --roster "$WORK/sent.roster" \
  --mfa-enroll "$BIN/mfa-enroll" --standin-dir "$WORK/twilio" --rounds "$SENT_ROUNDS" >"$WORK/sent.md"
cat "$WORK/sent.md"
kill "$SENT_PID" 2>/dev/null || true
wait "$SENT_PID" 2>/dev/null || true

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then REV="$REV with uncommitted changes"; fi
# The block bench/attack.sh wrote, kept as it is.
ATTACK_BLOCK=""
if [ -f "$ROOT/bench/RESULTS.md" ]; then
  ATTACK_BLOCK=$(sed -n '/^<!-- begin bench\/attack.sh/,/^<!-- end bench\/attack.sh/p' "$ROOT/bench/RESULTS.md")
fi
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/run.sh\` (do not edit by hand; rerun it)."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM; $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), kernel $(uname -r)"
  echo "- State directory of the measured daemon on: $(df -T "$STATE" | awk 'NR == 2 {print $2}')"
  echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END (other work on the machine inflates every figure; the interleaving spreads it evenly over the stacks)"
  echo "- pam-mfa $REV, $(rustc --version | cut -d' ' -f1-2), release profile"
  echo "- Compared: libpam-oath $(version libpam-oath), libpam-google-authenticator $(version libpam-google-authenticator); pamtester $(version pamtester), libpam-wrapper $(version libpam-wrapper)"
  echo
  echo "## Method"
  echo
  echo "- One mfa-daemon with built-in defaults (SHA-1, 6 digits, 30 s, skew 1) on a Unix socket and state directory in a temp dir, knowing the bench users from a passwd file of its own (nss_wrapper); $((LATENCY_USERS + CONCURRENT_USERS)) users enrolled as root with \`mfa-enroll --json --socket SOCK totp --user NAME\` ($ENROLL_SECONDS s), confirmed with a code computed by mfa-bench (totp-rs)."
  echo "- pam_oath: one usersfile, a \`HOTP/T30\` line per user, \`window=1 digits=6\`. google-authenticator-libpam: \`secret=DIR/\${USER} user=root\`, one file per user with \`TOTP_AUTH\`, \`DISALLOW_REUSE\`, \`WINDOW_SIZE 3\`. pam_mfa: \`socket=SOCK\`. Baseline: \`pam_permit.so\`. Each is the only auth line of its service; no bench user has a system account."
  echo "- Latency: \`pamtester SERVICE USER authenticate\` under pam_wrapper (\`LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=DIR\`), timed by mfa-bench from spawn to exit, the code on stdin. $LATENCY_USERS users per module, each used once per round with a fresh code (all three refuse reuse: three codes per user per 30 s period, t-1, t, t+1, then the next period). All stacks run one after another per slot, in an order rotating by slot and round; the first slot is warm-up. Added latency = module median - pam_permit median; the paired column is the median over slots of (module run - pam_permit run of the same slot). Only successful authentications are counted."
  echo "- Breakdown rows (not targets): \"pam_mfa, state on tmpfs\" is the same module against a second daemon whose state directory is on tmpfs, where fsync is free (the difference to pam_mfa is the cost of durable replay state); \"pam_mfa, module only\" is \`auth optional libpam_mfa.so failmode=safe\` pointed at a socket nobody listens on, followed by pam_permit (loading the module, reading its options and one failed connect)."
  echo "- Concurrency: mfa-bench opens $CONCURRENT_USERS threads, one per enrolled user, released together by a barrier each round, each speaking the real protocol as root on the privileged socket, as sshd and sudo do (Authenticate, Prompt, Answer(code), Done); each round uses a later time step, so each success is recorded with fsync (temp file, fsync, rename, fsync dir) before the daemon answers."
  echo "- Memory: VmRSS from /proc/PID/status, read 1 s after the daemon went idle."
  echo
  echo "## 1. Added latency per authentication"
  echo
  cat "$WORK/latency.md"
  echo
  echo "## 2. $CONCURRENT_USERS concurrent authentications through the daemon"
  echo
  cat "$WORK/concurrency.md"
  echo
  echo "## Where pam_mfa's time goes"
  echo
  echo "The breakdown rows of the latency table split pam_mfa's added latency into the module (loading it and one failed connect), the daemon's work without durable state (tmpfs), and the durable record write (the rest). The same write, step by step, with plain files on the state directory's filesystem:"
  echo
  cat "$WORK/fs-probe.md"
  echo
  echo "## 3. Size and memory"
  echo
  cat "$WORK/size.md"
  echo
  echo "## 4. Time by name class"
  echo
  echo "DESIGN.md invariant 10: unknown, invalid, unenrolled and enrolled names take the same path and the same time. A third daemon, with \`[limits] max_failures = 1000\` and \`account_max_failures = 100000\` so that no wrong answer locks anything; mfa-bench as root through the daemon's protocol (its privileged socket where it has one). Names: an enrolled account, an account with nothing enrolled, a new never-seen valid name for every sample, and \`bad/name\`. Before and after the hardening of issue 5: \"Name classes\" below (bench/attack.sh)."
  echo
  cat "$WORK/names.md"
  echo
  echo "## 5. Sent code by text message, through the menu"
  echo
  echo "What a login with a code sent by SMS adds, the send itself left out. A fourth daemon sends through a Twilio API stand-in on 127.0.0.1 (\`mfa-standin twilio\`: the stand-in of the end-to-end suites as a process of its own, plain http to loopback, which writes each message it accepts to a file); its config raises the send limits far above what the run sends: \`[otp] max_sends = 1000\` (codes per user per \`send_window\`, default 5 an hour) and \`max_sends_per_hour = 1000000\` (from the host, default 200), since with the defaults the run would be refused after the fifth code per user and the 200th in all. $SENT_USERS users enrolled with TOTP, each given a phone as root (\`mfa-enroll phone NUMBER --user NAME --unverified\`). mfa-bench speaks the protocol pam_mfa.so speaks, as root: Authenticate; the menu and its prompt; the \"Text message to\" option; \`Code: \`; the code read from the stand-in's file; Done. Each step is timed apart: the menu choice to the \`Code: \` prompt holds the provider call (an HTTP POST to the stand-in) and is left out of the added latency, as is the wait for the message. Beside each sent-code login the same user logs in with a TOTP code at the same menu prompt (order alternating), for comparison; only the TOTP path writes durably before it answers (the used time step); a sent code is checked and consumed in memory (nothing is written unless the user had failures to clear). pamtester and the module add the same to both paths (section 1)."
  echo
  cat "$WORK/sent.md"
  echo
  echo "## Targets"
  echo
  grep -h '^Target:' "$WORK/latency.md" "$WORK/concurrency.md" "$WORK/size.md" | sed 's/^/- /'
  if [ -n "$ATTACK_BLOCK" ]; then
    echo
    echo "$ATTACK_BLOCK"
  fi
} >"$ROOT/bench/RESULTS.md"

echo "== daemon: $(grep -c '"event":"sign_in_succeeded"' "$WORK/mfa.log") successful authentications audited"
echo "== wrote bench/RESULTS.md"
grep -h '^Target:' "$WORK/latency.md" "$WORK/concurrency.md" "$WORK/size.md"
