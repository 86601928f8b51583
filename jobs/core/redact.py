"""Secret scrubbing, used by every path that returns or writes text.

Values shorter than MIN_SECRET_LENGTH are not scrubbed: replacing every "1" or "a" in a log would destroy it and
hide nothing worth hiding. JobSpec therefore refuses such secrets at submission (the user learns it then, rather
than finding the value in a log). Longer values are replaced wherever they occur, inside other words too.

Besides the values it is given, a Redactor always replaces anything shaped like a Hugging Face access token
(`hf_` and 30 or more letters and digits): a token is a secret wherever it appears, including in the log of a job
launched by an earlier server, whose secret values this process never held.

What the scrubber promises: each value (and each of its lines, stripped) is replaced where it occurs verbatim.
It does not recognise a value transformed: upper- or lower-cased, base64- or URL-encoded, split across two log
lines, or printed one character at a time. A job that prints its secret in such a form shows it; a value is
therefore refused where it would sit in plain sight for the job's whole life (its command line, JobSpec).

`ambient_secrets()` names the values a job can reach without being given them: the Hugging Face token of this
machine's user (the environment, or the one `hf auth login` saved) and the server's own bearer token. Every output
path scrubs them too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any


MIN_SECRET_LENGTH = 4
REDACTED = "<redacted>"

# Hugging Face user access tokens: "hf_" then 34 letters and digits (30+ here, for older and future lengths).
HF_TOKEN_PATTERN = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")

# Well-known credential shapes, refused in a job's `env` (whose values are shown and stored) with a pointer to
# `secrets`. Specific prefixes and structures only: a generic "long random string" rule would refuse commit hashes.
CREDENTIAL_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Hugging Face token", HF_TOKEN_PATTERN),
    ("a URL with a password in it (user:password@host)",
     re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("an OpenAI or Anthropic key", re.compile(r"(?<![A-Za-z0-9_-])sk-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}")),
    ("a GitLab token", re.compile(r"(?<![A-Za-z0-9])gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,}")),
    ("a JSON Web Token", re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}")),
    ("a Stripe key", re.compile(r"(?<![A-Za-z0-9])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}")),
)


def credential_shape(text: str) -> str | None:
    """What well-known kind of credential `text` holds ("an AWS access key id"), or None."""
    for kind, pattern in CREDENTIAL_SHAPES:
        if pattern.search(text):
            return kind
    return None


# Environment variables that hold a credential of the user or of this server, never meant for a job's output.
AMBIENT_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TRL_JOBS_AUTH_TOKEN")


class Redactor:
    """Replaces secret values, and anything shaped like a Hugging Face token, with `<redacted>`.

    One Aho-Corasick automaton holds every value, so a scrub costs one pass over the text however many values there
    are. Where matches overlap, their union is replaced: no fragment of either value is left beside the marker.
    `bool(redactor)` says whether it holds values of its own (the token shape is always scrubbed).

    Example:
        >>> Redactor(["s3cr3t-value"]).text("key=s3cr3t-value")
        'key=<redacted>'
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        values = scrubbed_forms(s for s in secrets if s)
        self._automaton: Any = None
        if values:
            import ahocorasick  # C, quick to import; only a server that holds a secret needs it

            self._automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
            for value in values:
                self._automaton.add_word(value)
            self._automaton.make_automaton()

    def __bool__(self) -> bool:
        return self._automaton is not None

    def text(self, text: str, *, keep: Iterable[str] = ()) -> str:
        """`text` scrubbed. A match that lies wholly inside an occurrence of a `keep` word (a job id, a stage name:
        public by construction) is left alone, so a secret that spells one cannot rewrite an answer's structure."""
        if self._automaton is not None and text:
            spans = _merged((end + 1 - length, end + 1) for end, length in self._automaton.iter(text))
            if spans:
                spans = _outside(spans, text, keep)
                pieces, at = [], 0
                for start, end in spans:
                    pieces += [text[at:start], REDACTED]
                    at = end
                text = "".join(pieces) + text[at:]
        if "hf_" in text:
            text = HF_TOKEN_PATTERN.sub(REDACTED, text)
        return text

    def argv(self, argv: Iterable[str]) -> list[str]:
        return [self.text(arg) for arg in argv]

    def mapping(self, values: dict[str, str]) -> dict[str, str]:
        """Keys and values scrubbed: a key is as likely as a value to carry a pasted secret."""
        return {self.text(key): self.text(value) for key, value in values.items()}


def scrub(value: Any, redactor: Redactor) -> Any:
    """`value` (JSON-like: strings, dicts, lists) with every string, keys included, scrubbed by `redactor`."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(k): scrub(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, redactor) for v in value]
    return value


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping [start, end) spans joined. The automaton reports them by ascending end, so a stack suffices."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        while out and out[-1][1] > start:
            start = min(start, out.pop()[0])
        out.append((start, end))
    return out


def _outside(spans: list[tuple[int, int]], text: str, keep: Iterable[str]) -> list[tuple[int, int]]:
    """`spans` less those inside an occurrence of a `keep` word in `text`."""
    kept = []
    for word in keep:
        at = text.find(word) if word else -1
        while at >= 0:
            kept.append((at, at + len(word)))
            at = text.find(word, at + 1)
    if not kept:
        return spans
    return [(s, e) for s, e in spans if not any(ks <= s and e <= ke for ks, ke in kept)]


def scrubbed_forms(values: Iterable[str]) -> set[str]:
    """The strings to replace for these secret values: each value and each of its lines, without the surrounding
    whitespace, when at least MIN_SECRET_LENGTH long. A token pasted with a trailing newline is printed stripped by
    most libraries, and a multi-line secret (a private key, a service account's JSON) is often printed one line at a
    time or with other line endings. Stripped, so a replacement never swallows the line break after a value.
    runner.py applies the same rule."""
    forms = set()
    for value in values:
        forms.add(value.strip())
        forms.update(line.strip() for line in value.splitlines())
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def ambient_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """The credentials a job on this machine can reach without being given them, as values to scrub.

    The Hugging Face token from HF_TOKEN / HUGGING_FACE_HUB_TOKEN, the one `hf auth login` saved (and every token in
    its stored_tokens file), and TRL_JOBS_AUTH_TOKEN. Read with the standard library only (no huggingface_hub
    import: the server starts without it), following huggingface_hub's own paths (HF_TOKEN_PATH, HF_HOME,
    XDG_CACHE_HOME). Missing or unreadable files are skipped.
    """
    env = os.environ if environ is None else environ
    found = [env.get(name, "") for name in AMBIENT_VARIABLES]
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                                           ".cache"), "huggingface")
    token_path = Path(os.path.expandvars(os.path.expanduser(env.get("HF_TOKEN_PATH") or os.path.join(home, "token"))))
    try:
        found.append(token_path.read_text(errors="replace"))
    except OSError:
        pass
    stored_path = token_path.with_name("stored_tokens")
    if stored_path.is_file():
        import configparser  # rarely there; keep it off the server's start-up otherwise

        stored = configparser.ConfigParser(interpolation=None)
        try:
            stored.read(stored_path, encoding="utf-8")
        except (configparser.Error, UnicodeError):
            pass
        found += [stored.get(section, "hf_token", fallback="") for section in stored.sections()]
    values = {v.strip() for v in found}
    return sorted(v for v in values if len(v) >= MIN_SECRET_LENGTH)
