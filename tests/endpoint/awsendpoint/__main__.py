"""python3 -m awsendpoint (with tests/endpoint on sys.path)."""

import sys

from .cli import main

sys.exit(main())
