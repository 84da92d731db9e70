"""The HTML report of real shared dumps, opened in real headless Chromium (Debian chromium +
chromium-driver, driven by selenium): what the rendered page shows is checked against the
Report and against what scenario.json says was injected where."""

import json

import pytest

from tests import browser
from tests.shared import VMCORES, needs_shared

why = browser.available()
pytestmark = [needs_shared, pytest.mark.skipif(bool(why), reason=why or "browser")]
if not why:
    from selenium.webdriver.common.by import By

DUMPS = [("aer-uncor", "d31-zlib.kdump"), ("aer-handled", "d31-zlib.kdump"),
         ("layoutB-aer", "d31-zlib.kdump")]


@pytest.fixture(scope="module")
def drv():
    with browser.chromium(1280, 900) as d:
        d.get("about:blank")
        yield d


@pytest.fixture(scope="module", params=DUMPS, ids=[d[0] for d in DUMPS])
def page(request, drv, tmp_path_factory):
    """(scenario, Report, injections, driver) with the report opened in the browser."""
    from crash_ext_c.open import open_dump
    from pykdump_ext.output import report_html
    from pykdump_ext.analysis.report import analyse, load_names
    scen, fname = request.param
    with open_dump([str(VMCORES / scen / fname)]) as reader:
        rep = analyse(reader, names="system")
    f = tmp_path_factory.mktemp("html") / (scen + ".html")
    report_html.write(rep, str(f), names=load_names())
    injections = json.loads((VMCORES / scen / "scenario.json").read_text())["injections"]
    drv.get_log("performance")          # drop what earlier pages asked for
    drv.get_log("browser")
    drv.get(f.as_uri())
    return scen, rep, injections, drv, f


def test_verdict_text_is_the_reports(page):
    scen, rep, _inj, d, _f = page
    shown = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#verdict .vline")]
    assert shown == [l.strip() for l in rep.verdict.lines]
    # the title bar collapses runs of spaces, as browsers do
    assert d.title == " ".join(("pcicrash: " + rep.verdict.lines[0]).split())


def test_svg_error_path_devices_in_order(page):
    scen, rep, inj, d, _f = page
    injected = {i["bdf_guest"] for i in inj}
    svgs = d.find_elements(By.CSS_SELECTOR, ".errpath")
    assert len(svgs) == len(rep.paths) >= 1
    for el, p in zip(svgs, rep.paths):
        hops = [g.get_attribute("data-bdf") for g in el.find_elements(By.CSS_SELECTOR, "svg g.hop")]
        assert hops == [h.bdf for h in p.hops]
        assert hops[0] == p.root_port and hops[-1] == p.source_bdf
        assert p.source_bdf in injected        # every path ends at a device QEMU injected into
        box = el.find_element(By.CSS_SELECTOR, "svg g.hop[data-bdf='%s'] rect" % hops[-1])
        assert box.size["width"] > 100 and box.size["height"] > 30     # drawn, not just present
    # the failing element: the verdict's device, highlighted in the path that ends at it
    top = rep.verdict.suspects[0].bdf
    fail = d.find_elements(By.CSS_SELECTOR, "svg g.hop.fail")
    assert top in [g.get_attribute("data-bdf") for g in fail]
    stroke = d.execute_script(
        "return getComputedStyle(document.querySelector('svg g.hop.fail rect')).strokeWidth")
    assert stroke == "3px"
    if scen in ("aer-uncor", "layoutB-aer"):
        assert [h.bdf for h in rep.paths[0].hops] == ["0000:00:02.0", inj[0]["bdf_guest"]]


