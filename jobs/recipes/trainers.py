"""TRL's trainers and the data files TRL reads: the facts the job's entry module shares with the recipe.

Standard library only, and no import of this package: the entry module runs in the job, and on a Ray node only the
copy shipped with the job is there (jobs/backends/ray/shipped.py), with this file and argv.py beside it.
"""

# The trainers, each with the TRL class its script trains (the job-side entry point runs that class).
TRAINER_CLASSES = {"sft": "SFTTrainer", "dpo": "DPOTrainer", "grpo": "GRPOTrainer", "kto": "KTOTrainer",
                   "reward": "RewardTrainer", "rloo": "RLOOTrainer"}
TRAINERS = tuple(TRAINER_CLASSES)

# What a local dataset file may be: what `datasets.load_dataset` reads from a folder of such files.
DATA_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")

# A single data file with an evaluation asked for: this fraction of its rows (shuffled with the run's seed, else
# TrainingArguments' default) is held out as the test split; entry.py does it and checks.py tells the user.
HELD_OUT = 0.1
DEFAULT_SEED = 42

# Written by the entry module beside a run's model when training ends (jobside.py): whether it stopped early, at
# which global step, its best checkpoint, the last and best values of its logged metrics. Read back by readback.py.
OUTCOME_FILE = "trl_jobs_outcome.json"
