"""The full human decode of one captured device, in lspci -vv's words plus what lspci lacks.

Headings and flag words follow lspci so a support engineer reads it like
`lspci -vv`; on top it names each AER error with severity/masked/first flags,
decodes the logged TLP header, gives the DPC trigger reason, says whether the
link trained below its capability, and lists decoding problems.  Numbers are
hex with 0x; BDFs are dddd:bb:dd.f.  Pure: a Config in, lines out.
"""

from __future__ import annotations

from typing import List, Optional

from . import regs as R
from . import style
from .config import Config, link_up, rid_to_bdf

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


def _bars(cfg) -> List[str]:
    out = []
    bars = cfg.bars
    i = 0
    while i < len(bars):
        v = bars[i]
        n = i
        i += 1
        if v == 0:
            continue
        if v & 1:
            out.append("Region %d: I/O ports at %04x" % (n, v & ~0x3))
            continue
        kind = (v >> 1) & 3
        addr = v & ~0xF
        width = "32-bit"
        if kind == 2 and i < len(bars):
            addr |= bars[i] << 32
            i += 1
            width = "64-bit"
        out.append("Region %d: Memory at %x (%s, %sprefetchable)" % (
            n, addr, width, "" if v & 8 else "non-"))
    return out


# lspci's Status line: these flags, DEVSEL=, then the error flags and INTx last
_STATUS_NAMES = dict(R.STATUS_BITS)
_STATUS_HEAD = tuple((m, _STATUS_NAMES[m]) for m in (0x10, 0x20, 0x40, 0x80, 0x100))
_STATUS_TAIL = tuple((m, _STATUS_NAMES[m]) for m in (0x800, 0x1000, 0x2000, 0x4000, 0x8000, 0x08))


def _status_line(cfg):
    st = cfg.status
    devsel = R.STATUS_DEVSEL[(st >> R.STATUS_DEVSEL_SHIFT) & 3]
    return "Status: %s DEVSEL=%s %s" % (R.flag_line(st, _STATUS_HEAD), devsel, R.flag_line(st, _STATUS_TAIL))


