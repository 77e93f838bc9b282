"""``dataclass`` for the package's records, imported without paying for ``inspect`` and ``copy``.

Every record of the core (messages, events, limits) is a frozen slotted :func:`dataclasses.dataclass`.
On CPython 3.11 to 3.13, ``import dataclasses`` also imports ``inspect`` (which imports ``ast``,
``dis``, ``tokenize``, ``token`` and ``linecache``) and ``copy``: about 1.1 MiB of resident memory
in a device process, more than the whole client (measured for issue 13 with cached bytecode:
``socket`` + ``selectors`` is 11.8 MiB, ``dataclasses`` adds 1.3 MiB, of which 1.0 MiB is
``inspect`` and 0.1 MiB ``copy``). ``dataclasses`` calls into them in three places only:
``inspect.signature(cls)`` to write a ``__doc__`` for a class that has none
(``dataclasses._process_class``; every record here has a docstring), and ``copy.deepcopy`` in
``asdict`` and ``astuple``.

So when none of these modules is loaded yet, ``dataclasses`` is imported with a stand-in for each
of ``inspect`` and ``copy`` in :data:`sys.modules` for the duration of that one import:
``dataclasses`` binds the stand-ins as its globals, and they leave :data:`sys.modules` at once, so
every other ``import inspect`` or ``import copy`` in the process gets the real module as usual. The
first attribute read on a stand-in (a docstring-less dataclass or an ``asdict`` call somewhere in the
application) imports the real module, rebinds the global in ``dataclasses`` and answers from it:
``dataclasses`` behaves exactly as before, only its import is cheaper. If ``dataclasses`` or either
module is already loaded, this just imports ``dataclasses``.

``tests/blynk/test_imports.py`` checks that a device process loads none of ``inspect``, ``copy``
and ``typing``, and that ``dataclasses`` still documents a docstring-less class and deep-copies in
``asdict``.
"""

from __future__ import annotations

import sys
import types

__all__ = ["DEFERRED", "dataclass", "field"]

#: Modules ``dataclasses`` imports at the top but uses only in rarely called functions.
DEFERRED = ("inspect", "copy")


class _Deferred(types.ModuleType):
    """Stands in for a module while ``dataclasses`` is imported; loads the real one on first use."""

    def __getattr__(self, attr: str) -> object:
        name = self.__name__
        if sys.modules.get(name) is self:  # still mid-import (another thread): step aside
            del sys.modules[name]
        import importlib

        real = importlib.import_module(name)
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and vars(dataclasses).get(name) is self:
            vars(dataclasses)[name] = real
        return getattr(real, attr)


def _import_dataclasses() -> None:
    """Import ``dataclasses`` with :data:`DEFERRED` modules deferred (see the module docstring)."""
    if "dataclasses" in sys.modules or any(name in sys.modules for name in DEFERRED):
        return
    stand_ins = {name: _Deferred(name, f"the real {name} is imported on first use") for name in DEFERRED}
    sys.modules.update(stand_ins)
    try:
        import dataclasses  # noqa: F401  (binds the stand-ins)
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


_import_dataclasses()

from dataclasses import dataclass, field  # noqa: E402
