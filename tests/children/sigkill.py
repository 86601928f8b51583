"""Dies the way the kernel's OOM killer ends a process: SIGKILL, nothing written."""

import os
import signal

print("step 1/10", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
