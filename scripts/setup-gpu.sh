#!/usr/bin/env bash
# Installs a Vulkan driver so onnxruntime-node's WebGPU execution provider has an adapter on a
# Debian bookworm host without a GPU: Mesa's software Vulkan device (lavapipe) from
# bookworm-backports (mesa 25.0), plus the Vulkan loader libvulkan1. The loader has no backport, so
# it comes from bookworm itself (1.3.239). Mesa 25 from backports also upgrades the installed Mesa
# GL/EGL/GBM libraries and libdrm to the backports versions (apt requires them to match).
#
#   sudo scripts/setup-gpu.sh
#
# Idempotent; prints one line. Exits 0 without doing anything when not root, when apt is missing or
# when the host is not bookworm. Talks only to the Debian mirrors already configured: other apt
# sources (nodesource, vendors, ...) are left out of the update and the install.
set -euo pipefail

PKGS=(mesa-vulkan-drivers libvulkan1)
say() { echo "setup-gpu: $*"; }

if [[ $(id -u) -ne 0 ]]; then say "skipped: not root (run it with sudo)"; exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then say "skipped: no apt-get/dpkg on this host"; exit 0; fi
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
if [[ $codename != bookworm ]]; then say "skipped: this host is '${codename:-unknown}', not Debian bookworm"; exit 0; fi

# Fast path: the driver already installed at a backports version (~bpo12) and the loader installed.
installed() { dpkg-query -W -f '${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null | awk '$1=="ii"{print $2}' || true; }
versions() { for p in "${PKGS[@]}"; do printf '%s %s, ' "$p" "$(installed "$p")"; done | sed 's/, $//'; }
if [[ $(installed mesa-vulkan-drivers) == *~bpo* && -n $(installed libvulkan1) ]]; then
  say "nothing to do: $(versions) already installed"; exit 0
fi

# apt's own view of the configured sources, one line per package index: "<repo-uri> <suite> <component>".
targets=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' | sort -u)
is_debian() { [[ $1 =~ ^[a-z+]+://([^/]*\.)?debian\.org(/|:) || $1 =~ /debian(-security)?/?$ ]]; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $keyring ]] || keyring=""

added=""
if ! awk '{print $2}' <<<"$targets" | grep -qx bookworm-backports; then
  mirror=$(awk '$2=="bookworm"{print $1; exit}' <<<"$targets")
  is_debian "${mirror:-x}" || mirror=http://deb.debian.org/debian/
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\n' "$mirror"
    if [[ -n $keyring ]]; then echo "Signed-By: $keyring"; fi
  } >/etc/apt/sources.list.d/bookworm-backports.sources
  added="enabled bookworm-backports ($mirror), "
  targets+=$'\n'"$mirror bookworm-backports main"
fi

# Update and install through a sources list of the Debian entries only: vendor repositories
# (nodesource, ...) are neither contacted nor used. Index files are shared with the full config.
view=$(mktemp --suffix=.list)
log=$(mktemp)
trap 'rm -f "$view" "$log"' EXIT
while read -r uri suite component; do
  if is_debian "$uri"; then echo "deb ${keyring:+[signed-by=$keyring] }$uri $suite $component"; fi
done <<<"$targets" >"$view"
apt_opts=(-q -y -o DPkg::Lock::Timeout=120 -o "Dir::Etc::sourcelist=$view" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0)

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
if ! apt-get "${apt_opts[@]}" update >"$log" 2>&1 ||
   ! apt-get "${apt_opts[@]}" -t bookworm-backports --no-install-recommends \
       -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "${PKGS[@]}" >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  say "FAILED installing ${PKGS[*]} from bookworm-backports (apt output above)"
  exit 1
fi
say "${added}installed $(versions) in $((SECONDS - start))s"
