"""The `trl-jobs-mcp` command: `serve` (the default, stdio unless told otherwise) and `demo`.

    trl-jobs-mcp                                   # serve over stdio, for an MCP client that spawns it
    trl-jobs-mcp serve --transport http --port 8000
    trl-jobs-mcp demo                              # a tiny SFT run through the MCP protocol, offline
    trl-jobs-mcp rebuild-index --home PATH         # a new local jobs index from the jobs' folders
    trl-jobs-mcp config cursor [--uvx]             # the client configuration for this install, to paste
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

from .settings import BACKENDS, LOG_LEVELS, TRANSPORTS, Settings, SettingsError

COMMANDS = ("serve", "demo", "rebuild-index", "config")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trl-jobs-mcp",
        description="An MCP server that launches, watches and stops TRL training jobs, on this machine, on "
                    "Hugging Face Jobs or on a Ray cluster. With no command it serves MCP over stdio.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"trl-jobs-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,demo,rebuild-index,config}")

    serve = commands.add_parser("serve", help="serve MCP (stdio by default; --transport http for HTTP)")
    serve.add_argument("--transport", choices=TRANSPORTS, help="stdio (default) or http (streamable HTTP)")
    serve.add_argument("--host", help="HTTP: address to bind (default 127.0.0.1; others need --auth-token)")
    serve.add_argument("--port", type=int, help="HTTP: port (default 8000)")
    serve.add_argument("--auth-token", dest="auth_token",
                       help="HTTP: bearer token every request must carry (or TRL_JOBS_AUTH_TOKEN)")
    serve.add_argument("--backend", choices=BACKENDS, help="where jobs run: local (default), hf or ray")
    serve.add_argument("--home", help="local backend: state directory (or TRL_JOBS_HOME)")
    serve.add_argument("--slots", dest="local_slots", type=int, help="local backend: jobs run at once")
    serve.add_argument("--namespace", dest="hf_namespace", help="hf backend: user or organisation to run jobs in")
    serve.add_argument("--ray-address", dest="ray_address",
                       help="ray backend: the cluster's dashboard URL (or TRL_JOBS_RAY_ADDRESS; default "
                            "http://127.0.0.1:8265)")
    serve.add_argument("--read-only", dest="read_only", action="store_const", const=True,
                       help="register only the tools that change nothing")
    serve.add_argument("--max-cost-usd", dest="max_cost_usd", type=float,
                       help="refuse launches whose price x timeout is above this many dollars")
    serve.add_argument("--no-tasks", dest="tasks", action="store_const", const=False,
                       help="answer every tool call directly, never as an MCP task (or TRL_JOBS_TASKS=0)")
    serve.add_argument("--upload-root", dest="upload_roots", action="append",
                       help="hf backend: a folder whose files launches may upload without asking (repeatable)")
    serve.add_argument("--log-level", dest="log_level", choices=LOG_LEVELS, help="server log level (stderr)")

    demo = commands.add_parser("demo", help="build a tiny model offline and train it through the MCP protocol")
    demo.add_argument("--dir", help="folder for the demo's model, data and jobs (default: a new temp folder)")
    demo.add_argument("--max-steps", type=int, default=8, help="training steps (default 8)")

    rebuild = commands.add_parser(
        "rebuild-index", help="local backend: rebuild the jobs database from the jobs' folders (stop servers first)",
        description="Write a new local jobs database from the jobs' folders (each holds its spec, log and exit "
                    "record), keeping the old file aside as jobs.db.damaged-<time>. Stop every server using this "
                    "home first. A server does this by itself when it starts and cannot open the database.")
    rebuild.add_argument("--home", help="the state directory (default: TRL_JOBS_HOME, else the platform default)")

    from .client_config import CLIENTS

    config = commands.add_parser("config", help="print the configuration that connects a client to this install")
    config.add_argument("client", choices=CLIENTS)
    config.add_argument("--uvx", action="store_true", help="run the server with uvx instead of this install's path")
    config.add_argument("--url", help="connect over HTTP to this URL (a server started with --transport http)")
    config.add_argument("--token", help="with --url: the bearer token the server was started with")
    return parser


def rebuild_index(home: str | None) -> int:
    from ..jobs.backends.local import LocalBackend
    from ..jobs.backends.local.rebuild import prepare_home
    from ..jobs.backends.local.rebuild import rebuild_index as rebuild
    from ..jobs.core.models import JobsError

    where = LocalBackend(home=home).home  # the same default as the server's
    try:
        prepare_home(where)
        report = rebuild(where)
    except (JobsError, OSError) as exc:
        print(f"trl-jobs-mcp: {exc}", file=sys.stderr)
        return 1
    print(f"trl-jobs-mcp: {report.summary()}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Flags without a command mean `serve`, so `trl-jobs-mcp --transport http` works too.
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help", "--version")):
        args_list.insert(0, "serve")
    parser = _parser()
    args = parser.parse_args(args_list)

    if args.command == "demo":
        from .demo import run_demo

        return run_demo(directory=args.dir, max_steps=args.max_steps)

    if args.command == "rebuild-index":
        return rebuild_index(args.home)

    if args.command == "config":
        from .client_config import print_config

        return print_config(args.client, uvx=args.uvx, url=args.url, token=args.token)

    overrides = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        parser.exit(2, f"trl-jobs-mcp: {exc}\n")
    return serve(settings)


def serve(settings: Settings) -> int:
    import anyio

    from .app import build_server

    server = build_server(settings)
    try:
        if settings.transport == "http":
            from .http import serve_http

            anyio.run(serve_http, server, settings)
        else:
            from .stdio import serve_stdio

            # Someone typed the command in a terminal: stdio is for a client that spawns the server.
            note = ("trl-jobs-mcp: an MCP server on stdio, waiting for an MCP client to speak on standard input "
                    "(a client such as Claude Code or Cursor starts it for you). To see it work: "
                    "`trl-jobs-mcp demo`; to serve over HTTP: `trl-jobs-mcp serve --transport http`. "
                    "Ctrl-C quits.") if sys.stdin.isatty() else None
            anyio.run(partial(serve_stdio, server, note=note))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
