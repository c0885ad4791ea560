#!/usr/bin/env bash
# Installs Debian's chromium, which the plan viewer's tests (tests/viz) and bench/viz.ts drive headless
# through playwright-core (no browser download: playwright-core uses /usr/bin/chromium).
#
#   sudo scripts/setup-browser.sh
#
# Idempotent; prints one line. Exits 0 without doing anything when not root or when apt is missing
# (the browser tests then skip, saying why). Talks only to the Debian mirrors already configured:
# other apt sources (nodesource, vendors, ...) are left out of the update and the install.
set -euo pipefail

say() { echo "setup-browser: $*"; }

if [[ -x /usr/bin/chromium ]]; then say "nothing to do: $(/usr/bin/chromium --version 2>/dev/null | head -n1 || echo chromium) already installed"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then say "skipped: not root (run it with sudo); the browser tests will skip"; exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then say "skipped: no apt-get/dpkg on this host; the browser tests will skip"; exit 0; fi

# apt's own view of the configured sources, one line per package index: "<repo-uri> <suite> <component>".
targets=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' | sort -u)
is_debian() { [[ $1 =~ ^[a-z+]+://([^/]*\.)?debian\.org(/|:) || $1 =~ /debian(-security)?/?$ ]]; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $keyring ]] || keyring=""

view=$(mktemp --suffix=.list)
log=$(mktemp)
trap 'rm -f "$view" "$log"' EXIT
while read -r uri suite component; do
  if [[ -n ${uri:-} ]] && is_debian "$uri"; then echo "deb ${keyring:+[signed-by=$keyring] }$uri $suite $component"; fi
done <<<"$targets" >"$view"
apt_opts=(-q -y -o DPkg::Lock::Timeout=120 -o APT::Get::List-Cleanup=0)
# Only the Debian entries when there are any; the configured sources as they are otherwise.
if [[ -s $view ]]; then apt_opts+=(-o "Dir::Etc::sourcelist=$view" -o Dir::Etc::sourceparts=-); fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
if ! apt-get "${apt_opts[@]}" update >"$log" 2>&1 ||
   ! apt-get "${apt_opts[@]}" --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install chromium >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  say "FAILED installing chromium (apt output above)"
  exit 1
fi
say "installed $(/usr/bin/chromium --version 2>/dev/null | head -n1 || echo chromium) in $((SECONDS - start))s"
