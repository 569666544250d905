#!/usr/bin/env bash
# Root's logins while an unprivileged local user attacks mfa-daemon (issue 5), and the time
# the daemon takes per class of user name, for the build in this tree ("after") and, with
# --before, for older binaries side by side:
#   a. connection flood: one uid, PROCESSES x THREADS threads that connect() to the public
#      socket, send nothing and reconnect as soon as they are dropped; meanwhile root logs
#      in with a valid TOTP code through `auth required libpam_mfa.so`, and again through
#      a failmode=safe stack that shows a marker when the module returned PAM_IGNORE;
#      then the same with HEAVY_PROCESSES processes (the size at which the review of
#      issue 5 saw logins denied and passed without a code);
#   b. argon2 flood: ARGON2_USERS uids, each authenticating itself through the public
#      socket, ARGON2_CONVERSATIONS conversations at a time, with a forged remote host and
#      recovery-shaped guesses; meanwhile root logs in with a valid recovery code (and
#      with a TOTP code);
#   name classes: as root through the daemon's protocol, the time from a wrong answer to
#      the error step for an enrolled account, an account with nothing enrolled, a
#      never-seen name and an invalid name (docs/DESIGN.md, invariant 10).
# Root's logins are `pamtester` under pam_wrapper with the module's defaults (timeout=10).
# Daemons run with built-in defaults on sockets and state directories in a temp dir (the
# name-class daemon with attempt limits raised so that its failures never lock anything).
# The attackers and victims are throw-away accounts (useradd; removed with userdel -r on
# any exit); everything this starts is stopped by PID on any exit. Writes the figures to
# the "Under attack" and "Name classes" sections of bench/RESULTS.md. Run as root.
# Benchmarks are not tests: whatever the figures, this exits 0 when the run completed.
#
# Usage: bench/attack.sh [--before DIR] [--before-label TEXT] [--after DIR] [--after-label TEXT]
#   DIR holds mfa-daemon, libpam_mfa.so and mfa-enroll of one build (a target/release).
#   Without --after, this tree is built (cargo build --release --workspace) and used.
#   MFA_BENCH=PATH uses that mfa-bench binary instead of target/release/mfa-bench.
#   LOGINS, SAFE_LOGINS, HEAVY_PROCESSES, HEAVY_LOGINS, IDLE_LOGINS, PROCESSES, THREADS,
#   ARGON2_USERS, ARGON2_CONVERSATIONS, WARMUP and NAME_SAMPLES (below) may be set in the
#   environment.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LOGINS=${LOGINS:-25}                 # root's logins per attack and kind of login
SAFE_LOGINS=${SAFE_LOGINS:-20}       # failmode=safe logins under the connection flood
HEAVY_PROCESSES=${HEAVY_PROCESSES:-30}  # the heavier flood (0: none), with HEAVY_LOGINS
HEAVY_LOGINS=${HEAVY_LOGINS:-10}        # of each kind (failmode=secure, failmode=safe)
IDLE_LOGINS=${IDLE_LOGINS:-10}       # logins of each kind with no attack, for reference
PROCESSES=${PROCESSES:-10}           # connection flood: processes x threads, one uid
THREADS=${THREADS:-100}
ARGON2_USERS=${ARGON2_USERS:-12}     # argon2 flood: uids, and conversations each at a time
ARGON2_CONVERSATIONS=${ARGON2_CONVERSATIONS:-8}
WARMUP=${WARMUP:-5}                  # seconds an attack runs before root's first login
NAME_SAMPLES=${NAME_SAMPLES:-250}    # per name class and answer shape
VICTIMS=8                            # enrolled users root logs in as (3 TOTP codes each per 30 s)
STEP_TIMEOUT=1800                    # seconds any one measuring step may take

BEFORE_DIR=""
BEFORE_LABEL=""
AFTER_DIR=""
AFTER_LABEL=""
while [ $# -gt 0 ]; do
  case $1 in
    --before) BEFORE_DIR=$(realpath "$2"); shift 2 ;;
    --before-label) BEFORE_LABEL=$2; shift 2 ;;
    --after) AFTER_DIR=$(realpath "$2"); shift 2 ;;
    --after-label) AFTER_LABEL=$2; shift 2 ;;
    *) echo "usage: bench/attack.sh [--before DIR] [--before-label TEXT] [--after DIR] [--after-label TEXT]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "attack: run as root (it creates throw-away accounts and logs in as them)" >&2
  exit 1
