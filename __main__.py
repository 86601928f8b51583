"""`python -m trl_jobs_mcp` is `trl-jobs-mcp`."""

import sys

from .server.cli import main

sys.exit(main())
