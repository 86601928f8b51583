"""Writes what tqdm writes to a file: a bar redrawn with carriage returns, then lines, then a bar left unfinished.

With an argument, it waits for that file to exist before exiting, so a test can read the log while it runs."""

import os
import sys
import time

out = sys.stdout
out.write("header\n")
for i in range(0, 101, 10):
    out.write(f"\r{i:3d}%|{'#' * (i // 10):10s}| {i}/100")
out.write("\n")
out.write("\r  5%|          | 5/100\r" + " " * 30 + "\r{'loss': '1.5'}\n")
out.write("after\n")
out.write("\r 40%|####      | 40/100\r 50%|#####     | 50/100")
out.flush()
if len(sys.argv) > 1:
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
