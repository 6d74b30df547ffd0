"""The exit-code boundary: the one place exceptions become exit codes (``boundary`` around every
command, ``run_app`` around the whole app). 0 ok, 1 a gate failed, 2 bad input or usage, 3 internal
error, 4 the environment failed (:class:`embeval.errors.EnvironmentFailure`: a lost Dask scheduler or
workers, a full disk, out of memory, a GPU error), 130 interrupted, 141 stdout closed early."""

from __future__ import annotations

import functools
import sys

import typer

from embeval.cli.console import _say, remember_secrets
from embeval.cli.options import _check_declared_paths, path_roles

EXIT_CODES = (
    "Exit codes: 0 = ran and every gate passed, 1 = a gate failed, 2 = bad input or usage "
    "(one line on stderr, no output file), 3 = internal error (a bug: one line; set "
    "EMBEVAL_DEBUG=1 for the traceback), 4 = the environment failed, not the input (Dask scheduler or "
    "workers lost, disk full, out of memory, GPU error: one line; rerun on a healthy machine), "
    "130 = interrupted (Ctrl-C), 141 = stdout closed early (e.g. piped into head), quietly."
)


_ARGV: list[str] | None = None  # this process's command line (set by run_app): the resume command


def resume_command() -> str:
    """The command line of this run, shell-quoted, each source URI without its secrets: what resumes
    a checkpointed run (``embeval geometry 'shards/*.npy' --cluster ... --checkpoint DIR``)."""
    import shlex

    from embeval.io.sources.spec import redact

    argv = _ARGV if _ARGV is not None else sys.argv[1:]
    return shlex.join(["embeval", *(redact(a) if "://" in a else a for a in argv)])


def _environment_message(exc: BaseException) -> str:
    """What an EnvironmentFailure says on the command line: a lost scheduler names the resume
    command (with --checkpoint), or how to make the next run resumable (without)."""
    from embeval.errors import SchedulerLost

    if not isinstance(exc, SchedulerLost):
        return str(exc)
    head = f"lost {exc.where} ({exc.how})"
    if exc.checkpoint is None:
        return (
            f"{head}; no result was written: restart the scheduler and workers and rerun the same command "
            "(add --checkpoint DIR and a rerun resumes from the finished tiles)"
        )
    return (
        f"{head}; {exc.saved} finished tiles are saved in {exc.checkpoint}: restart the scheduler and "
        f"workers, then resume with: {resume_command()}"
    )


def _die(message: str, code: int = 2) -> None:
    """One line on stderr (control characters made visible), then exit ``code``."""
    _say("error: ", message)
    raise typer.Exit(code)


def _internal(exc: BaseException) -> None:
    """An unexpected exception: one line and exit code 3 (the traceback with EMBEVAL_DEBUG=1)."""
    import os

    if os.environ.get("EMBEVAL_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    detail = str(exc).strip().splitlines()
    _say(
        "internal error: ",
        f"{type(exc).__name__}: {detail[0] if detail else ''} (run with EMBEVAL_DEBUG=1 for the traceback)",
    )
    raise typer.Exit(3)


def _environment(failure: BaseException, exc: BaseException) -> None:
    """The environment failed (exit 4): one line, the traceback only with EMBEVAL_DEBUG=1."""
    import os

    if os.environ.get("EMBEVAL_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    _say("error: ", f"the environment failed: {failure}")
    raise typer.Exit(4)


def _unexpected(exc: Exception) -> None:
    """Any exception that is not an EmbevalError: an environment failure (exit 4), a file problem
    (exit 2), else a bug (exit 3)."""
    from embeval.errors import environment_failure

    failure = environment_failure(exc)
    if failure is not None:
        _environment(failure, exc)
    if isinstance(exc, OSError):  # a file that vanished, a permission that changed
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _die(f"{where}{exc.strerror or exc}")
    _internal(exc)


def _pipe_closed() -> None:
    """stdout's reader went away (``embeval metrics | head -1``): stop quietly, exit 141 as a
    process killed by SIGPIPE would. stdout is pointed at /dev/null so that the interpreter's
    final flush does not complain either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner)
        pass
    raise typer.Exit(141)


def boundary(fn):
    """The one place exceptions become exit codes: EmbevalError → one line, exit 2; a closed
    pipe → quiet exit 141; the environment failing (EnvironmentFailure, MemoryError, a full disk, a
    lost Dask cluster, a GPU error) → one line, exit 4; anything unexpected → one line, exit 3
    (never 1, the gate code).
    Every command goes through it, so it is also where the declared paths (IN/OUT) are checked,
    before the command's own code runs."""

    roles = path_roles(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from embeval.errors import EmbevalError, EnvironmentFailure

        try:
            remember_secrets([*args, *kwargs.values()])
            _check_declared_paths(roles, kwargs)
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except EmbevalError as exc:
            _die(str(exc))
        except EnvironmentFailure as exc:
            _die(f"the environment failed: {_environment_message(exc)}", 4)
        except BrokenPipeError:
            _pipe_closed()
        except RecursionError as exc:
            _internal(exc)
        except Exception as exc:  # the contract: 4 for the environment, 2 for a file, else 3
            if _is_click_error(exc):
                raise
            _unexpected(exc)

    return wrapper


def _is_click_error(exc: BaseException) -> bool:
    """A click/Typer usage exception (public ClickException interface: exit_code, format_message)."""
    return hasattr(exc, "exit_code") and callable(getattr(exc, "format_message", None))


def run_app(app: typer.Typer) -> None:
    """Console entry point and outer boundary: usage errors from option parsing are one line,
    exit 2; Ctrl-C is 130; a closed stdout is a quiet 141; the environment failing is one line,
    exit 4; anything else is one line, exit 3."""
    global _ARGV
    _ARGV = sys.argv[1:]
    try:
        try:
            code = app(standalone_mode=False)
        except typer.Abort:
            code = 130
        except KeyboardInterrupt:
            code = 130
        except BrokenPipeError:
            _pipe_closed()
        except typer.Exit as exc:
            code = exc.exit_code
        except Exception as exc:
            if not _is_click_error(exc):
                from embeval.errors import environment_failure

                failure = environment_failure(exc)
                if failure is not None:
                    _environment(failure, exc)
                _internal(exc)
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(2)
            cmd = ctx.command_path if ctx is not None else "embeval"
            message = exc.format_message()  # type: ignore[attr-defined]  # a ClickException (checked above)
            _say("error: ", f"{message} (see '{cmd} --help')")
            exit_code = getattr(exc, "exit_code", None)
            code = exit_code if isinstance(exit_code, int) else 2
    except typer.Exit as exc:
        code = exc.exit_code
    sys.exit(code if isinstance(code, int) else 0)
