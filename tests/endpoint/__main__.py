"""Run the Osprey test endpoint:  /usr/bin/python3 tests/endpoint [options]

(also: cd tests/endpoint && /usr/bin/python3 -m awsendpoint.cli [options])
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from awsendpoint.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
