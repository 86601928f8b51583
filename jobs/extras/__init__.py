"""What a backend may offer beyond run-and-watch (the Hub's extras): local data uploaded for remote jobs, schedules,
and reruns of a job as it was or changed.
"""
