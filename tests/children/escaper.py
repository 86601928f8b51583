"""A job whose helper leaves the process group, the way daemons, some launchers and careless scripts do.

argv: <folder> <style> [--exit]
  setsid:      a child started with start_new_session=True
  double-fork: a child that starts the helper in a new session and exits at once (a daemon: the helper's
               parent is gone, so only the supervisor's subreaper keeps it in the job's tree)
  clean-env:   setsid, and the helper runs with an empty environment (no TRL_JOBS_JOB_ID to find it by)
With --exit the command itself ends once the helper beats; otherwise it waits forever.
"""

import os
import subprocess
import sys
import time

folder, style = sys.argv[1], sys.argv[2]


def beat():
    with open(os.path.join(folder, "helper.pid"), "w") as f:
        f.write(str(os.getpid()))
    n = 0
    while True:
        n += 1
        with open(os.path.join(folder, "beat.tmp"), "w") as f:
            f.write(str(n))
        os.replace(os.path.join(folder, "beat.tmp"), os.path.join(folder, "beat"))
        time.sleep(0.02)

if style == "helper":
    beat()
me = [sys.executable, __file__, folder]
if style == "daemonize":
    subprocess.Popen(me + ["helper"], start_new_session=True)
    sys.exit(0)
if style == "setsid":
    subprocess.Popen(me + ["helper"], start_new_session=True)
elif style == "double-fork":
    subprocess.Popen(me + ["daemonize"]).wait()
elif style == "clean-env":
    subprocess.Popen(me + ["helper"], start_new_session=True, env={})
while not os.path.exists(os.path.join(folder, "beat")):
    time.sleep(0.01)
print("ready", flush=True)
if "--exit" in sys.argv:
    sys.exit(0)
while True:
    time.sleep(1)
