"""Appends "<name> start" and, a moment later, "<name> end" to a shared file: a queue test reads the order back."""

import sys
import time

path, name = sys.argv[1], sys.argv[2]
with open(path, "a") as f:
    f.write(f"{name} start\n")
time.sleep(0.2)
with open(path, "a") as f:
    f.write(f"{name} end\n")