fi
for dir in "$BEFORE_DIR" "$AFTER_DIR"; do
  [ -z "$dir" ] && continue
  for f in mfa-daemon libpam_mfa.so mfa-enroll; do
    if [ ! -e "$dir/$f" ]; then echo "attack: $dir has no $f" >&2; exit 1; fi
  done
done

missing=()
for p in pamtester libpam-wrapper libpam-modules passwd util-linux procps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
fi
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

rev_of() {
  local rev
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
  if [ -n "$(git -C "$ROOT" status --porcelain -- . ':!bench' 2>/dev/null)" ]; then
    rev="$rev with uncommitted changes"
  fi
  echo "$rev"
}
if [ -z "$AFTER_DIR" ]; then
  echo "== building the release"
  cargo build --release --workspace
  AFTER_DIR="$ROOT/target/release"
  AFTER_LABEL=${AFTER_LABEL:-"after ($(rev_of))"}
elif [ -z "${MFA_BENCH:-}" ]; then
  echo "== building mfa-bench"
  cargo build --release -p mfa-bench
fi
MFA_BENCH=${MFA_BENCH:-"$ROOT/target/release/mfa-bench"}
AFTER_LABEL=${AFTER_LABEL:-"after ($AFTER_DIR)"}
BEFORE_LABEL=${BEFORE_LABEL:-"before ($BEFORE_DIR)"}

WORK=$(mktemp -d /tmp/pam-mfa-attack.XXXXXX)
# Attackers must reach the sockets, run the bench binary and see the stop files (ctl/);
# nothing else here is theirs.
chmod 711 "$WORK"
mkdir -m 755 "$WORK/bin" "$WORK/ctl"
install -m 755 "$MFA_BENCH" "$WORK/bin/mfa-bench"
BENCH="$WORK/bin/mfa-bench"

