"""A job that reports to trackio the way transformers' TrackioCallback does, without trackio installed: it writes
trackio's SQLite store ($TRACKIO_DIR/<project>.db, trackio 0.x schema) itself. Takes the Trainer's own flags
(--report_to trackio --project P --run_name R) so the job's command says where its metrics are."""

import argparse
import json
import os
import sqlite3
from datetime import datetime, timedelta

parser = argparse.ArgumentParser()
parser.add_argument("--report_to")
parser.add_argument("--project", default="huggingface")
parser.add_argument("--run_name")
args = parser.parse_args()

db = sqlite3.connect(os.path.join(os.environ["TRACKIO_DIR"], f"{args.project}.db"))
db.execute("CREATE TABLE IF NOT EXISTS metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, "
           "run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL)")
start = datetime(2025, 1, 1)
for i in range(12):
    logs = {"train/loss": 3.0 - 0.2 * i, "train/learning_rate": 1e-4 * (1 - i / 12), "train/global_step": 5 * (i + 1)}
    db.execute("INSERT INTO metrics (timestamp, run_name, step, metrics) VALUES (?, ?, ?, ?)",
               ((start + timedelta(seconds=i)).isoformat(), args.run_name, i, json.dumps(logs)))
db.commit()
print("logged 12 steps to trackio", flush=True)
