"""`python -m trl_jobs_mcp` is `trl-jobs-mcp`."""

import sys

from trl_jobs_mcp.server.cli import main

sys.exit(main())
