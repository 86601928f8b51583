"""What a job's numbers mean: metrics and their summaries, plots, failure diagnosis, memory estimates and model sizes,
cost, and tidy logs. Pure reading and arithmetic: nothing here starts or stops a job.
"""
