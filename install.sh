#!/usr/bin/env bash
# Installs everything pcicrash and its tests need on Debian 12, then the
# package itself (editable, with the cffi helper built) into ./.venv.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Build: gcc, Python headers, compression libraries for the C page helper.
# Peers and test tools: makedumpfile, crash, pciutils (lspci -F), pci.ids,
# libkdumpfile and drgn (Python bindings are for the system python3), zstd/xz,
# readelf (binutils) for the ELF reader tests.
PKGS="gcc binutils python3 python3-dev python3-venv python3-pip python3-cffi libffi-dev
      zlib1g-dev liblzo2-dev libsnappy-dev libzstd-dev
      makedumpfile crash pciutils pci.ids python3-libkdumpfile python3-drgn zstd xz-utils"
# HTML report (--html): Jinja2.
PKGS="$PKGS python3-jinja2"
# systemd-analyze verifies the triage units in the tests (pcicrash --install-units).
PKGS="$PKGS systemd"
# fleet tests (docs/fleet.md): a real HTTP server with Range support on 127.0.0.1
PKGS="$PKGS nginx-light"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $PKGS
# The HTML report's tests open it in headless Chromium (selenium, from the test extra, drives
# chromium-driver's chromedriver).  Without Chromium's recommends: they bring udev, whose hwdb
# makes lspci name subsystems differently from pci.ids (the lspci comparisons then fail).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core fonts-liberation
# The Debian peers live in the system python3's dist-packages: the venv sees them.
/usr/bin/python3 -m venv --system-site-packages .venv
.venv/bin/pip install --quiet --upgrade pip
# with the fleet extras (fsspec/s3fs/gcsfs/aiohttp, Dask, pyarrow) and moto's S3 server
# for their tests; one editable install builds the C helper once.  editable_mode=compat: a
# plain path in a .pth file, not setuptools' import hook, which every interpreter start
# (every pcicrash run) would load (about 18 ms)
.venv/bin/pip install --quiet --config-settings editable_mode=compat -e '.[test,fleet,fleet-test]'
# drgn front end: the newest drgn from PyPI (with drgn.commands) beside Debian's
# 0.0.22, in a venv of its own (two drgns cannot share one); pcicrash registers
# there as a drgn plugin.
/usr/bin/python3 -m venv .venv-drgn
.venv-drgn/bin/pip install --quiet --upgrade pip
.venv-drgn/bin/pip install --quiet --config-settings editable_mode=compat drgn -e .