def test_badge_on_the_injected_device(page):
    scen, rep, inj, d, _f = page
    uncor = [i["bdf_guest"] for i in inj if "-c" not in i["flags"]]
    cor = [i["bdf_guest"] for i in inj if "-c" in i["flags"]]
    for bdf in set(uncor + cor):
        dev = rep.by_bdf[bdf]
        kinds = {b.get_attribute("data-kind") for b in d.find_elements(
            By.CSS_SELECTOR, ".tn[data-bdf='%s'] .badge" % bdf)}
        panel_kinds = {b.get_attribute("data-kind") for b in d.find_elements(
            By.CSS_SELECTOR, "details.dev[data-bdf='%s'] > summary .badge" % bdf)}
        assert kinds <= panel_kinds
        a = dev.config.aer
        # the badge is there exactly when the captured registers still hold the error
        assert ("ue" in kinds) == any(not e.masked for e in a.uncor_errors), bdf
        assert ("ce" in kinds) == bool(a.cor_errors), bdf
    top = rep.verdict.suspects[0].bdf
    assert top in uncor
    badge = d.find_element(By.CSS_SELECTOR, ".tn[data-bdf='%s'] .badge[data-kind='ue']" % top)
    assert badge.is_displayed() and badge.text.startswith("UE")
    assert d.find_element(By.CSS_SELECTOR, "details.dev[data-bdf='%s'] .badge.suspect" % top)


def test_a_collapsed_panel_per_captured_device(page):
    scen, rep, _inj, d, _f = page
    panels = d.find_elements(By.CSS_SELECTOR, "details.dev")
    assert [p.get_attribute("data-bdf") for p in panels] == [x.bdf for x in rep.devices]
    assert len(panels) == rep.capture.header.device_count
    assert not any(p.get_attribute("open") for p in panels)
    # opening one shows the full decode and the raw config space of that device
    dev = rep.devices[1]
    d.execute_script("arguments[0].open = true; arguments[0].scrollIntoView();", panels[1])
    pre = panels[1].find_element(By.CSS_SELECTOR, "pre.decode")
    assert pre.is_displayed() and pre.text.startswith(dev.bdf + " ")
    hexd = panels[1].find_element(By.CSS_SELECTOR, "pre.hex").text.splitlines()
    assert hexd[0] == "000: " + bytes(dev.record.config[:16]).hex(" ")
    d.execute_script("arguments[0].open = false;", panels[1])


def test_no_console_errors_and_no_request_leaving_the_file(page):
    scen, rep, _inj, d, f = page
    assert browser.console_errors(d) == []
    reqs = browser.requests(d)
    assert [u for u, doc in reqs if doc == f.as_uri()] == [f.as_uri()]
    assert not [u for u, _doc in reqs if not u.startswith(("file:", "chrome:", "data:"))]


def _shown(d, want, total):
    """Wait for the filter to apply (it runs on a timer), then the visible panels' BDFs."""
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(d, 10).until(
        lambda d: d.find_element(By.ID, "count").text == "%d of %d devices" % (len(want), total))
    return d.execute_script("return Array.from(document.querySelectorAll('details.dev'))"
                            ".filter(p => p.offsetParent !== null).map(p => p.dataset.bdf)")


def _type(d, text):
    box = d.find_element(By.ID, "filter")
    box.clear()
    if text:
        box.send_keys(text)
    else:
        d.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)


def test_filter_box(page):
    scen, rep, _inj, d, _f = page
    n = len(rep.devices)
    assert d.find_element(By.ID, "filter").is_displayed()     # the script un-hid the bar
    target = rep.verdict.suspects[0].bdf
    _type(d, target[5:])                            # bb:dd.f form
    assert _shown(d, [target], n) == [target]
    # its way up the tree stays visible as context
    rows = d.execute_script("return Array.from(document.querySelectorAll('.tn'))"
                            ".filter(r => r.offsetParent !== null).map(r => r.dataset.bdf)")
    assert rows == rep.topology.path_to(target)
    want = [x.bdf for x in rep.devices if x.config.vendor_id == 0x1af4]
    _type(d, "1af4")                                # vendor ID
    assert _shown(d, want, n) == want
    want = [x.bdf for x in rep.devices if (x.vendor_name or "").lower() == "red hat, inc."]
    _type(d, "RED hat")                             # vendor name (pci.ids), any case
    assert want and _shown(d, want, n) == want
    _type(d, "")
    assert len(_shown(d, [x.bdf for x in rep.devices], n)) == n
    d.find_element(By.ID, "erronly").click()
    named = {s.bdf for s in rep.verdict.suspects}
    errs = [x.bdf for x in rep.devices if x.items or x.bdf in named]
    assert _shown(d, errs, n) == errs
    d.find_element(By.ID, "erronly").click()
    assert len(_shown(d, rep.devices, n)) == n
    assert browser.console_errors(d) == []