def _pcie_lines(cfg) -> List[str]:
    p = cfg.pcie
    out = []
    head = "Express (v%d) %s" % (p.version, p.port_type_name)
    if p.port_type in R.SLOT_PORT_TYPES:
        head += " (Slot%s)" % _yn(p.slot_implemented)
    head += ", IntMsgNum %d" % p.interrupt_message
    out.append(head)
    if p.devcap is not None:
        out.append(T1 + "DevCap:\tMaxPayload %d bytes, PhantFunc %d, %s" % (
            p.max_payload_supported, (p.devcap >> R.DEVCAP_PHANTOM_SHIFT) & 3,
            R.flag_line(p.devcap, R.DEVCAP_BITS)))
    if p.devctl is not None:
        out.append(T1 + "DevCtl:\t%s" % R.flag_line(p.devctl, R.DEVCTL_BITS))
        out.append(T2 + "MaxPayload %d bytes, MaxReadReq %d bytes" % (p.max_payload, p.max_read_request))
        if p.devsta is not None and p.devsta & R.DEVSTA_ERROR_MASK and not p.devctl & R.DEVCTL_REPORT_ENABLES:
            out.append(T2 + "note: errors detected but no error reporting enabled")
    if p.devsta is not None:
        out.append(T1 + "DevSta:\t%s" % R.flag_line(p.devsta, R.DEVSTA_BITS))
    if p.lnkcap is not None:
        out.append(T1 + "LnkCap:\tPort #%d, Speed %s, Width x%d, ASPM %s, %s" % (
            p.port_number, p.link_cap_speed, p.link_cap_width,
            R.ASPM_SUPPORT[(p.lnkcap >> R.LNKCAP_ASPM_SHIFT) & 3], R.flag_line(p.lnkcap, R.LNKCAP_BITS)))
    if p.lnkctl is not None:
        out.append(T1 + "LnkCtl:\tASPM %s; %s" % (R.ASPM_CONTROL[p.lnkctl & R.LNKCTL_ASPM_MASK],
                                                   R.flag_line(p.lnkctl, R.LNKCTL_BITS)))
    if p.lnksta is not None:
        sp = p.link_speed
        wd = "x%d" % p.link_width
        if p.link_cap_speed_code is not None and p.link_speed_code != p.link_cap_speed_code:
            sp += " (capable %s)" % p.link_cap_speed
        if p.link_cap_width is not None and p.link_width != p.link_cap_width:
            wd += " (capable x%d)" % p.link_cap_width
        out.append(T1 + "LnkSta:\tSpeed %s, Width %s, %s" % (sp, wd, R.flag_line(p.lnksta, R.LNKSTA_BITS)))
        if p.dll_active_reporting_capable:
            state = ("up (DL_Active)" if p.dll_link_active
                     else style.current().error("DOWN (Data Link Layer not active)"))
        else:
            state = ("%s (port does not report DL_Active; judged from width/speed)"
                     % ("up" if link_up(p) else "not trained"))
        out.append(T2 + "link %s" % state)
        if p.downtrained:
            out.append(T2 + style.current().warn("DOWNTRAINED: running %s x%d, capable of %s x%d" % (
                p.link_speed, p.link_width, p.link_cap_speed, p.link_cap_width)))
    if p.sltcap is not None:
        out.append(T1 + "SltCap:\t%s, Slot #%d" % (R.flag_line(p.sltcap, R.SLTCAP_BITS), p.slot_number))
    if p.sltctl is not None:
        out.append(T1 + "SltCtl:\tEnable: %s; AttnInd %s, PwrInd %s" % (
            R.flag_line(p.sltctl, R.SLTCTL_BITS),
            R.INDICATOR_STATES[(p.sltctl >> R.SLTCTL_ATTN_IND_SHIFT) & 3],
            R.INDICATOR_STATES[(p.sltctl >> R.SLTCTL_PWR_IND_SHIFT) & 3]))
    if p.sltsta is not None:
        out.append(T1 + "SltSta:\t%s" % R.flag_line(p.sltsta, R.SLTSTA_BITS))
    if p.rootctl is not None:
        out.append(T1 + "RootCtl: %s" % R.flag_line(p.rootctl, R.RTCTL_BITS))
    if p.rootsta is not None:
        out.append(T1 + "RootSta: PME ReqID 0x%04x, %s" % (p.root_pme_requester,
                                                           R.flag_line(p.rootsta, R.RTSTA_BITS)))
    if p.devctl2 is not None:
        out.append(T1 + "DevCtl2: Completion Timeout: %s, %s" % (
            R.COMPLETION_TIMEOUT_VALUES.get(p.devctl2 & R.DEVCTL2_TIMEOUT_MASK,
                                            "reserved (0x%x)" % (p.devctl2 & R.DEVCTL2_TIMEOUT_MASK)),
            R.flag_line(p.devctl2, R.DEVCTL2_BITS)))
    if p.lnkcap2 is not None:
        vec = (p.lnkcap2 >> R.LNKCAP2_SPEEDS_SHIFT) & R.LNKCAP2_SPEEDS_MASK
        speeds = [R.LINK_SPEEDS.get(i + 1, "code %d" % (i + 1)) for i in range(7) if vec >> i & 1]
        out.append(T1 + "LnkCap2: Supported Link Speeds: %s" % (", ".join(speeds) or "none"))
    if p.lnkctl2 is not None:
        out.append(T1 + "LnkCtl2: Target Link Speed: %s" % R.LINK_SPEEDS.get(
            p.lnkctl2 & R.LNKCTL2_TARGET_SPEED_MASK, "code %d" % (p.lnkctl2 & R.LNKCTL2_TARGET_SPEED_MASK)))
    if p.lnksta2 is not None:
        out.append(T1 + "LnkSta2: %s" % R.flag_line(p.lnksta2, R.LNKSTA2_BITS))
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


def _aer_lines(cfg, domain) -> List[str]:
    a = cfg.aer
    out = ["Advanced Error Reporting"]
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
    out.append(T1 + "UEMsk:\t0x%08x %s" % (a.uncor_mask, R.flag_line(a.uncor_mask, R.AER_UNCOR_FLAG_BITS)))
    out.append(T1 + "UESvrt:\t0x%08x %s" % (a.uncor_severity,
                                             R.flag_line(a.uncor_severity, R.AER_UNCOR_FLAG_BITS)))
    out.append(T1 + "CEMsk:\t0x%08x %s" % (a.cor_mask, R.flag_line(a.cor_mask, R.AER_COR_FLAG_BITS)))
    out.append(T1 + "AERCap:\tFirst Error Pointer: 0x%02x, %s" % (a.first_error_pointer,
                                                                  R.flag_line(a.cap_control, R.AER_CAP_BITS)))
    note = ""
    if a.tlp is None:
        note = "  (nothing logged%s)" % (", although an error of a TLP-logging kind is set"
                                         if a.header_log_expected else "")
    elif not a.header_log_expected:
        note = "  (no unmasked TLP-logging error set: the log may be older than the status bits)"
    out.append(T1 + "HeaderLog: %s%s" % (" ".join("%08x" % x for x in a.header_log), note))
    if a.tlp is not None:
        out.append(T1 + "TLP header:")
        out += [T2 + l for l in a.tlp.lines(domain)]
    if a.tlp_prefix_log:
        out.append(T1 + "TLP prefix log: %s" % " ".join("%08x" % x for x in a.tlp_prefix_log))
    if a.root_command is not None:
        out.append(T1 + "RootCmd: %s" % R.flag_line(a.root_command, R.AER_ROOT_CMD_BITS))
    if a.root_status is not None:
        out.append(T1 + "RootSta: %s, IntMsgNum %d" % (R.flag_line(a.root_status, R.AER_ROOT_STATUS_BITS),
                                                      a.adv_err_int_msg))
    if a.err_src_cor is not None or a.err_src_uncor is not None:
        def src(rid, flag):
            if rid is None:
                return "?"
            got = flag in a.root_flags
            return "0x%04x%s" % (rid, " = %s" % rid_to_bdf(domain, rid) if got else "")
        out.append(T1 + "ErrorSrc: ERR_COR: %s, ERR_FATAL/NONFATAL: %s" % (
            src(a.err_src_cor, "CERcvd"), src(a.err_src_uncor, "UERcvd")))
    return out


