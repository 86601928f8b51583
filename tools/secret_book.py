"""The secret values an answer is scrubbed of, and which of them a call brings (tools/__init__.py, rule 4)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from ..jobs.core.models import MAX_SECRETS, JobStage
from ..jobs.core.redact import Redactor

# A tqdm bar or a dumped tensor can make one log "line" megabytes long; a model needs its start, not all of it.
MAX_LINE_CHARS = 2000


class SecretBook:
    """The secret values an answer is scrubbed of: the server's own (its settings' tokens, this machine's HF token),
    fixed at start, and, for one call only, the values that call carries (`for_call`).

    A call's values never join the server's book: they belong to the call and, once a backend accepts the launch,
    to its job (the backend scrubs that job's answers of them). So no call, refused or not, changes what anyone
    else reads. Every string a tool returns passes through `redact`; one automaton holds all the values, so a
    scrub costs one pass over the text.
    """

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values = frozenset(v for v in values if isinstance(v, str) and v)
        self._redactor = Redactor(self._values)

    def for_call(self, values: Iterable[Any]) -> SecretBook:
        """This book plus `values` (a call's own secrets), as a new book; this one is unchanged."""
        new = {v for v in values if isinstance(v, str) and v} - self._values
        return SecretBook([*self._values, *new]) if new else self

    def redact(self, text: str, *, keep: Iterable[str] = ()) -> str:
        return self._redactor.text(text, keep=keep)

    def clip(self, lines: list[str], most: int) -> list[str]:
        """The last `most` lines, each redacted and then cut to MAX_LINE_CHARS.

        Redacted first: a cut through a secret would leave a fragment that no later scrub recognises.
        """
        out = []
        for line in lines[-most:]:
            line = self.redact(line)
            out.append(line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " ...[line cut]")
        return out

    def redact_data(self, data: Any) -> Any:
        """`data` (JSON-like: dicts, lists, strings, numbers) with every string redacted, keys included."""
        if isinstance(data, str):
            return self._redactor.text(data)
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(v) for v in data]
        return data

    def redact_model(self, model: BaseModel) -> tuple[dict[str, Any], set[str]]:
        """`model.model_dump(mode="json")` with every string redacted but its structure kept, and the words kept.

        Kept as they are: field names (the output schema's: a secret that spells "model" must not break the
        answer's validation), enum values (a stage) and ids (fields named `id` or `*_id`): they are ours, public by
        construction, and a secret that spells one must not rewrite the answer. The keys of a dict field (labels,
        env names) are the caller's data and are redacted as redact_data does. The second value holds the ids and
        enum values met, for `redact(text, keep=...)` of the same answer's text.
        """
        keep: set[str] = {stage.value for stage in JobStage}

        def walk(value: Any, name: str = "") -> Any:
            if isinstance(value, BaseModel):
                return value.model_copy(update={field: walk(getattr(value, field), field)
                                                for field in type(value).model_fields})
            if isinstance(value, Enum) or (isinstance(value, str) and (name == "id" or name.endswith("_id"))):
                keep.add(str(value.value if isinstance(value, Enum) else value))
                return value
            if isinstance(value, str):
                return self._redactor.text(value)
            if isinstance(value, dict):
                return {walk(k): walk(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [walk(v, name) for v in value]
            return value

        return walk(model).model_dump(mode="json"), keep


def call_secrets(*, model: type[BaseModel], arguments: dict[str, Any]) -> list[Any]:
    """The secret values a call carries: those of its `secrets` argument, when its tool takes one.

    Raises:
        ToolError: more than MAX_SECRETS of them (a bound on the work one call can ask of the scrubber).
    """
    given = arguments.get("secrets")
    if "secrets" not in model.model_fields or not isinstance(given, dict):
        return []
    if len(given) > MAX_SECRETS:
        raise ToolError(f"secrets: at most {MAX_SECRETS} entries, got {len(given)}. Pass only the variables this "
                        "job reads.")
    return list(given.values())
