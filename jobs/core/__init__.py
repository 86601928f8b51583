"""The engine's vocabulary: what to run and what it is now (models), the hardware catalog (flavors), secret
scrubbing (redact) and the idle guard's words (guard). Everything else in jobs/ speaks these words.
"""
