"""python -m service [--grpc-only]: the gateway (gRPC + REST bridge in one process)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from service.config import ConfigError, Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--grpc-only", action="store_true", help="serve gRPC only, no REST bridge")
    args = parser.parse_args()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from service.gateway import serve
    from service.logs import configure_logging

    configure_logging(settings)
    try:
        import uvloop

        uvloop.run(serve(settings, http=not args.grpc_only))
    except ImportError:
        asyncio.run(serve(settings, http=not args.grpc_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
