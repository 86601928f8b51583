"""Runs out of memory for real: asks Python for an exabyte."""

print("allocating the batch buffers", flush=True)
buffer = bytearray(1 << 60)
