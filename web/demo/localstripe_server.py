"""localstripe, the Stripe stand-in, bound to loopback only (its own entry point listens on every interface)."""
import argparse
import logging

from aiohttp import web
from localstripe.resources import store
from localstripe.server import app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()
    store.clear()  # --from-scratch: never resume another run's pickled state
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
