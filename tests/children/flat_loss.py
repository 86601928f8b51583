"""Logs like a TRL trainer whose loss falls, then flattens; then keeps running until it is stopped."""

import math
import sys
import time

for step in range(1, 41):
    loss = 2.0 + 3.0 * math.exp(-step / 4)
    print({"loss": f"{loss:.4g}", "learning_rate": "2e-05", "epoch": f"{step / 40:.4g}"}, flush=True)
    time.sleep(0.02)
print("still training", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 120)
