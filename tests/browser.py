"""Headless Chromium (Debian chromium + chromium-driver) through selenium, for the HTML
report's tests, its benchmark and its screenshots.

The flags keep Chromium from connecting anywhere (the machine has no network:
without them it tries to reach update, sync and field-trial servers), and
each browser gets a fresh profile.  The performance log (CDP Network events)
says which URLs the page asked for; the browser log holds console messages.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars")


def available() -> str:
    """'' when a browser can be started, else why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install '.[test]')"
    if not shutil.which("chromium"):
        return "chromium not installed (Debian: chromium)"
    if not shutil.which("chromedriver"):
        return "chromedriver not installed (Debian: chromium-driver)"
    return ""


@contextlib.contextmanager
def chromium(width=1280, height=1000):
    """A selenium WebDriver on headless Chromium with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pcicrash-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument("--user-data-dir=" + profile)
    opts.add_argument("--window-size=%d,%d" % (width, height))
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(DRIVER))
    drv.pcicrash_profile = profile
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def emulate(drv, scheme=None, media=None):
    """Pretend prefers-color-scheme is `scheme` ("dark"/"light") and/or the media type is
    `media` ("print", "screen"), through CDP Emulation.setEmulatedMedia."""
    feats = [{"name": "prefers-color-scheme", "value": scheme}] if scheme else []
    drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": media or "", "features": feats})


def requests(drv):
    """(url, document url) of every request since the last call (CDP Network.requestWillBeSent):
    the document url says which page asked (the browser's own pages show up too)."""
    out = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            out.append((msg["params"]["request"]["url"], msg["params"].get("documentURL", "")))
    return out


def console_errors(drv):
    """Console messages of level SEVERE (errors, failed loads, CSP violations)."""
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def load_times(drv):
    """(domInteractive, domContentLoadedEventEnd, loadEventEnd) of the last navigation, ms."""
    return tuple(drv.execute_script(
        "var n = performance.getEntriesByType('navigation')[0];"
        "return [n.domInteractive, n.domContentLoadedEventEnd, n.loadEventEnd];"))


def cpu_seconds(drv) -> float:
    """User + system CPU time so far of every process of this browser (found by its profile
    directory on the command line): what a page load costs, whatever else runs on the machine."""
    import os
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    mark = ("--user-data-dir=" + drv.pcicrash_profile).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if mark not in f.read():
                    continue
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])      # utime, stime
    return total / tick
