"""How many rows and tokens a training dataset has, read before any job runs (the forecast's input).

- A local file or folder (.jsonl, .json, .csv, .parquet): rows counted, and the characters of its text values; a
  file over SAMPLE_BYTES is read in part and the rest scaled by its size (said so).
- A Hub dataset: the dataset viewer's /size (rows of the split, bytes in memory) and /statistics (mean length of
  each text column), https://huggingface.co/docs/dataset-viewer; else the card's `dataset_info.splits` through
  huggingface_hub's dataset_info. Each call has a short timeout: an unreachable Hub costs seconds, never a hang.
- Tokens are characters / CHARS_PER_TOKEN, an estimate said as such (no tokenizer in the server's light install).
- Nothing found: a guess (GUESSED_ROWS rows of GUESSED_TOKENS tokens), said so.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core.local_tree import walk

CHARS_PER_TOKEN = 4.0
SAMPLE_BYTES = 64 * 2**20
HTTP_TIMEOUT_S = 4.0
GUESSED_ROWS, GUESSED_TOKENS = 10_000, 512
VIEWER_ENV = "TRL_JOBS_DATASET_VIEWER"  # the dataset viewer's base URL, for a private deployment or a test's fake
_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")

SizeSource = Literal["counted", "sampled", "viewer", "card", "guessed"]


class DatasetSize(BaseModel):
    """Rows and tokens of a dataset's training split, and how they were found."""

    rows: int
    tokens_per_row: float = Field(description="average tokens of a row's text (characters / 4)")
    source: SizeSource
    note: str = Field(description="where the figures come from, for a reader")

    @property
    def tokens(self) -> int:
        return int(self.rows * self.tokens_per_row)


