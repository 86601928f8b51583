"""Failures a training job meets inside its libraries, produced by the real transformers, datasets and torch code.

Each case prints a marker line, then the traceback exactly as an uncaught exception would print it. Hub cases run
against a fake Hub ($HF_ENDPOINT) that answers by repo name: 'gated-*' is gated (403), 'badtoken-*' rejects the
token (401), anything else does not exist (404). One process serves every case so the imports are paid once;
`library_failures.py DIR CASE` runs one case and lets it end the process, as it would end a job.
"""

import sys
import traceback

import torch
from datasets import load_dataset
from transformers import AutoConfig
from transformers.integrations.liger import apply_liger_kernel

CASES = {
    "model_not_found": lambda: AutoConfig.from_pretrained("someorg/no-such-model"),
    "model_gated": lambda: AutoConfig.from_pretrained("someorg/gated-model"),
    "model_bad_token": lambda: AutoConfig.from_pretrained("someorg/badtoken-model"),
    "model_local_missing": lambda: AutoConfig.from_pretrained(sys.argv[1] + "/no-such-model-dir"),
    "dataset_not_found": lambda: load_dataset("someorg/no-such-data"),
    "dataset_gated": lambda: load_dataset("someorg/gated-data"),
    "dataset_local_missing": lambda: load_dataset(sys.argv[1] + "/no-such-data-dir"),
    # What TRL's use_liger_kernel=true meets when the package is not installed.
    "pip_hint": lambda: apply_liger_kernel(None, None),
    # torch's own CPU allocator refusing a tensor larger than any machine's memory.
    "torch_cpu_oom": lambda: torch.empty(2**62, dtype=torch.uint8),
}

if len(sys.argv) > 2:
    # One case, uncaught: the process ends the way a job does, traceback on stderr and exit status 1.
    CASES[sys.argv[2]]()
    sys.exit(0)

for name, case in CASES.items():
    print(f"=== {name}", flush=True)
    try:
        case()
    except Exception:
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    else:
        print("no error", flush=True)
