"""`python -m server` is `trl-jobs-mcp`."""

import sys

from server.cli import main

sys.exit(main())
