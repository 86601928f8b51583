"""Logs like a TRL trainer whose loss blows up and stays up (the series a learning rate of 1.0 gave on one machine
in issue 21), then exits 0: a run that 'completes' having diverged, whatever this machine's arithmetic."""

for step, loss in enumerate([6.013, 32.65, 45.15, 35.38, 28.13, 28.82], start=1):
    print({"loss": f"{loss:.4g}", "grad_norm": "0", "learning_rate": "1", "epoch": f"{step / 6:.4g}"}, flush=True)
print({"train_runtime": "1.0", "train_loss": "29.4", "epoch": "1.0"}, flush=True)
