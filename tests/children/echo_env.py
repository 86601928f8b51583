"""Prints, as one JSON line, its argv, cwd and the job variables the executor sets; then exits with argv[1]."""

import json
import os
import sys

names = ["TRL_JOBS_OUTPUT_DIR", "TRL_JOBS_JOB_ID", "PYTHONUNBUFFERED", "MY_VAR", "MY_SECRET"]
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": {n: os.environ.get(n) for n in names}}))
print("to stderr", file=sys.stderr, flush=True)
print("last words")
sys.exit(int(sys.argv[1]))
