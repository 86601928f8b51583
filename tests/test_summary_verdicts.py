"""Issue 21, summaries that do not mislead, on fixed series: GRPO and RLOO lead with the reward's verdict and never
headline their near-zero loss, clipped completions and a policy that could not move are flagged, a plateau needs
enough points and holds from one log line to the next, and a log read says how many lines it read and parsed."""

from __future__ import annotations

import pytest

from trl_jobs_mcp.jobs.analysis.metrics.logs import LogParser, metrics_from_log
from trl_jobs_mcp.jobs.analysis.metrics.models import Series
from trl_jobs_mcp.jobs.analysis.metrics.summary import summarize

# A GRPO run of 40 steps as the issue saw it: a surrogate loss of 1e-07, a reward that wanders by +16% within its
# noise, 80% of completions clipped, a learning rate of 1e-6.
REWARDS = [0.30, 0.41, 0.33, 0.27, 0.38, 0.31, 0.36, 0.29, 0.40, 0.33] * 4
REWARDS[-1] = 0.349


def grpo_lines(*, lr: float = 1e-6, clipped: float = 0.8) -> list[str]:
    return [str({"loss": 3.129e-07, "grad_norm": 0.1, "learning_rate": lr, "reward": reward, "reward_std": 0.1,
                 "completions/clipped_ratio": clipped, "epoch": i / 40})
            for i, reward in enumerate(REWARDS)]


@pytest.mark.parametrize("trainer", ["grpo", "rloo"])
def test_grpo_leads_with_the_reward_verdict_and_never_headlines_its_loss(trainer: str) -> None:
    report = metrics_from_log(grpo_lines(), logging_steps=1, trainer=trainer)
    assert report.main == "reward"
    assert report.text.startswith("No clear trend in the reward"), report.text
    assert report.text.index("No clear trend") < report.text.index("+16.3%")
    assert "3.129e-07" in report.text and "near zero by design" in report.text
    assert not report.text.startswith("loss")


def test_clipped_completions_and_a_too_small_learning_rate_are_flagged() -> None:
    report = metrics_from_log(grpo_lines(), logging_steps=1, trainer="grpo")
    assert any("max_completion_length" in flag and "80%" in flag for flag in report.flags)
    assert any("learning_rate x steps is only 4e-05" in flag for flag in report.flags)
    healthy = metrics_from_log(grpo_lines(lr=1e-5, clipped=0.1), logging_steps=1, trainer="grpo")
    assert healthy.flags == [] and "max_completion_length" not in healthy.text


def test_the_wait_headline_of_a_grpo_run_carries_no_loss() -> None:
    from trl_jobs_mcp.jobs.analysis.metrics.rl import judges_loss

    assert not judges_loss("grpo") and not judges_loss("rloo") and judges_loss("sft") and judges_loss(None)


def plateau_at(values: list[float]) -> bool:
    return summarize(Series(name="loss", steps=list(range(1, len(values) + 1)), values=values)).plateau


def test_three_points_against_three_are_no_plateau() -> None:
    # Improved, then level for three points: the old 3-against-3 windows called this flattened at step 14 of 40.
    assert not plateau_at([3.0, 2.0, 1.6, 1.5, 1.52, 1.49, 1.51])


def test_a_plateau_does_not_flip_with_one_more_log_line() -> None:
    # Found by search against the old rule: flattened at 17 points, not at 18 (the last point 1.001).
    values = [2.99, 2.44, 1.978, 1.742, 1.492, 1.39, 1.343, 1.272, 1.132, 1.125, 1.002, 1.049, 1.008, 0.989,
              1.015, 1.023, 1.011, 1.001]
    verdicts = [plateau_at(values[:n]) for n in range(len(values) - 2, len(values) + 1)]
    assert verdicts == [True, True, True]
    # And a curve still falling clearly is no plateau, however long.
    assert not plateau_at([3.0 - 0.05 * i + (0.01 if i % 2 else -0.01) for i in range(30)])


def test_a_log_read_says_how_many_lines_it_read_and_parsed() -> None:
    parser = LogParser(logging_steps=1)
    # Two metrics lines in one chunk, as a backend may hand them (the cause of "no training log lines found").
    parser.feed(["starting", "{'loss': 2.5, 'epoch': 0.1}\n{'loss': 2.1, 'epoch': 0.2}", " 10%|#  | 2/20 [00:01]"])
    report = parser.report(trainer="sft")
    assert report.series["loss"].values == [2.5, 2.1]
    assert (report.lines_read, report.lines_parsed) == (4, 2)
    empty = LogParser()
    empty.feed(["hello", "world"])
    assert empty.report().text.startswith("No metrics logged yet: 2 log line(s) read")