def test_dark_mode_and_print(page):
    scen, rep, _inj, d, _f = page
    bg = "return getComputedStyle(document.body).backgroundColor"
    browser.emulate(d, "light")
    light = d.execute_script(bg)
    browser.emulate(d, "dark")
    dark = d.execute_script(bg)
    browser.emulate(d, "dark", media="print")
    printed = d.execute_script(bg)
    bar = d.execute_script("return getComputedStyle(document.getElementById('filterbar')).display")
    browser.emulate(d)
    assert light == "rgb(255, 255, 255)" and dark != light
    assert printed == "rgb(255, 255, 255)" and bar == "none"


def test_the_checks_see_a_load_when_there_is_one(drv, tmp_path):
    """The two checks above can fail: an image on the loopback address (port 9, nothing
    listens) is refused by the report's Content-Security-Policy with a console error, and
    without that policy the request itself shows up."""
    from pykdump_ext.output import report_html
    from tests.builders import capture as cb
    from pykdump_ext.analysis.report import analyse
    text = report_html.render(analyse(cb.reader(cb.buffer(cb.qemu_like_records())), names="system"))
    bad = text.replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>')
    f = tmp_path / "csp.html"
    f.write_text(bad)
    drv.get("about:blank")
    browser.requests(drv), browser.console_errors(drv)
    drv.get(f.as_uri())
    assert any("Content Security Policy" in e["message"] for e in browser.console_errors(drv))
    f2 = tmp_path / "nocsp.html"
    f2.write_text(bad.replace('http-equiv="Content-Security-Policy"', 'name="x-no-csp"'))
    drv.get(f2.as_uri())
    import time
    time.sleep(0.5)
    assert "http://127.0.0.1:9/x.png" in [u for u, _d in browser.requests(drv)]


def test_report_without_a_capture(drv, tmp_path):
    """no-buffer (no PCI_CRASH lines): verdict and facts only, and the page still runs clean."""
    from crash_ext_c.open import open_dump
    from pykdump_ext.output import report_html
    from pykdump_ext.analysis.report import analyse
    with open_dump([str(VMCORES / "no-buffer" / "d31-zlib.kdump")]) as reader:
        rep = analyse(reader, names="system")
    assert rep.capture.state == "absent" and not rep.devices
    f = tmp_path / "absent.html"
    report_html.write(rep, str(f))
    drv.get("about:blank")
    browser.requests(drv), browser.console_errors(drv)
    drv.get(f.as_uri())
    assert [e.text for e in drv.find_elements(By.CSS_SELECTOR, "#verdict .vline")] == \
        [l.strip() for l in rep.verdict.lines]
    assert drv.find_element(By.CSS_SELECTOR, ".state").text == "absent"
    assert drv.find_elements(By.CSS_SELECTOR, "details.dev") == []
    assert browser.console_errors(drv) == []
    assert [u for u, doc in browser.requests(drv) if doc == f.as_uri()] == [f.as_uri()]


def test_print(page):
    """Printing opens the panels of devices with errors (and closes them after); the PDF of the
    small real reports is a few pages."""
    import base64
    import re
    scen, rep, _inj, d, _f = page
    named = {s.bdf for s in rep.verdict.suspects}
    want = sorted(x.bdf for x in rep.devices if x.items or x.bdf in named)
    open_now = "return Array.from(document.querySelectorAll('details.dev[open]')).map(p => p.dataset.bdf).sort()"
    d.execute_script("window.dispatchEvent(new Event('beforeprint'))")
    assert d.execute_script(open_now) == want
    d.execute_script("window.dispatchEvent(new Event('afterprint'))")
    assert d.execute_script(open_now) == []
    pdf = base64.b64decode(d.execute_cdp_cmd("Page.printToPDF", {})["data"])
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 2 <= pages <= 4 + 4 * len(want), pages      # summary lines plus the opened panels
    assert d.execute_script(open_now) == []
