#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run run it:
#   scripts/test.sh
# It installs the real components the tests use (below), when run as root
# on Debian, then runs every Go test with the race detector and each fuzz
# target briefly.
# Under CI (CI set) a missing program fails its tests; elsewhere they skip
# and say what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real components the tests run against: libevtx's evtxexport (record
# counts), Alertmanager (the alertmanager handler), an SMTP server
# (python3-aiosmtpd, the email handler), setfacl (acl: the permission
# check's POSIX ACL reading).
missing=()
command -v evtxexport >/dev/null 2>&1 || missing+=(libevtx-utils)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd) # Debian's python3, not one on PATH
command -v setfacl >/dev/null 2>&1 || missing+=(acl) # POSIX ACLs in the permission check
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "note: tests that need ${missing[*]} will skip; install with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

go test -race -count=1 ./...

# Fuzz targets: the decoder, the code extractor and parser, the config
# loader. FUZZTIME=0 skips them.
fuzztime=${FUZZTIME:-10s}
if [ "$fuzztime" != 0 ]; then
  for target in \
    ./watcher/decode:FuzzText \
    ./watcher:FuzzParseCode \
    ./watcher:FuzzAppendCodes \
    ./config:FuzzParse; do
    pkg=${target%%:*} name=${target##*:}
    echo "fuzz $name ($pkg, $fuzztime)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" >/dev/null
  done
fi
echo "all tests passed"
