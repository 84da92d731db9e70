"""pciids.py: vendor / device / class names from pci.ids, against the system file."""

from pykdump_ext.pci import pciids
from tests.shared import SYSTEM_IDS, needs_ids


@needs_ids
def test_pciids_lookups_against_system_file():
    # lines taken from the system pci.ids itself, so the check follows whatever version is installed
    text = open(SYSTEM_IDS.path, encoding="utf-8", errors="replace").read().split("\n")
    vline = next(i for i, l in enumerate(text) if l.startswith("8086  "))
    dline = next(l for l in text[vline + 1:] if l.startswith("\t") and not l.startswith("\t\t"))
    assert SYSTEM_IDS.vendor(0x8086) == text[vline][6:].strip()
    assert SYSTEM_IDS.device(0x8086, int(dline[1:5], 16)) == dline[5:].strip()
    assert SYSTEM_IDS.klass(0x060400) == "PCI bridge"
    assert SYSTEM_IDS.vendor(0xFFFE) is None or isinstance(SYSTEM_IDS.vendor(0xFFFE), str)


def test_pciids_small_file(tmp_path):
    f = tmp_path / "pci.ids"
    f.write_text("# comment\n1af4  Red Hat, Inc.\n\t1041  Virtio 1.0 network device\n"
                 "\t\t1af4 1100  QEMU Virtual Machine\nzzzz  broken line\n\tqq bad\n"
                 "C 02  Network controller\n\t00  Ethernet controller\n"
                 "C 06  Bridge\n\t04  PCI bridge\n\t\t00  Normal decode\n\t\t01  Subtractive decode\n")
    ids = pciids.PciIds.load(str(f))
    assert ids.vendor(0x1AF4) == "Red Hat, Inc."
    assert ids.device(0x1AF4, 0x1041) == "Virtio 1.0 network device"
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x1100) == "QEMU Virtual Machine"
    assert ids.klass(0x020000) == "Ethernet controller"
    assert ids.klass(0x028000) == "Network controller"      # unknown subclass: the class name
    assert ids.prog_if(0x060401) == "Subtractive decode"
    assert ids.vendor(0x8086) is None and ids.klass(0xFF0000) is None


def test_pciids_missing_file(tmp_path):
    ids = pciids.PciIds.load(str(tmp_path / "nope"))
    assert ids.vendor(0x8086) is None and ids.error
    assert pciids.PciIds.empty().device(1, 2) is None


@needs_ids
def test_pciids_every_entry_of_the_system_file():
    """Vendor blocks are read lazily: every vendor, device, subsystem and class line of the
    system file, read here line by line, is what the lookups answer."""
    ids = pciids.PciIds.load(SYSTEM_IDS.path)
    vid = did = cls = sub = None
    n = 0
    for line in open(SYSTEM_IDS.path, encoding="utf-8", errors="replace").read().split("\n"):
        if not line or line.startswith("#"):
            continue
        if line.startswith("C "):
            vid, cls, sub = None, int(line[2:4], 16), None
        elif not line.startswith("\t"):
            vid, cls = int(line[:4], 16), None
            assert ids.vendor(vid) == line[4:].strip()
        elif not line.startswith("\t\t"):
            if cls is not None:
                sub = int(line[1:3], 16)
                assert ids.klass(cls << 16 | sub << 8) == line[3:].strip()
            else:
                did = int(line[1:5], 16)
                assert ids.device(vid, did) == line[5:].strip(), line
        elif cls is not None:
            assert ids.prog_if(cls << 16 | sub << 8 | int(line[2:4], 16)) == line[4:].strip()
        else:
            assert ids.subsystem(vid, did, int(line[2:6], 16), int(line[7:11], 16)) == line[11:].strip()
        n += 1
    assert n > 10000


def test_pciids_malformed_lines_name_nothing(tmp_path):
    f = tmp_path / "pci.ids"
    f.write_text("1af4  Red Hat, Inc.\n\t\n\t\t\n\tzzzz  bad device\n\t1041  Virtio\n"
                 "\t\t1af4  short subsystem\n\t\t1af4 1100  QEMU\r\n"
                 "C zz  bad class\n\t00  lost subclass\nC 02  Network controller\n\t\n\t00  Ethernet\n")
    ids = pciids.PciIds.load(str(f))
    assert ids.device(0x1AF4, 0x1041) == "Virtio"
    assert ids.subsystem(0x1AF4, 0x1041, 0x1AF4, 0x1100) == "QEMU"
    assert ids.klass(0x020000) == "Ethernet" and ids.klass(0x000000) is None
    assert len(ids) == 1
