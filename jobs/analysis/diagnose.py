"""Why a job failed, from the tail of its log, its message and its exit code, with the fix in one line.

Each rule below was written from the output of a real failure (see tests/test_diagnose.py, which produces every one
of them in a child process): a Python traceback ends with the exception that matters, so the last traceback is
searched first, then the rest of the tail. The fix names the argument to change, in TRL's own words, and the tool
to call next, so an assistant can act on it without reading the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ..core.guard import IDLE_LINE
from .metrics import LogParser
from ..core.models import JobsError, JobStage

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..core.models import JobInfo

Cause = Literal[
    "timeout", "out_of_memory", "mixed_precision_on_cpu", "gated_repo", "bad_token", "dataset_not_found",
    "model_not_found", "hub_unreachable", "missing_module", "dataset_columns", "disk_full", "nan_loss", "idle",
]

# The end of a long log is where a failure explains itself; more lines only cost time.
TAIL_LINES = 400
_EVIDENCE_CHARS = 300


class Diagnosis(BaseModel):
    """A recognised cause of failure and its fix."""

    cause: Cause
    title: str = Field(description="the cause in a few words, e.g. 'CUDA out of memory'")
    fix: str = Field(description="one line that names the argument to change or the call to make")
    evidence: str | None = Field(default=None, description="the log line (or message) that shows it")

    @property
    def text(self) -> str:
        evidence = f' (log: "{self.evidence}")' if self.evidence else ""
        return f"{self.title}{evidence}. Fix: {self.fix}"


# Import names that differ from the package to install.
_PACKAGES = {
    "sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml", "bs4": "beautifulsoup4",
    "google": "protobuf", "Levenshtein": "python-Levenshtein", "attr": "attrs", "dateutil": "python-dateutil",
    "liger_kernel": "liger-kernel", "flash_attn": "flash-attn", "sentence_transformers": "sentence-transformers",
    "math_verify": "math-verify",
}
# Packages a training job may import that are on PyPI under their import name. Any other missing module may be the
# user's own (a reward function's `rewards`), and "pip install rewards" would install a stranger's package.
_KNOWN_PACKAGES = {
    "peft", "bitsandbytes", "deepspeed", "accelerate", "transformers", "datasets", "trl", "torch", "vllm",
    "wandb", "trackio", "tensorboard", "tensorboardX", "mlflow", "comet_ml", "einops", "sentencepiece",
    "tiktoken", "safetensors", "tokenizers", "huggingface_hub", "evaluate", "rouge_score", "nltk", "numpy",
    "pandas", "scipy", "pyarrow", "kernels", "liger_kernel", "flash_attn", "math_verify", "latex2sympy2_extended",
    "jinja2", "openai", "requests", "rich", "timm", "torchvision", "torchaudio", "soundfile", "librosa",
    "xformers", "optimum", "unsloth", "hf_transfer", "hf_xet", "sklearn", "cv2", "PIL", "yaml", "bs4", "google",
    "Levenshtein", "attr", "dateutil", "sentence_transformers", "matplotlib", "protobuf", "mergekit", "llm_blender",
}

_OOM = re.compile(
    r"CUDA out of memory|OutOfMemoryError|HIP out of memory|MPS backend out of memory|CUBLAS_STATUS_ALLOC_FAILED"
    r"|DefaultCPUAllocator: can't allocate memory|^\s*MemoryError\b|\bOOMKilled\b|Cannot allocate memory"
    r"|^\s*Killed\s*$", re.MULTILINE)
_GPU_OOM = re.compile(r"CUDA|HIP|MPS|CUBLAS|GPU", re.IGNORECASE)
_MIXED_PRECISION = re.compile(
    r"doesn't support bf16/gpu|fp16 mixed precision requires|bf16 mixed precision requires"
    r"|--bf16.*requires.*(GPU|device)|(fp16|bf16).*can only be used on CUDA", re.IGNORECASE)
_GATED = re.compile(r"Cannot access gated repo|You are trying to access a gated repo|is a gated (dataset|model)"
                    r"|GatedRepoError|Access to (model|dataset) \S+ is restricted")
_BAD_TOKEN = re.compile(r"Invalid credentials in Authorization header|Invalid user token|Invalid token passed"
                        r"|401 Unauthorized|401 Client Error: Unauthorized|User Access Token \S* is invalid")
_DATASET_MISSING = re.compile(
    r"DatasetNotFoundError|Dataset '[^']+' doesn't exist on the Hub|Couldn't find any data file at"
    r"|Couldn't find a dataset script|Unable to find '[^']+'|Couldn't find '[^']+' on the Hugging Face Hub")
_MODEL_MISSING = re.compile(
    r"is not a local folder and is not a valid model identifier|RepositoryNotFoundError"
    r"|Repository Not Found for url|Repo id must be in the form|does not appear to have a file named config\.json")
_UNREACHABLE = re.compile(
    r"We couldn't connect to '[^']*'|OfflineModeIsEnabled|Couldn't reach '[^']+' on the Hub|LocalEntryNotFoundError"
    r"|Temporary failure in name resolution|Max retries exceeded with url|\bConnectError\b|Network is unreachable")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")
# A column TRL looks up in each row and the row lacks (DPO on `messages` rows: KeyError: 'chosen').
_COLUMN_KEY = re.compile(r"^\s*KeyError: '(prompt|chosen|rejected|completion|label|messages|text)'", re.MULTILINE)
_INVALID_KEYS = re.compile(r"KeyError: \"?Invalid keys in the example: (\{[^}]*\}|set\(\))", re.MULTILINE)
_TEXT_OR_MESSAGES = re.compile(r"must contain either 'messages' for conversational data or 'text'")
_PIP_HINT = re.compile(r"ImportError\b.*?(?:`|')?pip install ([A-Za-z0-9_.\-\[\]]+)")
_DISK_FULL = re.compile(r"No space left on device|\[Errno 28\]|Disk quota exceeded")
_NAN_TEXT = re.compile(r"probability tensor contains either `inf`, `nan`|Loss is NaN|loss is nan|returned nan values"
                       r"|Detected NaN|nan loss", re.IGNORECASE)
_TIMEOUT_MESSAGE = re.compile(r"time[d ]?[- ]?out|timeout|time limit|exceeded (its|the) (maximum )?(duration|time)",
                              re.IGNORECASE)

_MODEL_NAME = re.compile(r"(\S+) is not a local folder|Repo id must be in the form [^:]*: '([^']+)'"
                         r"|/api/models/([^/\s?]+/[^/\s?]+)|https?://[^/\s]+/(?!datasets/|api/)([^/\s]+/[^/\s]+)/resolve/")
_DATASET_NAME = re.compile(r"Dataset '([^']+)'|Couldn't find any data file at (\S+?)\.?$|Couldn't reach '([^']+)'"
                           r"|huggingface\.co/datasets/([^/\s.]+/[^/\s.]+)|/datasets/([^/\s]+/[^/\s]+)/resolve/",
                           re.MULTILINE)
_GATED_NAME = re.compile(r"have access to it at https?://[^/\s]+/((?:datasets/)?[^/\s]+/[^/\s]+?)\.?(?=\s|$)"
                         r"|page at https?://[^/\s]+/(datasets/[^/\s]+/[^/\s]+?)\.?(?=\s|$)"
                         r"|https?://[^/\s]+/((?:datasets/)?[^/\s]+/[^/\s]+)/resolve/")


def _without_source(lines: Sequence[str]) -> list[str]:
    """The lines minus the source code a traceback quotes: `raise X(f"... '{path}' ...")` is not the error."""
    kept, in_frame = [], False
    for line in lines:
        if line.startswith('  File "'):
            in_frame = True
            continue
        if in_frame and line.startswith("    "):
            continue
        in_frame = False
        kept.append(line)
    return kept


def _first_group(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if not match:
        return None
    return next((g for g in match.groups() if g), None)


def _line_of(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if not match:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    line = text[start:end if end >= 0 else len(text)].strip()
    return line[:_EVIDENCE_CHARS] + ("..." if len(line) > _EVIDENCE_CHARS else "")


def _out_of_memory(text: str) -> Diagnosis | None:
    line = _line_of(_OOM, text)
    if line is None:
        return None
    if _GPU_OOM.search(line):
        return Diagnosis(cause="out_of_memory", title="Out of GPU memory", evidence=line, fix=(
            "lower per_device_train_batch_size or max_length, add gradient_accumulation_steps and "
            "gradient_checkpointing=true, use use_peft=true, or pick a flavor with more VRAM (call "
            "recommend_hardware)."))
    return Diagnosis(cause="out_of_memory", title="Out of memory (RAM)", evidence=line, fix=(
        "lower per_device_train_batch_size or max_length, use use_peft=true, or pick a flavor with more RAM "
        "(call recommend_hardware)."))


def _rule(pattern: re.Pattern[str], **found: str) -> Callable[[str], Diagnosis | None]:
    """A rule whose whole evidence is the line `pattern` finds: that line, and the fixed cause, title and fix."""

    def rule(text: str) -> Diagnosis | None:
        line = _line_of(pattern, text)
        return None if line is None else Diagnosis(evidence=line, **found)  # type: ignore[arg-type]

    return rule


_mixed_precision = _rule(_MIXED_PRECISION, cause="mixed_precision_on_cpu",
                         title="bf16/fp16 asked for on a machine without a GPU",
                         fix="drop bf16/fp16 from extra_args (full precision on the CPU), or keep it and add "
                             "use_cpu=true as TRL says, or pick a GPU flavor (call list_hardware).")


def _gated(text: str) -> Diagnosis | None:
    line = _line_of(_GATED, text)
    if line is None:
        return None
    repo = _first_group(_GATED_NAME, text)
    where = f" for {repo}" if repo else ""
    return Diagnosis(cause="gated_repo", title=f"Gated repository{where}: access not granted", evidence=line, fix=(
        f"accept the terms on https://huggingface.co/{repo or '<repo>'} with the account whose token the job "
        "uses, then relaunch with secrets={'HF_TOKEN': <that token>}."))


_bad_token = _rule(_BAD_TOKEN, cause="bad_token", title="The Hugging Face token was rejected (401)",
                   fix="relaunch with a valid token in secrets={'HF_TOKEN': ...} (read access to download; write "
                       "access for push_to_hub), or drop HF_TOKEN for public repos.")


def _not_found(text: str, *, what: str, cause: Cause, missing: re.Pattern[str], name: re.Pattern[str],
               local: str) -> Diagnosis | None:
    line = _line_of(missing, text)
    if line is None:
        return None
    found = _first_group(name, text)
    shown = f" '{found}'" if found else ""
    return Diagnosis(cause=cause, title=f"{what.capitalize()}{shown} not found", evidence=line, fix=(
        f"check {what}{shown}: a Hub id as namespace/name, or {local}; pass "
        "secrets={'HF_TOKEN': ...} if it is private."))


def _dataset_missing(text: str) -> Diagnosis | None:
    return _not_found(text, what="dataset", cause="dataset_not_found", missing=_DATASET_MISSING,
                      name=_DATASET_NAME, local="a local folder holding train.jsonl")


def _model_missing(text: str) -> Diagnosis | None:
    return _not_found(text, what="model", cause="model_not_found", missing=_MODEL_MISSING, name=_MODEL_NAME,
                      local="a local folder with config.json")


_unreachable = _rule(_UNREACHABLE, cause="hub_unreachable", title="The job could not reach the Hugging Face Hub",
                     fix="unset HF_HUB_OFFLINE in env (or restore the network), or pass a local model folder and a "
                         "local dataset folder.")


def _missing_module(text: str) -> Diagnosis | None:
    match = _MISSING_MODULE.search(text)
    if match:
        module = match.group(1)
        top = module.split(".")[0]
        evidence = _line_of(_MISSING_MODULE, text)
        if top in _KNOWN_PACKAGES or top in _PACKAGES:
            package = _PACKAGES.get(top, top.replace("_", "-"))
            return Diagnosis(cause="missing_module", title=f"Python module '{module}' is not installed",
                             evidence=evidence, fix=f"add '{package}' to the job's dependencies (pip install "
                                                    f"{package}) and relaunch.")
        return Diagnosis(cause="missing_module", title=f"Python module '{module}' was not found", evidence=evidence,
                         fix=(f"if '{top}' is your own code (a reward module), the job's Python could not find it: "
                              "pass reward_funcs as a file path 'path/to/rewards.py:func', or set env "
                              "PYTHONPATH to its folder; if it is a PyPI package, add it to the job's dependencies."))
    match = _PIP_HINT.search(text)
    if match:
        package = match.group(1).rstrip(".`'")
        return Diagnosis(cause="missing_module", title=f"A required package is not installed ({package})",
                         evidence=_line_of(_PIP_HINT, text), fix=(
            f"add '{package}' to the job's dependencies (pip install {package}) and relaunch."))
    return None


def _dataset_columns(text: str) -> Diagnosis | None:
    for pattern in (_COLUMN_KEY, _INVALID_KEYS, _TEXT_OR_MESSAGES):
        line = _line_of(pattern, text)
        if line is not None:
            return Diagnosis(cause="dataset_columns", title="The dataset's columns do not fit the trainer",
                             evidence=line, fix=(
                "match trainer and data: sft reads messages or text; dpo and reward prompt/chosen/rejected; kto "
                "prompt/completion/label; grpo and rloo prompt. A dry run of launch_training names the trainer "
                "your rows fit."))
    return None


_disk_full = _rule(_DISK_FULL, cause="disk_full", title="No space left on the disk",
                   fix="set save_total_limit=1 (or save_strategy='no'), write output_dir to a larger disk, or pick a "
                       "larger flavor (call list_hardware).")


_NAN_FIX = ("lower learning_rate (e.g. 10x), keep max_grad_norm=1.0, prefer bf16 over fp16, and check the "
            "dataset for empty examples.")


def _nan(text: str, lines: Sequence[str]) -> Diagnosis | None:
    line = _line_of(_NAN_TEXT, text)
    if line is not None:
        return Diagnosis(cause="nan_loss", title="Training produced NaN/inf", evidence=line, fix=_NAN_FIX)
    parser = LogParser()
    parser.feed(lines)
    series, _ = parser.series()
    for name in ("loss", "grad_norm", "eval_loss"):
        if name in series and None in series[name].values:
            index = series[name].values.index(None)
            return Diagnosis(cause="nan_loss", title=f"Training produced NaN/inf ({name})", fix=_NAN_FIX,
                             evidence=f"{name} is NaN/inf from log line {series[name].steps[index]}")
    return None


def _idle(message: str | None, lines: Sequence[str]) -> Diagnosis | None:
    """The idle guard stopped it: the backend's message says so (local), or the guard's last words in the log (on
    Hugging Face, where the Hub only records the exit code)."""
    evidence = message if message and message.startswith("idle for ") else next(
        (line.strip() for line in reversed(lines[-5:]) if IDLE_LINE.search(line)), None)
    if evidence is None:
        return None
    return Diagnosis(cause="idle", title="Stopped by the idle guard: no log output and no GPU/CPU work",
                     evidence=evidence[:_EVIDENCE_CHARS], fix=(
                         "find what it waited on in fetch_logs (a prompt, a download, a dead data loader, a finished "
                         "script that did not exit); relaunch with a longer idle_timeout, or idle_timeout='off', if "
                         "long quiet phases are expected."))


_RULES: tuple[Callable[[str], Diagnosis | None], ...] = (
    _out_of_memory, _mixed_precision, _gated, _bad_token, _dataset_missing, _model_missing, _unreachable,
    _missing_module, _dataset_columns, _disk_full,
)


def diagnose(*, lines: Sequence[str], message: str | None = None, exit_code: int | None = None,
             canceled: bool = False) -> Diagnosis | None:
    """The cause of a failed job and its fix, or None when nothing in the evidence is recognised.

    Args:
        lines: the job's log (only the last TAIL_LINES are read), already scrubbed of secrets.
        message: the backend's message for the job (a timeout is recognised from it).
        exit_code: the job's exit status; 137 or -9 (SIGKILL) with nothing else recognised reads as out of memory.
        canceled: the job was stopped on request, so a SIGKILL is no sign of memory trouble.

    Example:
        >>> diagnose(lines=["Traceback (most recent call last):", "MemoryError"]).cause
        'out_of_memory'
    """
    idle = _idle(message, lines)
    if idle is not None:
        return idle
    # Only the backend's own words: a quoted last log line ("ReadTimeout: ...") is not the job's timeout.
    if message and _TIMEOUT_MESSAGE.search(message.split("; last log line:")[0]):
        return Diagnosis(cause="timeout", title="The job hit its timeout", evidence=message[:_EVIDENCE_CHARS], fix=(
            "relaunch with a longer timeout (e.g. timeout='2h'), fewer max_steps or num_train_epochs, or a faster "
            "flavor (call recommend_hardware)."))
    tail = [line for raw in lines[-TAIL_LINES:] for line in raw.split("\r")]
    text = "\n".join(_without_source(tail))
    # The last traceback holds the exception that ended the run; earlier ones may have been handled.
    last = text.rfind("Traceback (most recent call last)")
    scopes = [text[last:], text] if last > 0 else [text]
    if message:
        scopes.append(message)
    for scope in scopes:
        for rule in _RULES:
            found = rule(scope)
            if found is not None:
                return found
    found = _nan(text, tail)
    if found is not None:
        return found
    if exit_code in (137, -9) and not canceled:
        return Diagnosis(cause="out_of_memory", title="Killed by SIGKILL with no error in the log, most likely out "
                         "of memory", evidence=f"exit code {exit_code}", fix=(
            "lower per_device_train_batch_size or max_length, use use_peft=true, or pick a flavor with more RAM/VRAM "
            "(call recommend_hardware)."))
    return None


async def diagnose_job(backend: Backend, job: JobInfo) -> Diagnosis | None:
    """For a job in ERROR, the cause that the end of its log and its message show, with the fix; else None."""
    if job.stage != JobStage.ERROR:
        return None
    try:
        tail = (await backend.logs(job.id, tail=TAIL_LINES)).lines
    except JobsError:
        tail = []  # the log is a bonus here: the job itself was read
    return diagnose(lines=tail, message=job.message, exit_code=job.exit_code)
