"""The process supervisor that runs beside every job on this machine and on Ray nodes: timeout, idle guard, tree
kill and system samples. Standard library only: runner.py runs by path (`python -I -S`) and loads procs.py and
sampler.py as siblings, and the Ray backend ships the same three files to its nodes. No backend owns it.
"""
