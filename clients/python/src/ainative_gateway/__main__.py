"""``python -m ainative_gateway`` runs the ``gateway-chat`` CLI."""

import sys

from ainative_gateway.cli import main

sys.exit(main())
