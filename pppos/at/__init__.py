"""The modem layer's sans-I/O cores: the AT engine, modem profiles and the bring-up plan.

See :mod:`pppos.at.engine` (ITU-T V.250 / 3GPP TS 27.007 command engine), :mod:`pppos.at.profiles`
and :mod:`pppos.at.bringup`.
"""

from __future__ import annotations

from pppos.at.bringup import (
    Bringup,
    BringupConfig,
    DataMode,
    Hangup,
    ModemInfo,
    PdpContext,
    Progress,
    SetBaud,
    SetDtr,
    Verdict,
    VerdictCode,
)
from pppos.at.engine import (
    AtEngine,
    AtStats,
    CommandDone,
    CommandFailed,
    CommandTimeout,
    Connected,
    Prompt,
    Urc,
)
from pppos.at.profiles import PROFILES, ModemProfile, detect_profile, get_profile

__all__ = [
    "PROFILES",
    "AtEngine",
    "AtStats",
    "Bringup",
    "BringupConfig",
    "CommandDone",
    "CommandFailed",
    "CommandTimeout",
    "Connected",
    "DataMode",
    "Hangup",
    "ModemInfo",
    "ModemProfile",
    "PdpContext",
    "Progress",
    "Prompt",
    "SetBaud",
    "SetDtr",
    "Urc",
    "Verdict",
    "VerdictCode",
    "detect_profile",
    "get_profile",
]
