"""python -m service [--grpc-only]: the gateway (gRPC + REST bridge in one process)."""

from __future__ import annotations

import argparse
import functools
import sys

from service.gateway import serve
from service.runner import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--grpc-only", action="store_true", help="serve gRPC only, no REST bridge")
    args = parser.parse_args()
    sys.exit(run(functools.partial(serve, http=not args.grpc_only)))
