"""Screenshots (PNG) of the HTML report in headless Chromium: the aer-uncor shared dump and
the 6000-function synthetic capture of bench_decode.py.

    .venv/bin/python -m bench.screenshot_report [--out DIR] [--dump DUMP]

Writes, per report: the top of the page (verdict, capture facts, error path),
the top of the page in dark mode, the failing device's panel opened, the
topology tree, the page with the filter box used (6000 functions: "errors only"), and the print
layout's first screen.  Needs Debian chromium + chromium-driver and selenium.
"""

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent

from tests import browser  # noqa: E402
from pykdump_ext.output import report_html  # noqa: E402
from pykdump_ext.analysis.report import analyse, load_names  # noqa: E402

SHARED = HERE.parent.parent / "shared" / "vmcores"


def synthetic_report(n=6000):
    from bench.bench_html import synthetic_reader
    rep = analyse(synthetic_reader(n), names="system")
    rep.source = "synthetic 24 MiB capture (%d PCIe functions, bench_decode.py)" % n
    return rep


def dump_report(path):
    from crash_ext_c.open import open_dump
    with open_dump([str(path)]) as reader:
        return analyse(reader, names="system")


def shoot(drv, html_path, prefix, out, *, filter_text=None, errors_only=False):
    from selenium.webdriver.common.by import By
    url = html_path.resolve().as_uri()
    shots = []

    def save(name):
        p = out / ("%s-%s.png" % (prefix, name))
        drv.save_screenshot(str(p))
        shots.append(p)

    browser.emulate(drv, "light")
    drv.get(url)
    t = browser.load_times(drv)
    save("top")
    browser.emulate(drv, "dark")
    time.sleep(0.2)
    save("top-dark")
    browser.emulate(drv, "light")
    # the failing device: the first hop marked "fail" in the first error path, else the first panel
    fail = drv.find_elements(By.CSS_SELECTOR, "svg.path g.hop.fail")
    bdf = fail[0].get_attribute("data-bdf") if fail else None
    drv.execute_script("location.hash = arguments[0];", "dev-" + bdf if bdf else "devices")
    time.sleep(0.3)
    save("panel")
    drv.execute_script("location.hash = 'topology';")
    time.sleep(0.3)
    save("tree")
    drv.execute_script("location.hash = ''; window.scrollTo(0, 0);")
    box = drv.find_element(By.ID, "filter")
    if filter_text:
        box.send_keys(filter_text)
    if errors_only:
        drv.find_element(By.ID, "erronly").click()
    if filter_text or errors_only:
        time.sleep(0.5)
        drv.execute_script("document.getElementById('topology').scrollIntoView();")
        save("filtered")
    browser.emulate(drv, "light", media="print")
    drv.execute_script("window.scrollTo(0, 0);")
    save("print")
    browser.emulate(drv)
    return shots, t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="screenshots", help="directory for the PNGs")
    ap.add_argument("--dump", default=str(SHARED / "aer-uncor" / "d31-zlib.kdump"))
    ap.add_argument("-n", type=int, default=6000, help="functions of the synthetic capture")
    args = ap.parse_args()
    why = browser.available()
    if why:
        sys.exit("screenshot_report: " + why)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = load_names()
    jobs = []
    if pathlib.Path(args.dump).exists():
        rep = dump_report(args.dump)
        p = out / "aer-uncor.html"
        report_html.write(rep, str(p), names=names)
        jobs.append((p, "aer-uncor", {"filter_text": "1af4"}))
    else:
        print("no %s: skipping the real dump" % args.dump)
    rep = synthetic_report(args.n)
    p = out / "synthetic-6000.html"
    report_html.write(rep, str(p), names=names)
    jobs.append((p, "synthetic-6000", {"errors_only": True}))
    with browser.chromium(1280, 1000) as drv:
        for path, prefix, kw in jobs:
            shots, t = shoot(drv, path, prefix, out, **kw)
            print("%s: %.1f MB, loaded in %.0f ms (loadEventEnd)" % (
                path, path.stat().st_size / 1e6, t[2]))
            for s in shots:
                print("  " + str(s))


if __name__ == "__main__":
    main()
