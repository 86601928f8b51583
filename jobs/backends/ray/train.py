"""A training run across the cluster's nodes: `python -m trl_jobs_ray.train --workers N --cpus C [--gpus G]
[--memory B] -- <trainer> [TRL args]`.

Shipped as `trl_jobs_ray/train.py` and run by the wrapper as the job's command (the driver). It starts a Ray Train
TorchTrainer whose workers each run TRL's own script through the entry module (entry.py), with TRL's trainer class
wrapped as Ray Train's transformers integration asks: `prepare_trainer` (its data loaders fed per worker) and
`RayTrainReportCallback` (each of TRL's checkpoints reported to Ray, kept at the run's storage path: the output
folder's ray-train/, beside TRL's own checkpoint-N). Ray sets up
torch.distributed (gloo on CPUs, nccl on GPUs) before the workers start, and Transformers finds it there.

Resuming: a run started again with `--resume_from_checkpoint=<a TRL checkpoint folder>` (what rerun_job(resume)
passes) resumes there; a worker restarted by Ray within a run resumes from Ray's latest reported checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys

try:  # as shipped: trl_jobs_ray/train.py beside trl_jobs_ray/entry.py
    from . import entry  # type: ignore[attr-defined]
    from .argv import find_option  # type: ignore[attr-defined]
    from .trainers import TRAINER_CLASSES  # type: ignore[attr-defined]
except ImportError:  # read from the source tree (tests)
    from ...recipes import entry
    from ...recipes.argv import find_option
    from ...recipes.trainers import TRAINER_CLASSES

RUN_NAME = "ray-train"  # the run's folder under its storage path


def _ray_trained(base: type) -> type:
    """`base` (a TRL trainer class) made a Ray Train worker's trainer."""
    import ray.train
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    class RayTrained(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.add_callback(RayTrainReportCallback())
            prepare_trainer(self)

        def train(self, resume_from_checkpoint=None, **kwargs):
            reported = ray.train.get_checkpoint()
            if resume_from_checkpoint is None and reported is not None:  # a restarted worker: Ray's latest
                with reported.as_directory() as folder:
                    return super().train(resume_from_checkpoint=os.path.join(folder, "checkpoint"), **kwargs)
            return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    RayTrained.__name__ = RayTrained.__qualname__ = base.__name__
    return RayTrained


def _worker(config: dict) -> None:
    entry.main(config["argv"], trainer_class=_ray_trained)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trl_jobs_ray.train")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--cpus", type=float, required=True, help="CPUs of each worker")
    parser.add_argument("--gpus", type=float, default=0, help="GPUs of each worker")
    parser.add_argument("--memory", type=int, default=0, help="bytes of memory of each worker")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or command[0] not in TRAINER_CLASSES:
        parser.error(f"after --: a trainer ({', '.join(TRAINER_CLASSES)}) and TRL's arguments")
    command = [command[0], *entry.with_output_dir(command[1:])]
    if not args.gpus and find_option(command, "use_cpu") is None:
        # Without it Transformers (through accelerate) takes a CPU process for a run of its own, ignoring the
        # process group Ray set up: each worker would train alone on all the data.
        command.append("--use_cpu=true")
    # Ray Train's copies of the checkpoints go beside TRL's, under the run's output folder: every node must see it.
    storage = os.path.abspath(os.path.expanduser((find_option(command, "output_dir") or (0, "."))[1]))

    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ray.init()  # the job's cluster (RAY_ADDRESS, set by Ray for the job)
    resources = {"CPU": args.cpus, **({"GPU": args.gpus} if args.gpus else {}),
                 **({"memory": args.memory} if args.memory else {})}
    trainer = TorchTrainer(
        _worker, train_loop_config={"argv": command},
        scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=args.gpus > 0,
                                     resources_per_worker=resources, placement_strategy="SPREAD"),
        run_config=RunConfig(name=RUN_NAME, storage_path=storage,
                             checkpoint_config=CheckpointConfig(num_to_keep=2)))
    result = trainer.fit()
    last = result.checkpoint.path if result.checkpoint else "none"
    print(f"[trl-jobs] ray train: {args.workers} workers done; last checkpoint reported: {last}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
