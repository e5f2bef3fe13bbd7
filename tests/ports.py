"""Port checks shared by the tests: is a receiver's port really free again?"""

from __future__ import annotations

import socket


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` and a new server can take it (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
        return True