def _text_chars(value: Any) -> int:
    """Characters of the text in a row's value (strings in lists and dicts included; numbers and keys not)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_text_chars(v) for k, v in value.items() if k not in ("role", "label", "type"))
    if isinstance(value, list | tuple):
        return sum(_text_chars(v) for v in value)
    return 0


def _count_file(path: Path) -> tuple[int, int, bool]:
    """(rows, characters of text, whether only a part was read and scaled) of one data file."""
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            return 0, 0, False
        meta = pq.ParquetFile(path).metadata
        chars = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return meta.num_rows, chars, False
    if suffix == ".json":
        if size > SAMPLE_BYTES:
            return 0, 0, False
        data = json.loads(path.read_text())
        rows = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [data]) \
            if isinstance(data, dict) else []
        return len(rows), sum(_text_chars(r) for r in rows), False
    rows = chars = read = 0
    with path.open("rb") as f:
        if suffix == ".csv":
            reader = csv.DictReader(line.decode("utf-8", "replace") for line in f)
            for row in reader:
                rows += 1
                chars += _text_chars(list(row.values()))
                if f.tell() > SAMPLE_BYTES:
                    break
            read = f.tell()
        else:
            for line in f:
                read += len(line)
                if line.strip():
                    rows += 1
                    try:
                        chars += _text_chars(json.loads(line))
                    except ValueError:
                        chars += len(line)
                if read > SAMPLE_BYTES:
                    break
    if read < size and read:
        scale = size / read
        return round(rows * scale), round(chars * scale), True
    return rows, chars, False


def local_dataset_size(path: str | Path) -> DatasetSize | None:
    """Rows and tokens of a local data file or folder (every data file in it); None when it is neither.

    Example:
        >>> local_dataset_size("train.jsonl")  # doctest: +SKIP
        DatasetSize(rows=1000, tokens_per_row=212.5, source='counted', note='...')
    """
    p = Path(path).expanduser()
    if p.is_dir():
        # Bounded, and refusing the root or a home folder (naming dataset), as the launch itself does.
        files = [f for _, f in walk(p, field="dataset", suffixes=frozenset(_SUFFIXES))]
    elif p.is_file() and p.suffix.lower() in _SUFFIXES:
        files = [p]
    else:
        return None
    rows = chars = 0
    sampled = False
    for f in files:
        try:
            r, c, s = _count_file(f)
        except (OSError, ValueError, UnicodeDecodeError, csv.Error):
            continue
        rows, chars, sampled = rows + r, chars + c, sampled or s
    if rows <= 0:
        return None
    how = "read in part and scaled by size" if sampled else "counted"
    return DatasetSize(rows=rows, tokens_per_row=round(chars / rows / CHARS_PER_TOKEN, 1),
                       source="sampled" if sampled else "counted",
                       note=f"{rows:,} rows {how} in {p.name}; tokens estimated as characters / {CHARS_PER_TOKEN:g}")


def viewer_url(endpoint: str | None) -> str | None:
    """The dataset viewer's base URL for a Hub at `endpoint`: the public one for huggingface.co, none for another
    Hub (as huggingface_hub's list_dataset_parquet_files), unless TRL_JOBS_DATASET_VIEWER names one."""
    from huggingface_hub import constants

    if os.environ.get(VIEWER_ENV):
        return os.environ[VIEWER_ENV].rstrip("/")
    hub = (endpoint or constants.ENDPOINT).rstrip("/")
    return constants.DATASETS_SERVER_ENDPOINT if hub == constants._HF_DEFAULT_ENDPOINT else None


def _get_json(url: str, params: dict[str, str], token: str | None) -> Any:
    from huggingface_hub import get_session

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = get_session().get(url, params=params, headers=headers, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def _from_viewer(base: str, repo: str, config: str | None, split: str, token: str | None) -> DatasetSize | None:
    sizes = _get_json(f"{base}/size", {"dataset": repo}, token).get("size", {}).get("splits", [])
    matching = [s for s in sizes if s.get("split") == split and (config is None or s.get("config") == config)]
    if not matching:
        return None
    entry = matching[0]
    rows = int(entry.get("num_rows") or 0)
    if rows <= 0:
        return None
    note = f"{rows:,} rows of {repo} [{entry.get('config')}/{split}] from the dataset viewer's /size"
    chars = None
    try:
        stats = _get_json(f"{base}/statistics", {"dataset": repo, "config": str(entry.get("config")),
                                                 "split": split}, token)
        text = [s["column_statistics"].get("mean") or 0 for s in stats.get("statistics", [])
                if s.get("column_type") == "string_text" and isinstance(s.get("column_statistics"), dict)]
        if text:
            chars = float(sum(text))
            note += "; characters from /statistics' mean text lengths"
    except Exception:  # the statistics are a refinement: /size alone still gives the rows
        pass
    if chars is None:
        chars = float(entry.get("num_bytes_memory") or 0) / rows
        note += "; characters from its bytes in memory"
    return DatasetSize(rows=rows, tokens_per_row=round(chars / CHARS_PER_TOKEN, 1), source="viewer",
                       note=note + f"; tokens estimated as characters / {CHARS_PER_TOKEN:g}")


def _from_card(repo: str, config: str | None, split: str, endpoint: str | None,
               token: str | None) -> DatasetSize | None:
    from huggingface_hub import HfApi

    info = HfApi(endpoint=endpoint, token=token).dataset_info(repo, timeout=HTTP_TIMEOUT_S)
    card = info.card_data.to_dict() if info.card_data else {}
    infos = card.get("dataset_info")
    infos = infos if isinstance(infos, list) else [infos] if isinstance(infos, dict) else []
    for item in infos:
        if config is not None and item.get("config_name", "default") != config:
            continue
        for entry in item.get("splits") or []:
            if entry.get("name") == split and entry.get("num_examples"):
                rows = int(entry["num_examples"])
                chars = float(entry.get("num_bytes") or 0) / rows
                return DatasetSize(rows=rows, tokens_per_row=round(chars / CHARS_PER_TOKEN, 1), source="card",
                                   note=f"{rows:,} rows of {repo} [{split}] from its card's dataset_info; tokens "
                                        f"from its bytes / {CHARS_PER_TOKEN:g}")
    return None


def hub_dataset_size(repo: str, *, config: str | None = None, split: str = "train", endpoint: str | None = None,
                     token: str | None = None) -> DatasetSize | None:
    """Rows and tokens of a Hub dataset's split: the dataset viewer first, then the card; None when neither
    answers (offline, unknown, private without a token). Blocking (HTTP, HTTP_TIMEOUT_S a call): run it in a
    worker thread. Answers are kept for the process's life."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return None
    # huggingface_hub reads HF_ENDPOINT once, at import; the user's (or a test's) setting now is the one meant.
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    return _hub_size(repo, config, split, endpoint, token, viewer_url(endpoint))


@functools.lru_cache(maxsize=64)
def _hub_size(repo: str, config: str | None, split: str, endpoint: str | None, token: str | None,
              base: str | None) -> DatasetSize | None:
    if base:
        try:
            found = _from_viewer(base, repo, config, split, token)
            if found:
                return found
        except Exception:  # unreachable, unknown, no viewer for it: the card may still say
            pass
    try:
        return _from_card(repo, config, split, endpoint, token)
    except Exception:
        return None


def dataset_size(dataset: str, *, config: str | None = None, split: str | None = None, endpoint: str | None = None,
                 token: str | None = None) -> DatasetSize:
    """Rows and tokens of `dataset` (local path or Hub id), counted, read from the Hub, or guessed (said so).
    Blocking: run it in a worker thread."""
    local = local_dataset_size(dataset) if Path(dataset).expanduser().exists() else None
    found = local or (None if Path(dataset).expanduser().exists() else
                      hub_dataset_size(dataset, config=config, split=split or "train", endpoint=endpoint, token=token))
    if found is not None:
        return found
    return DatasetSize(rows=GUESSED_ROWS, tokens_per_row=GUESSED_TOKENS, source="guessed",
                       note=f"guessed: the size of {dataset!r} could not be read (offline, or no viewer data), so "
                            f"{GUESSED_ROWS:,} rows of {GUESSED_TOKENS} tokens are assumed; pass max_steps, or a "
                            "local copy, for a real count")