def _dpc_lines(cfg, domain) -> List[str]:
    d = cfg.dpc
    out = ["Downstream Port Containment"]
    out.append(T1 + "DpcCap:\tIntMsgNum %d, %s, RP PIO Log %d" % (
        d.interrupt_message, R.flag_line(d.capability, R.DPC_CAP_BITS),
        (d.capability >> R.DPC_CAP_RP_LOG_SHIFT) & 0xF))
    out.append(T1 + "DpcCtl:\tTrigger: %s, %s" % (R.DPC_TRIGGER_ENABLE[d.control & R.DPC_CTL_TRIGGER_MASK],
                                                  R.flag_line(d.control, R.DPC_CTL_BITS)))
    out.append(T1 + "DpcSta:\t0x%04x %s" % (d.status, R.flag_line(d.status, R.DPC_STS_BITS)))
    if d.triggered:
        out.append(T2 + style.current().error("CONTAINED: DPC triggered by %s; source %s" % (
            d.trigger_reason, rid_to_bdf(domain, d.source_id)
            if d.trigger_reason_code in (1, 2) else "0x%04x" % d.source_id)))
    else:
        out.append(T2 + "not triggered")
    if d.rp_extensions and d.rp_pio_status is not None:
        out.append(T1 + "RP PIO: Status 0x%08x, Mask 0x%08x, Severity 0x%08x, First Error Pointer 0x%02x" % (
            d.rp_pio_status, d.rp_pio_mask or 0, d.rp_pio_severity or 0, d.rp_pio_fep or 0))
        out += [T2 + n for n in d.rp_pio_errors]
        if d.rp_pio_header_log and any(d.rp_pio_header_log):
            out.append(T2 + "HeaderLog: %s" % " ".join("%08x" % x for x in d.rp_pio_header_log))
        if d.rp_pio_tlp is not None:
            out += [T3 + l for l in d.rp_pio_tlp.lines(domain)]
    return out


