"""Network side of the pure-Python backend: the TUN interface, routes, DNS and the state file (drivers)."""
