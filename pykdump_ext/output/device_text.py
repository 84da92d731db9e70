"""The full human decode of one captured device, in lspci -vvv's words plus what lspci lacks.

Every header and capability line is lspci -vvv's, worded by the caps registry
from the typed results (`Config.header`, `Config.capabilities`), so a support
engineer reads it like `lspci -vvv`; on top it names each AER error with
severity/masked/first flags, decodes the logged TLP header, gives the error
source and DPC source as BDFs and the DPC trigger reason, says whether the link
trained below its capability, and lists decoding problems.  pcicrash's own lines
use 0x numbers and dddd:bb:dd.f BDFs.  Pure: a Config in, lines out.
"""

from __future__ import annotations

from typing import List, Optional, TYPE_CHECKING

from pykdump_ext.pci import caps as _caps
from pykdump_ext.pci import regs as R
from . import style, tlp_view
from pykdump_ext.pci.caps import header as _header
from pykdump_ext.pci.config import Config, rid_to_bdf

if TYPE_CHECKING:
    from pykdump_ext.analysis.link import LinkState
    from pykdump_ext.pci.pciids import PciIds

T1, T2, T3 = "\t", "\t\t", "\t\t\t"


def _yn(v):
    return "+" if v else "-"


def _domain(bdf):
    try:
        return int(bdf.split(":")[0], 16) if bdf.count(":") == 2 else 0
    except ValueError:
        return 0


def _title(cfg: Config, bdf: str, names) -> str:
    if cfg.all_ff:
        return "%s [ffff:ffff] (no answer: config space all 0xff)" % bdf
    if cfg.vendor_id is None or cfg.device_id is None:
        return "%s [????:????] (config space too short to identify: %d bytes)" % (bdf, cfg.size)
    cc = cfg.class_code if cfg.class_code is not None else 0
    cname = names.klass(cc) if names is not None else None
    vname = names.vendor(cfg.vendor_id) if names is not None else None
    dname = names.device(cfg.vendor_id, cfg.device_id) if names is not None else None
    t = "%s %s [%04x]: " % (bdf, cname or "Class", cc >> 8)
    t += " ".join(x for x in (vname, dname or "Device") if x)
    t += " [%04x:%04x]" % (cfg.vendor_id, cfg.device_id)
    if cfg.revision:
        t += " (rev %02x)" % cfg.revision
    if cc & 0xFF or (names is not None and names.prog_if(cc)):
        pi = names.prog_if(cc) if names is not None else None
        t += " (prog-if %02x%s)" % (cc & 0xFF, " [%s]" % pi if pi else "")
    return t


def _subsystem(cfg, names) -> Optional[str]:
    if cfg.subsys_vendor_id is None or cfg.subsys_vendor_id in (0, 0xFFFF):
        return None
    sv = names.vendor(cfg.subsys_vendor_id) if names is not None else None
    sn = (names.subsystem(cfg.vendor_id, cfg.device_id, cfg.subsys_vendor_id, cfg.subsys_id)
          if names is not None else None)
    return "Subsystem: %s [%04x:%04x]" % (" ".join(x for x in (sv, sn or "Device") if x),
                                          cfg.subsys_vendor_id, cfg.subsys_id or 0)


_LINK_LINE = "link: "


def _pcie_lines(cfg, body) -> List[str]:
    """lspci's PCI Express lines (`body`), with pcicrash's link and error-reporting notes."""
    p = cfg.pcie
    out = []
    for line in body:
        out.append(line)
        if line.startswith("\tDevCtl:") and p.devsta is not None and p.devctl is not None:
            if p.devsta & R.DEVSTA_ERROR_MASK and not p.devctl & R.DEVCTL_REPORT_ENABLES:
                out.append(T2 + "note: errors detected but no error reporting enabled")
        if line.startswith("\t\tTrErr") and p.lnksta is not None:
            # the register alone; describe(link=...) puts the concluded state (link.py) here
            if p.dll_active_reporting_capable:
                state = "LnkSta DLActive%s (alone, not a conclusion)" % _yn(p.dll_link_active)
            else:
                state = "the port does not report DL_Active (LnkCap LLActRep-)"
            out.append(T2 + _LINK_LINE + state)
            if p.downtrained:
                out.append(T2 + style.current().warn("DOWNTRAINED: running %s x%d, capable of %s x%d" % (
                    p.link_speed, p.link_width, p.link_cap_speed, p.link_cap_width)))
    return out


