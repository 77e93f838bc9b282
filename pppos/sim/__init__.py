"""The modem simulator: a sans-I/O simulated modem (:mod:`pppos.sim.modem`), slirp as a real PPP peer
(:mod:`pppos.sim.slirp`), and the ``pppos-sim`` driver on a pty (:mod:`pppos.sim.serve`)."""
