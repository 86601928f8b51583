"""A job with a grandchild: the grandchild writes its pid, then a heartbeat (a counter) to a file every 20 ms.

argv: <folder> [--ignore-term]. Prints "ready" once the grandchild has written its first beat.
With --ignore-term both processes ignore SIGTERM, so only SIGKILL stops them.
"""

import os
import signal
import subprocess
import sys
import time

folder = sys.argv[1]
ignore = "--ignore-term" in sys.argv
if ignore:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

if sys.argv[-1] == "--grandchild":
    with open(os.path.join(folder, "grandchild.pid"), "w") as f:
        f.write(str(os.getpid()))
    beat = 0
    while True:
        beat += 1
        with open(os.path.join(folder, "heartbeat.tmp"), "w") as f:
            f.write(str(beat))
        os.replace(os.path.join(folder, "heartbeat.tmp"), os.path.join(folder, "heartbeat"))
        time.sleep(0.02)

subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--grandchild"])
with open(os.path.join(folder, "child.pid"), "w") as f:
    f.write(str(os.getpid()))
while not os.path.exists(os.path.join(folder, "heartbeat")):
    time.sleep(0.01)
print("ready", flush=True)
while True:
    time.sleep(1)
