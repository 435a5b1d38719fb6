"""python -m beampipe_provider.testing.casda --host 127.0.0.1 --port 0 --seed wallaby [--faults SPEC]

The plain ObsCore service (ivoa.obscore only, DataLink, SODA) is always mounted, seeded, under /obscore.

Prints the base URL (http://127.0.0.1:PORT) on one line once it accepts connections, then serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from beampipe_provider.testing.casda.catalogue import Catalogue, seed_wallaby
from beampipe_provider.testing.casda.plumbing import Accounts, Faults
from beampipe_provider.testing.casda.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beampipe_provider.testing.casda", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.1 or ::1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", choices=["wallaby", "empty"], default="wallaby")
    parser.add_argument("--sbids", type=int, default=6, help="how many WALLABY scheduling blocks to seed")
    parser.add_argument("--faults", default="", help="e.g. latency_s=0.1,tap_http_500=2")
    args = parser.parse_args(argv)
    if args.host not in {"127.0.0.1", "::1", "localhost"}:
        parser.error("the emulator listens on loopback only")
    catalogue = Catalogue()
    server = Emulator((args.host, args.port), catalogue, Faults.parse(args.faults), Accounts())
    if args.seed == "wallaby":
        seed_wallaby(catalogue, server.base_url, sbids=args.sbids)
    print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