def _cap_lines(cfg, c, domain) -> List[str]:
    """Body of one 'Capabilities:' heading (first element is the heading text)."""
    b = cfg.raw

    def u16(o):
        return int.from_bytes(b[o:o + 2], "little") if o + 2 <= len(b) else None

    def u32(o):
        return int.from_bytes(b[o:o + 4], "little") if o + 4 <= len(b) else None

    if c.version is None:   # standard
        if c.id == R.CAP_ID_EXP and cfg.pcie is not None and cfg.pcie.offset == c.offset:
            return _pcie_lines(cfg)
        if c.id == R.CAP_ID_PM:
            csr = u16(c.offset + R.PM_CSR)
            if csr is not None:
                return ["Power Management version %d" % ((u16(c.offset + 2) or 0) & 7),
                        T1 + "Status: %s NoSoftRst%s PME-Enable%s PME%s" % (
                            R.PM_STATES[csr & R.PM_STATE_MASK], _yn(csr & R.PM_CSR_NO_SOFT_RESET),
                            _yn(csr & R.PM_CSR_PME_ENABLE), _yn(csr & R.PM_CSR_PME_STATUS))]
        if c.id == R.CAP_ID_MSI:
            f = u16(c.offset + R.MSI_FLAGS)
            if f is not None:
                return ["MSI: Enable%s Count=%d/%d Maskable%s 64bit%s" % (
                    _yn(f & R.MSI_FLAGS_ENABLE), 1 << ((f >> 4) & 7), 1 << ((f >> 1) & 7),
                    _yn(f & R.MSI_FLAGS_MASKBIT), _yn(f & R.MSI_FLAGS_64BIT))]
        if c.id == R.CAP_ID_MSIX:
            f = u16(c.offset + R.MSIX_FLAGS)
            if f is not None:
                return ["MSI-X: Enable%s Count=%d Masked%s" % (
                    _yn(f & R.MSIX_FLAGS_ENABLE), (f & R.MSIX_FLAGS_QSIZE) + 1, _yn(f & R.MSIX_FLAGS_MASKALL))]
        if c.id == R.CAP_ID_SSVID:
            return ["Subsystem: [%04x:%04x]" % (u16(c.offset + 4) or 0, u16(c.offset + 6) or 0)]
        return [c.name]
    if c.id == R.EXT_CAP_ID_AER and cfg.aer is not None and cfg.aer.offset == c.offset:
        return _aer_lines(cfg, domain)
    if c.id == R.EXT_CAP_ID_DPC and cfg.dpc is not None and cfg.dpc.offset == c.offset:
        return _dpc_lines(cfg, domain)
    if c.id == 0x000D:
        cap, ctl = u16(c.offset + R.ACS_CAP), u16(c.offset + R.ACS_CTRL)
        if ctl is not None:
            return [c.name, T1 + "ACSCap:\t%s" % R.flag_line(cap, R.ACS_BITS),
                    T1 + "ACSCtl:\t%s" % R.flag_line(ctl, R.ACS_BITS)]
    if c.id == 0x0003:
        lo, hi = u32(c.offset + R.DSN_LOW), u32(c.offset + R.DSN_HIGH)
        if hi is not None:
            sn = (hi << 32) | lo
            return ["Device Serial Number %s" % "-".join("%02x" % (sn >> s & 0xFF) for s in range(56, -8, -8))]
    if c.id == 0x0010:
        ctl, total, num = u16(c.offset + R.SRIOV_CTRL), u16(c.offset + R.SRIOV_TOTAL_VF), u16(c.offset + R.SRIOV_NUM_VF)
        if num is not None:
            return [c.name, T1 + "VF Enable%s, Total VFs %d, Number of VFs %d" % (
                _yn(ctl & R.SRIOV_CTRL_VFE), total, num)]
    return [c.name]


def describe(config: Config, *, bdf: str, names=None) -> List[str]:
    """Full human decode of one device: lspci -vv-like headings plus AER/TLP/DPC/link verdicts.

    `bdf` is 'dddd:bb:dd.f'; `names` a pciids.PciIds (or None: numbers only).
    """
    out: List[str] = []
    try:
        _describe(config, bdf, names, out)
    except Exception as exc:    # a text bug must not hide the rest of the report
        out.append(T1 + "(decode text incomplete: internal error %s: %s)" % (type(exc).__name__, exc))
    return out


def _describe(config, bdf, names, out):
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
    if cfg.command is not None:
        out.append(T1 + "Control: " + R.flag_line(cfg.command, R.COMMAND_BITS))
    if cfg.status is not None:
        out.append(T1 + _status_line(cfg))
    if cfg.latency is not None:
        out.append(T1 + "Latency: %d, Cache Line Size: %d bytes" % (cfg.latency, (cfg.cache_line or 0) * 4))
    if cfg.interrupt_pin:
        out.append(T1 + "Interrupt: pin %s, line %d" % ("?ABCD"[cfg.interrupt_pin]
                                                        if cfg.interrupt_pin < 5 else "?",
                                                        cfg.interrupt_line or 0))
    out += [T1 + l for l in _bars(cfg)]
    if cfg.primary_bus is not None:
        out.append(T1 + "Bus: primary=%02x, secondary=%02x, subordinate=%02x" % (
            cfg.primary_bus, cfg.secondary_bus or 0, cfg.subordinate_bus or 0))
    if cfg.sec_status is not None:
        out.append(T1 + "Secondary status: " + R.flag_line(cfg.sec_status, R.SEC_STATUS_BITS))
    if cfg.bridge_control is not None:
        table = R.BRIDGE_CONTROL_BITS if cfg.header_type == 1 else R.CARDBUS_CONTROL_BITS
        out.append(T1 + "BridgeCtl: " + R.flag_line(cfg.bridge_control, table))
    for c in cfg.caps + cfg.ext_caps:
        body = _cap_lines(cfg, c, domain)
        tag = "%02x" % c.offset if c.version is None else "%03x v%d" % (c.offset, c.version)
        out.append(T1 + "Capabilities: [%s] %s" % (tag, body[0]))
        out += [T1 + l for l in body[1:]]
    if cfg.problems:
        out.append(T1 + "Problems:")
        out += [T2 + p for p in cfg.problems]
