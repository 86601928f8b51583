"""The dataset viewer's /size and /statistics (https://datasets-server.huggingface.co), as FakeHFJobs serves them.

Shapes from the viewer's documentation (docs/dataset-viewer/size, /statistics): /size answers
`{"size": {"dataset": {...}, "configs": [...], "splits": [...]}, "partial": false}`, /statistics answers
`{"num_examples", "statistics": [{"column_name", "column_type", "column_statistics"}], "partial"}` where a
string_text column's statistics are over its values' lengths in characters. An unknown dataset is a 404 with
`{"error": ...}`, as the viewer answers.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs


def viewer_dataset(repo: str, *, splits: dict[str, tuple[int, dict[str, float]]],
                   config: str = "default") -> dict[str, Any]:
    """What the fake keeps for `repo`: per split, its rows and the mean characters of each text column."""
    return {"repo": repo, "config": config, "splits": splits}


def _split_size(d: dict[str, Any], split: str, rows: int, columns: dict[str, float]) -> dict[str, Any]:
    memory = int(rows * sum(columns.values()) * 1.1)
    return {"dataset": d["repo"], "config": d["config"], "split": split, "num_bytes_parquet_files": memory // 3,
            "num_bytes_memory": memory, "num_rows": rows, "num_columns": len(columns)}


def viewer_answer(path: str, query: str, datasets: dict[str, dict[str, Any]]) -> tuple[int, Any] | None:
    """(status, body) for a viewer path, or None when `path` is not one."""
    if path not in ("/size", "/statistics"):
        return None
    q = {k: v[0] for k, v in parse_qs(query).items()}
    d = datasets.get(q.get("dataset", ""))
    if d is None:
        return 404, {"error": "The dataset does not exist, or is not accessible without authentication (private or "
                              "gated). Please check the spelling of the dataset name or retry with authentication."}
    if path == "/size":
        splits = [_split_size(d, name, rows, cols) for name, (rows, cols) in d["splits"].items()]
        total = {k: sum(s[k] for s in splits) for k in ("num_bytes_parquet_files", "num_bytes_memory", "num_rows")}
        config = {"dataset": d["repo"], "config": d["config"], "num_bytes_original_files": total["num_bytes_parquet_files"],
                  **total, "num_columns": max(s["num_columns"] for s in splits)}
        return 200, {"size": {"dataset": {"dataset": d["repo"], "num_bytes_original_files":
                                          total["num_bytes_parquet_files"], **total},
                              "configs": [config], "splits": splits}, "partial": False}
    if q.get("config") != d["config"] or q.get("split") not in d["splits"]:
        return 404, {"error": "Not found."}
    rows, columns = d["splits"][q["split"]]
    stats = [{"column_name": name, "column_type": "string_text",
              "column_statistics": {"nan_count": 0, "nan_proportion": 0.0, "min": 1, "max": int(mean * 3),
                                    "mean": mean, "median": mean, "std": mean / 2,
                                    "histogram": {"hist": [rows], "bin_edges": [1, int(mean * 3)]}}}
             for name, mean in columns.items()]
    stats.append({"column_name": "turns", "column_type": "int",
                  "column_statistics": {"nan_count": 0, "nan_proportion": 0.0, "min": 1, "max": 9, "mean": 2.5,
                                        "median": 2.0, "std": 1.1, "histogram": {"hist": [rows], "bin_edges": [1, 9]}}})
    return 200, {"num_examples": rows, "statistics": stats, "partial": False}