def _err_line(e, uncor):
    parts = []
    if uncor:
        parts.append("FATAL" if e.fatal else "non-fatal")
    else:
        parts.append("correctable")
    parts.append("masked" if e.masked else "unmasked")
    if e.first:
        parts.append("FIRST ERROR")
    k = " (kernel: %s)" % e.kernel if e.kernel else ""
    return style.current().paint("error" if uncor and not e.masked else "warn",
                                 "[%2d] %-16s %s%s: %s" % (e.bit, e.short, e.name, k, ", ".join(parts)))


def _aer_lines(cfg, domain, body) -> List[str]:
    """lspci's AER lines, then pcicrash's: each error named, the TLP header decoded, the
    error sources as BDFs."""
    a = cfg.aer
    out = list(body)
    if a.uncor_errors:
        out.append(T1 + "Uncorrectable errors (UESta 0x%08x):" % a.uncor_status)
        out += [T2 + _err_line(e, True) for e in a.uncor_errors]
    else:
        out.append(T1 + "Uncorrectable errors: none (UESta 0x%08x)" % a.uncor_status)
    if a.cor_errors:
        out.append(T1 + "Correctable errors (CESta 0x%08x):" % a.cor_status)
        out += [T2 + _err_line(e, False) for e in a.cor_errors]
    else:
        out.append(T1 + "Correctable errors: none (CESta 0x%08x)" % a.cor_status)
    note = ""
    if a.tlp is None:
        note = "nothing logged%s" % (", although an error of a TLP-logging kind is set"
                                     if a.header_log_expected else "")
    elif not a.header_log_expected:
        note = "no unmasked TLP-logging error set: the log may be older than the status bits"
    if note:
        out.append(T1 + "Header log: (%s)" % note)
    if a.tlp is not None:
        out.append(T1 + "TLP header:")
        out += [T2 + l for l in tlp_view.lines(a.tlp, domain)]
    if a.tlp_prefix_log:
        out.append(T1 + "TLP prefix log: %s" % " ".join("%08x" % x for x in a.tlp_prefix_log))
    if a.err_src_cor is not None or a.err_src_uncor is not None:
        def src(rid, flag) -> str:
            if rid is None:
                return "?"
            got = flag in a.root_flags
            return "0x%04x%s" % (rid, " = %s" % rid_to_bdf(domain, rid) if got else "")
        out.append(T1 + "Error source: ERR_COR: %s, ERR_FATAL/NONFATAL: %s" % (
            src(a.err_src_cor, "CERcvd"), src(a.err_src_uncor, "UERcvd")))
    return out


def _dpc_lines(cfg, domain, body) -> List[str]:
    """lspci's DPC lines, then pcicrash's: the trigger reason in words, the source as a BDF,
    the RP PIO errors and their TLP."""
    d = cfg.dpc
    out = list(body)
    if d.triggered:
        out.append(T1 + style.current().error("CONTAINED: DPC triggered by %s; source %s" % (
            d.trigger_reason, rid_to_bdf(domain, d.source_id)
            if d.trigger_reason_code in (1, 2) else "0x%04x" % d.source_id)))
    else:
        out.append(T1 + "not triggered")
    if d.rp_extensions and d.rp_pio_status is not None:
        out.append(T1 + "RP PIO: Status 0x%08x, Mask 0x%08x, Severity 0x%08x, First Error Pointer 0x%02x" % (
            d.rp_pio_status, d.rp_pio_mask or 0, d.rp_pio_severity or 0, d.rp_pio_fep or 0))
        out += [T2 + n for n in d.rp_pio_errors]
        if d.rp_pio_header_log and any(d.rp_pio_header_log):
            out.append(T2 + "HeaderLog: %s" % " ".join("%08x" % x for x in d.rp_pio_header_log))
        if d.rp_pio_tlp is not None:
            out += [T3 + l for l in tlp_view.lines(d.rp_pio_tlp, domain)]
    return out


def _cap_lines(cfg, c, domain, names) -> List[str]:
    """Heading text and body lines of one decoded capability (body lines one tab deep).

    A result is shared by every function with the same capability bytes and context, and
    its text depends only on it, the PCI domain and the names: made once per those."""
    memo = c.__dict__.setdefault("_text", {})
    key = (domain, names, style.current().on)      # coloured text is not plain text
    got = memo.get(key)
    if got is None:
        got = memo[key] = _cap_text(cfg, c, domain, names)
    return got


