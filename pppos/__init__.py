"""pppos: put a Linux host online through a GSM/LTE modem on a serial line.

The package has two kinds of module (see ``docs/design.md``):

* sans-I/O cores (``pppos.at``, ``pppos.ppp``, ``pppos.sim.modem``): bytes and ``now`` in; events, bytes
  and one deadline out. They never read the clock, sleep or touch file descriptors.
* thin drivers (``pppos.daemon``, ``pppos.sim.serve``, ``pppos.net``, ``pppos.backends``, ``pppos.cli``)
  that wire file descriptors, one timer and signals to the cores.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
