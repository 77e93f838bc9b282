"""blynk_client: the Blynk device protocol over standard sockets, a CLI, and a local Blynk server.

``protocol`` is the sans-I/O core (both roles); ``client`` and ``server`` are its asyncio drivers.
"""

__version__ = "0.1.0"