PREFIX="mfab$$u"
USERS=()
DAEMON_PIDS=()
STEP_PID=""
# stop_user_processes NAME...: ends every process of these throw-away accounts (the
# attackers and their children), by PID, and waits until they are gone.
stop_user_processes() {
  local user pids tries=0
  while :; do
    pids=""
    for user in "$@"; do pids="$pids $(pgrep -u "$user" 2>/dev/null || true)"; done
    pids=$(echo $pids)
    [ -z "$pids" ] && return 0
    tries=$((tries + 1))
    # shellcheck disable=SC2086 # one PID a word
    if [ "$tries" -gt 50 ]; then kill -KILL $pids 2>/dev/null || true; else kill $pids 2>/dev/null || true; fi
    sleep 0.1
  done
}
cleanup() {
  local pid user
  for pid in $STEP_PID "${DAEMON_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  if [ "${#USERS[@]}" -gt 0 ]; then stop_user_processes "${USERS[@]}"; fi
  for pid in $STEP_PID "${DAEMON_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for user in "${USERS[@]}"; do
    userdel -r "$user" 2>/dev/null || userdel "$user" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step COMMAND...: runs a measuring step with a time limit, in the background so that a
# signal to this script is handled at once (and the cleanup stops the step by its PID).
step() {
  local status=0
  timeout "$STEP_TIMEOUT" "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || status=$?
  STEP_PID=""
  return "$status"
}

# Accounts: ${PREFIX}0 .. victims, then the argon2 attackers, then the connection flooder.
echo "== throw-away accounts ${PREFIX}0 .. ${PREFIX}$((VICTIMS + ARGON2_USERS))"
for i in $(seq 0 $((VICTIMS + ARGON2_USERS))); do
  useradd -m -s /usr/sbin/nologin "$PREFIX$i"
  USERS+=("$PREFIX$i")
done
FLOODER="$PREFIX$((VICTIMS + ARGON2_USERS))"

# start_daemon BIN_DIR NAME [EXTRA_TOML]: an mfa-daemon listening on $WORK/NAME/mfa.sock
# (a directory others may enter), logging to $WORK/NAME.log; sets STARTED_PID and SOCK.
start_daemon() {
  local dir="$WORK/$2"
  mkdir -m 755 "$dir"
  SOCK="$dir/mfa.sock"
  printf 'socket = "%s"\nstate_dir = "%s"\n%s\n' "$SOCK" "$dir/state" "${3:-}" >"$dir.toml"
  "$1/mfa-daemon" --config "$dir.toml" 2>"$WORK/$2.log" &
  STARTED_PID=$!
  DAEMON_PIDS+=("$STARTED_PID")
  for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  cat "$WORK/$2.log" >&2
  echo "attack: mfa-daemon $2 did not start" >&2
  exit 1
}
stop_daemon() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
enroll() { # BIN_DIR SOCK FIRST COUNT ROSTER [CODES]
  step "$BENCH" enroll --mfa-enroll "$1/mfa-enroll" --socket "$2" --prefix "$PREFIX" \
    --first "$3" --count "$4" --jobs 2 --out "$5" ${6:+--codes-out "$6"}
}
log_bytes() { stat -c %s "$1"; }
log_lines() { wc -l <"$1"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# end_attack NAME USER...: tells the attackers to stop (they print what they did), gives
# them STOP_GRACE seconds, then ends whatever of theirs is left.
STOP_GRACE=15
end_attack() {
  local name=$1 user pids
  shift
  touch "$WORK/ctl/stop-$name"
  for _ in $(seq $((STOP_GRACE * 10))); do
    pids=""
    for user in "$@"; do pids="$pids$(pgrep -u "$user" 2>/dev/null || true)"; done
    [ -z "$pids" ] && break
    sleep 0.1
  done
  stop_user_processes "$@"
}
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# measure VERSION BIN_DIR: every figure for one build; rows go to $WORK/VERSION.*.
measure() {
  local version=$1 bin=$2 out="$WORK/$1" pid pids log started i
  echo "== $version: name classes ($NAME_SAMPLES samples each)"
  start_daemon "$bin" "$version-names" $'[limits]\nmax_failures = 1000\naccount_max_failures = 100000'
  pid=$STARTED_PID
  enroll "$bin" "$SOCK" 0 1 "$out.names.roster"
  step "$BENCH" name-timing --socket "$SOCK" --enrolled "${PREFIX}0" --unenrolled "${PREFIX}1" \
    --unknown-prefix "mfab$$n" --invalid "bad/name" --samples "$NAME_SAMPLES" >"$out.names.md"
  cat "$out.names.md"
  stop_daemon "$pid"

  echo "== $version: daemon with built-in defaults; $VICTIMS victims and $ARGON2_USERS attackers enrolled"
  start_daemon "$bin" "$version"
  pid=$STARTED_PID
  log="$WORK/$version.log"
  enroll "$bin" "$SOCK" 0 "$VICTIMS" "$out.roster" "$out.codes"
  enroll "$bin" "$SOCK" "$VICTIMS" "$ARGON2_USERS" "$out.attackers.roster"
  mkdir -m 700 "$out.pam.d"
  echo "auth required $bin/libpam_mfa.so socket=$SOCK" >"$out.pam.d/secure"
  {
    echo "auth [success=done ignore=ignore default=die] $bin/libpam_mfa.so socket=$SOCK failmode=safe"
    echo "auth optional pam_echo.so mfa-bench: PAM_IGNORE"
    echo "auth required pam_permit.so"
  } >"$out.pam.d/safe"
  logins() { # SERVICE COUNT [--codes FILE] [--ignore-marker TEXT]
    local service=$1 count=$2
    shift 2
    step "$BENCH" logins --pam-dir "$out.pam.d" --service "$service" --roster "$out.roster" \
      --count "$count" "$@"
  }
  # attack_started / attack_ended NAME: log growth, load and duration of one attack.
  attack_started() {
    started=$SECONDS
    echo "$(log_bytes "$log") $(log_lines "$log")" >"$out.$1.log0"
    echo "$(load1)" >"$out.$1.load0"
  }
  attack_ended() {
    local bytes0 lines0
    read -r bytes0 lines0 <"$out.$1.log0"
    echo "$(rss_mib "$pid")" >"$out.$1.rss"
    echo "$(( $(log_bytes "$log") - bytes0 )) bytes, $(( $(log_lines "$log") - lines0 )) lines in $((SECONDS - started)) s" >"$out.$1.growth"
    echo "$(cat "$out.$1.load0") / $(load1)" >"$out.$1.load"
  }

  echo "== $version: no attack ($IDLE_LOGINS logins of each kind)"
  attack_started idle
  logins secure "$IDLE_LOGINS" >"$out.idle-totp"
  logins secure "$IDLE_LOGINS" --codes "$out.codes" >"$out.idle-recovery"
  attack_ended idle

  # connection_flood NAME PROCESSES LOGINS SAFE_LOGINS
  connection_flood() {
    echo "== $version: a. connection flood as $FLOODER ($2 processes x $THREADS threads)"
    attack_started "$1"
    runuser -u "$FLOODER" -- "$BENCH" flood-connections --socket "$SOCK" \
      --processes "$2" --threads "$THREADS" --seconds "$STEP_TIMEOUT" \
      --stop-file "$WORK/ctl/stop-$version-$1" 2>"$out.$1.attacker" &
    sleep "$WARMUP"
    logins secure "$3" >"$out.$1-totp"
    logins safe "$4" --ignore-marker "mfa-bench: PAM_IGNORE" >"$out.$1-safe"
    attack_ended "$1"
    end_attack "$version-$1" "$FLOODER"
    cat "$out.$1.attacker" >&2
    sleep 5 # the daemon drops what the flood left
  }
  connection_flood flood "$PROCESSES" "$LOGINS" "$SAFE_LOGINS"
  if [ "$HEAVY_PROCESSES" -gt 0 ]; then
    connection_flood heavy "$HEAVY_PROCESSES" "$HEAVY_LOGINS" "$HEAVY_LOGINS"
  fi

  echo "== $version: b. argon2 flood ($ARGON2_USERS uids x $ARGON2_CONVERSATIONS conversations)"
  attack_started argon2
  for i in $(seq "$VICTIMS" $((VICTIMS + ARGON2_USERS - 1))); do
    runuser -u "$PREFIX$i" -- "$BENCH" flood-recovery --socket "$SOCK" --user "$PREFIX$i" \
      --threads "$ARGON2_CONVERSATIONS" --seconds "$STEP_TIMEOUT" \
      --stop-file "$WORK/ctl/stop-$version-argon2" 2>>"$out.argon2.attacker" &
  done
  sleep "$WARMUP"
  logins secure "$LOGINS" --codes "$out.codes" >"$out.argon2-recovery"
  logins secure "$LOGINS" >"$out.argon2-totp"
  attack_ended argon2
  end_attack "$version-argon2" "${USERS[@]:$VICTIMS:$ARGON2_USERS}"
  cat "$out.argon2.attacker" >&2
  stop_daemon "$pid"
}

LOAD_START=$(load)
VERSIONS=()
if [ -n "$BEFORE_DIR" ]; then
  measure before "$BEFORE_DIR"
  VERSIONS+=(before)
fi
measure after "$AFTER_DIR"
VERSIONS+=(after)
LOAD_END=$(load)

label() { if [ "$1" = before ]; then echo "$BEFORE_LABEL"; else echo "$AFTER_LABEL"; fi; }
{
  echo "<!-- begin bench/attack.sh: written by it, kept by bench/run.sh -->"
  echo "## Under attack"
  echo
  echo "Written by \`bench/attack.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; load average (1, 5, 15 min) at start $LOAD_START, at end $LOAD_END (other builds and fuzzers shared the machine; the load during each attack is in the last column)."
  echo
  echo "- Builds: $(for v in "${VERSIONS[@]}"; do label "$v"; done | paste -sd ';' | sed 's/;/; /g')."
  echo "- Root logs in with \`pamtester SERVICE USER authenticate\` under pam_wrapper, one login after another, each with a valid code of one of $VICTIMS enrolled users (a fresh TOTP code, or a recovery code never used before), through \`auth required libpam_mfa.so socket=SOCK\` (module defaults: \`timeout=10\`, \`failmode=secure\`). failmode=safe row: \`auth [success=done ignore=ignore default=die] libpam_mfa.so socket=SOCK failmode=safe\`, then \`pam_echo\` (a marker line) and \`pam_permit\`: a login that passes showing the marker passed on PAM_IGNORE, i.e. without its code being checked. Times are spawn to exit of pamtester, over every login whatever its end; failures are counted by the PAM error pamtester printed."
  echo "- a. Connection flood: one unprivileged uid, $PROCESSES processes x $THREADS threads (a+: $HEAVY_PROCESSES processes), each thread \`connect()\`s to the daemon's public socket, sends nothing, and reconnects as soon as it is dropped. b. Argon2 flood: $ARGON2_USERS unprivileged uids (each enrolled by root first), each with $ARGON2_CONVERSATIONS conversations at a time authenticating itself (service \`screenlock\`, a random forged \`rhost\` each time) and answering every prompt with a random recovery-shaped code. Each attack runs ${WARMUP} s before root's first login and until its last. The daemon runs with built-in defaults (attempt limits included)."
  echo "- Log growth: the daemon's stderr (no syslog socket here) over the whole attack; daemon RSS at its end."
  echo
  echo "| attack | root's login | build | logins | median ms | max ms | failures (PAM error) | PAM_IGNORE | daemon log growth | daemon RSS MiB | load (1 min) at start / end |"
  echo "|---|---|---|---:|---:|---:|---|---:|---|---:|---|"
  for row in "idle idle-totp none|TOTP code" "idle idle-recovery none|recovery code" \
    "flood flood-totp a. connection flood|TOTP code" "flood flood-safe a. connection flood|TOTP code, failmode=safe" \
    "heavy heavy-totp a+. connection flood, $HEAVY_PROCESSES processes|TOTP code" \
    "heavy heavy-safe a+. connection flood, $HEAVY_PROCESSES processes|TOTP code, failmode=safe" \
    "argon2 argon2-recovery b. argon2 flood|recovery code" "argon2 argon2-totp b. argon2 flood|TOTP code"; do
    read -r attack file rest <<<"$row"
    [ -f "$WORK/${VERSIONS[0]}.$file" ] || continue
    for v in "${VERSIONS[@]}"; do
      echo "| ${rest%%|*} | ${rest#*|} | $(label "$v") | $(cat "$WORK/$v.$file") | $(cat "$WORK/$v.$attack.growth") | $(cat "$WORK/$v.$attack.rss") | $(cat "$WORK/$v.$attack.load") |"
    done
  done
  echo
  echo "What the attackers did (their own counts):"
  echo
  for v in "${VERSIONS[@]}"; do
    for a in flood heavy argon2; do
      [ -f "$WORK/$v.$a.attacker" ] || continue
      awk -v v="$(label "$v")" '/^mfa-bench: flood/ {sub(/^mfa-bench: /, ""); n++; if (n <= 2) print "- " v ": " $0} END {if (n > 2) print "- " v ": ... and " n - 2 " more attackers like these"}' "$WORK/$v.$a.attacker"
    done
  done
  echo
  echo "## Name classes"
  echo
  echo "docs/DESIGN.md invariant 10: unknown, invalid, unenrolled and enrolled names take the same path and the same time. As root through the daemon's protocol (the privileged socket where the daemon has one), $NAME_SAMPLES samples per row, rows interleaved in rotating order; the time from sending a wrong answer to receiving the daemon's error step. A daemon of its own per build, with \`[limits] max_failures = 1000\` (the most the config accepts) and \`account_max_failures = 100000\`, one remote host, so that no lockout interferes (\"other replies\" would show one). Names: an enrolled account, an account (useradd) with nothing enrolled, a new never-seen valid name for every sample, and \`bad/name\`."
  echo
  header="| name class | answer |"
  sep="|---|---|"
  for v in "${VERSIONS[@]}"; do
    header="$header $(label "$v"): median ms | p90 ms | other replies |"
    sep="$sep---:|---:|---|"
  done
  echo "$header"
  echo "$sep"
  # The tables of each build list the same rows in the same order: join them by position.
  awk -F' *\\| *' '
    FNR == 1 { file++ }
    /^\| / && $2 != "name class" && $2 !~ /^-+$/ {
      n[file]++
      key[n[file]] = "| " $2 " | " $3 " |"
      cells[n[file]] = cells[n[file]] " " $5 " | " $6 " | " $7 " |"
    }
    END { for (i = 1; i <= n[1]; i++) print key[i] cells[i] }
  ' $(for v in "${VERSIONS[@]}"; do echo "$WORK/$v.names.md"; done)
  echo
  echo "<!-- end bench/attack.sh -->"
} >"$WORK/attack.md"

RESULTS="$ROOT/bench/RESULTS.md"
touch "$RESULTS"
# Replace this script's block, or append it.
awk -v block="$WORK/attack.md" '
  /^<!-- begin bench\/attack.sh/ { skip = 1; while ((getline line < block) > 0) print line; done = 1; next }
  /^<!-- end bench\/attack.sh/ { skip = 0; next }
  !skip { print }
  END { if (!done) { print ""; while ((getline line < block) > 0) print line } }
' "$RESULTS" >"$WORK/RESULTS.md"
cp "$WORK/RESULTS.md" "$RESULTS"
cat "$WORK/attack.md"
echo "== wrote the \"Under attack\" and \"Name classes\" sections of bench/RESULTS.md"
