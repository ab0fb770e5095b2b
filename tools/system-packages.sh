#!/bin/sh
# Installs, with apt-get, the Debian/Ubuntu packages named on the command line that are not
# installed yet; with --node first, also Node.js and npm when `node` or `npm` is missing (a
# machine with NodeSource's nodejs, which bundles npm, must not be given Debian's npm, which
# conflicts with it). Used by `make serve` (runtime packages) and `make test` (runtime and
# test packages).
#
# As root it runs apt-get; otherwise through sudo. Without either, or when apt-get fails, it
# stops with the exact command to run. Ubuntu has no Chromium .deb (`chromium-browser` only
# installs the snap): there `chromium` is never given to apt-get; what to do is printed instead.
#
# OS_RELEASE (default /etc/os-release) is read to tell Ubuntu; the tests point it elsewhere.
set -u

node=0
if [ "${1:-}" = "--node" ]; then
  node=1
  shift
fi

os_id=$(. "${OS_RELEASE:-/etc/os-release}" 2>/dev/null && echo "${ID:-} ${ID_LIKE:-}")
case " $os_id " in
  *" ubuntu "*) ubuntu=1 ;;
  *) ubuntu=0 ;;
esac

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# A Chromium the capture code can run: TIMESEAL_CHROMIUM, or `chromium` on the PATH.
have_chromium() {
  [ -n "${TIMESEAL_CHROMIUM:-}" ] && [ -x "${TIMESEAL_CHROMIUM}" ] && return 0
  command -v chromium >/dev/null 2>&1
}

missing=""
chromium_advice=0
for p in "$@"; do
  if [ "$p" = chromium ] && [ "$ubuntu" = 1 ]; then
    have_chromium || chromium_advice=1
    continue
  fi
  installed "$p" || missing="$missing $p"
done
if [ "$node" = 1 ]; then
  { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } ||
    missing="$missing nodejs npm"
fi

if [ "$chromium_advice" = 1 ]; then
  cat >&2 <<'EOF'
note: Ubuntu ships Chromium only as a snap (the chromium-browser package just installs it).
      Web capture and the browser tests need one: run `sudo snap install chromium`, or install
      any Chromium or Chrome and set TIMESEAL_CHROMIUM=/path/to/its/binary.
EOF
fi

if [ -z "$missing" ]; then
  exit 0
fi
missing=${missing# }

fail() {
  cat >&2 <<EOF

error: $1
  These system packages are missing: $missing
  Install them as root, then run the make command again:
      apt-get update && apt-get install --no-install-recommends $missing
EOF
  exit 1
}

if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  fail "not root, and sudo is not installed, so apt-get cannot be run."
fi

echo "installing system packages: $missing"
# No -q on install: apt prints each package as it is fetched and set up.
# shellcheck disable=SC2086  # $missing is a list of package names
$sudo apt-get update -q || fail "apt-get update failed (see above)."
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing ||
  fail "apt-get install failed (see above)."