def _cap_block(cfg, c, domain, names) -> List[str]:
    """The 'Capabilities: [..]' line and its body, indented as in a device."""
    memo = c.__dict__.setdefault("_block", {})
    key = (domain, names, style.current().on)      # coloured text is not plain text
    got = memo.get(key)
    if got is None:
        body = _cap_lines(cfg, c, domain, names)
        tag = "%02x" % c.offset if c.kind == "std" else "%03x v%d" % (c.offset, c.version or 0)
        got = memo[key] = [T1 + "Capabilities: [%s] %s" % (tag, body[0])] + [T1 + l for l in body[1:]]
    return got


def _link_lines(c, block) -> tuple:
    """Indexes of the register's link line in a (memoised) PCIe block, found once per block."""
    memo = c.__dict__.setdefault("_link_at", {})
    at = memo.get(id(block))
    if at is None or at[0] is not block:
        mark = T1 + T2 + _LINK_LINE
        at = memo[id(block)] = (block, tuple(i for i, l in enumerate(block) if l.startswith(mark)))
    return at[1]


def _cap_text(cfg: Config, c: "_caps.CapResult", domain: int, names: Optional["PciIds"]) -> List[str]:
    lines = _caps.text(c, cfg.ctx if cfg.ctx is not None else _caps.Ctx())
    head, body = lines[0], lines[1:]
    if c.kind == "std":
        if c.id == R.CAP_ID_EXP and cfg.pcie is not None and cfg.pcie.offset == c.offset:
            body = _pcie_lines(cfg, body)
        elif c.id == R.CAP_ID_SSVID and "Subsystem" in c.regs and names is not None:
            sv, sd = c.reg("SubsystemVendor").value, c.reg("Subsystem").value
            sub = (names.subsystem(cfg.vendor_id, cfg.device_id, sv, sd)
                   if cfg.vendor_id is not None and cfg.device_id is not None else None)
            name = " ".join(x for x in (names.vendor(sv), sub or "Device") if x)
            head = "Subsystem: %s [%04x:%04x]" % (name, sv, sd)
    elif c.id == R.EXT_CAP_ID_AER and cfg.aer is not None and cfg.aer.offset == c.offset:
        body = _aer_lines(cfg, domain, body)
    elif c.id == R.EXT_CAP_ID_DPC and cfg.dpc is not None and cfg.dpc.offset == c.offset:
        body = _dpc_lines(cfg, domain, body)
    return [head] + body


def describe(config: Config, *, bdf: str, names: Optional[PciIds] = None,
             link: Optional[LinkState] = None) -> List[str]:
    """Full human decode of one device: lspci -vv-like headings plus AER/TLP/DPC/link verdicts.

    `bdf` is 'dddd:bb:dd.f'; `names` a pciids.PciIds (or None: numbers only); `link` the
    device's link.LinkState (the conclusion from all the evidence) when known.
    """
    out: List[str] = []
    try:
        _describe(config, bdf, names, out, link)
    except Exception as exc:    # a text bug must not hide the rest of the report
        out.append(T1 + "(decode text incomplete: internal error %s: %s)" % (type(exc).__name__, exc))
    return out


def _describe(config, bdf, names, out, link=None) -> None:
    cfg = config
    domain = _domain(bdf)
    out.append(_title(cfg, bdf, names))
    if cfg.all_ff or cfg.vendor_id is None:
        if cfg.problems:
            out.append(T1 + "Problems:")
            out += [T2 + p for p in cfg.problems]
        return
    sub = _subsystem(cfg, names)
    if sub:
        out.append(T1 + sub)
    if cfg.header_type is not None:
        out.append(T1 + "Header: type %d (%s)%s" % (
            cfg.header_type, R.HEADER_TYPES.get(cfg.header_type, "unknown"),
            ", multi-function" if cfg.multifunction else ""))
    if cfg.header is not None:
        h = cfg.header.__dict__.get("_text")
        if h is None:       # shared by functions with equal header bytes (class code included)
            h = cfg.header.__dict__["_text"] = _header.text(cfg.header, cfg.class_code)
        out += h
    for c in cfg.capabilities:
        block = _cap_block(cfg, c, domain, names)
        if link is not None and c.kind == "std" and c.id == R.CAP_ID_EXP:
            # the cached block is shared by equal bytes: the device's own link state is not
            at = _link_lines(c, block)
            if at:
                block = list(block)
                text = T1 + T2 + "link " + link.text()
                for i in at:
                    block[i] = text
        out += block
    if cfg.problems:
        out.append(T1 + "Problems:")
        out += [T2 + p for p in cfg.problems]
