"""PCI capability decoders: one per capability, all in one registry.

Bytes in, typed results out (`model.CapResult` with its `Reg` registers), every
read bounds-checked through `access.Access`.  `registry.decode_cap()` decodes
one capability, `registry.text()` words a result as lspci -vvv does.  Importing
this package registers every decoder module below.

Adding a capability: one module here (its Register tables, a decoder under
`@capability(kind, id, name)`, its lspci wording under `@text_for(kind, id)`)
and its name in the import line below.
"""

from . import aer, dpc, ecaps, ht, ide, iov, msi, pcie, phy, pm, std, vc, vendor  # noqa: F401  (registers)
from .access import Access  # noqa: F401
from .model import CapResult, Reg, Register  # noqa: F401
from .registry import REGISTRY, Ctx, decode_cap, text  # noqa: F401
