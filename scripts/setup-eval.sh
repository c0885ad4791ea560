#!/usr/bin/env bash
# Installs what the evaluation data of bench/quantize is made from (scripts/make-eval-data.ts):
#   fonts-dejavu-core, fonts-liberation, fonts-noto-core  the fonts text lines are rendered in (headless Chromium)
#   espeak-ng                                              the speech synthesizer of the VAD set
#   sox                                                    mixes speech with silence and noise
#
#   sudo scripts/setup-eval.sh
#
# Idempotent; prints one line. Exits 0 without doing anything when not root or when apt is missing
# (the data script then says what is missing). Talks only to the Debian mirrors already configured:
# other apt sources are left out of the update and the install (as scripts/setup-browser.sh does).
set -euo pipefail

say() { echo "setup-eval: $*"; }
packages=(fonts-dejavu-core fonts-liberation fonts-noto-core espeak-ng sox)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then say "nothing to do: ${packages[*]} installed"; exit 0; fi
if [[ $(id -u) -ne 0 ]]; then say "skipped: not root (run it with sudo); missing: ${missing[*]}"; exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then say "skipped: no apt-get/dpkg on this host; missing: ${missing[*]}"; exit 0; fi

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
if [[ -s $view ]]; then apt_opts+=(-o "Dir::Etc::sourcelist=$view" -o Dir::Etc::sourceparts=-); fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
if ! apt-get "${apt_opts[@]}" update >"$log" 2>&1 ||
   ! apt-get "${apt_opts[@]}" --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "${missing[@]}" >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  say "FAILED installing ${missing[*]} (apt output above)"
  exit 1
fi
say "installed ${missing[*]} in $((SECONDS - start))s"
