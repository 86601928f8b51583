"""Prints the secret in $MY_SECRET in ways that test a scrubber: whole, split across writes with a pause between
the halves (so they arrive in separate reads), and inside other text. Also prints it to stderr."""

import os
import sys
import time

secret = os.environ["MY_SECRET"]
out = sys.stdout.buffer
out.write(f"whole: {secret}\n".encode())
out.flush()
half = len(secret) // 2
out.write(f"split: {secret[:half]}".encode())
out.flush()
time.sleep(0.3)
out.write(f"{secret[half:]} end\n".encode())
out.write(f"glued:xx{secret}{secret}yy\n".encode())
out.flush()
print(f"stderr: {secret}", file=sys.stderr, flush=True)
print("done")
