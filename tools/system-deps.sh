#!/usr/bin/env bash
# Debian packages caqes-docs needs: LibreOffice and fonts for conversion, poppler and qpdf for
# checks, SoftHSM2 and NSS tools for the PKCS#11 and pdfsig tests, Java and PDFBox for the
# outside-signer tests, Chromium and its driver for the portal's browser tests. Installs what
# is missing when run as root; otherwise prints the exact command to run.
set -euo pipefail
packages=(libreoffice-writer-nogui fonts-liberation fonts-crosextra-carlito
          fonts-crosextra-caladea poppler-utils qpdf softhsm2 libnss3-tools
          default-jre-headless libpdfbox2-java libbcpkix-java chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "Installation des paquets Debian manquants : ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  $command >/dev/null
else
  echo "Paquets Debian manquants : ${missing[*]}" >&2
  echo "Lancez, en tant que root : apt-get update && $command" >&2
  exit 1
fi
