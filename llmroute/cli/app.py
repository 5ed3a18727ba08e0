"""The Typer application: argument parsing only. Work happens in the command modules.

Command modules are imported inside each command so that ``--help`` and shell
completion never pay for httpx or the router.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from llmroute._version import __version__
from llmroute.cli.config_cmd import config_app
from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus, closed_pipe, code_for
from llmroute.cli.runner import (
    COMPLETE_VAR,
    INVALID_TEXT_WARNING,
    fail,
    fail_json,
    run_command,
    secret_values,
    valid_text,
)

app = typer.Typer(
    name="llmroute",
    help="Every LLM API key you hold, usable as one: routing, failover, cooldowns and cost tracking.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.add_typer(config_app, name="config")

SHELLS = ("bash", "zsh", "fish")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmroute {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
) -> None:
    environment: Environment = ctx.ensure_object(Environment)
    if debug:
        environment.env = {**environment.env, "LLMROUTE_DEBUG": "1"}


def _finite(value: float | None) -> float | None:
    """Typer's ``min``/``max`` let ``nan`` and ``inf`` through; no float option means either."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("must be a finite number")
    return value


def _complete_model(incomplete: str) -> list[str]:
    from llmroute.cli.completion import model_candidates

    return model_candidates(incomplete)


def _complete_provider(incomplete: str) -> list[str]:
    from llmroute.cli.completion import provider_candidates

    return provider_candidates(incomplete)


def _complete_key(incomplete: str) -> list[str]:
    from llmroute.cli.completion import key_candidates

    return key_candidates(incomplete)


@app.command()
def chat(
    ctx: typer.Context,
    prompt: Annotated[list[str] | None, typer.Argument(help="The prompt (after any piped stdin).")] = None,
    model: Annotated[
        str | None,
        typer.Option("-m", "--model", help="Alias, model name or provider:model.", autocompletion=_complete_model),
    ] = None,
    system: Annotated[str | None, typer.Option("-s", "--system", help="System prompt.")] = None,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, max=2.0, callback=_finite, help="Sampling temperature.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Most tokens to generate, a reasoning model's reasoning included.")
    ] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Wait for the whole answer.")] = False,
    provider: Annotated[
        str | None, typer.Option(help="Try this provider first.", autocompletion=_complete_provider)
    ] = None,
    privacy: Annotated[
        str | None, typer.Option(help="'critical' keeps the prompt on local models.", metavar="normal|critical")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0.1, callback=_finite, help="Deadline for the whole request, seconds.")
    ] = None,
    no_stdin: Annotated[bool, typer.Option("--no-stdin", help="Do not read a prompt from stdin.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object with the answer, reasoning, finish reason and attempts, once the answer is"
            " whole (so a stream that breaks midway still fails over to the next key).",
        ),
    ] = False,
    show_reasoning: Annotated[
        bool,
        typer.Option(
            "--show-reasoning",
            help="Show the model's reasoning on stderr as it arrives (dim on a terminal); it never goes to stdout.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show each attempt and failover on stderr.")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "-o",
            "--option",
            click_type=click.Tuple([str, str]),
            help="A provider option: temperature, max_tokens, top_p, stop (repeatable) or seed. A provider whose API"
            " cannot carry it is skipped, never sent the request without it.",
            metavar="NAME VALUE",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="Only this key (its variable name).", metavar="LABEL", autocompletion=_complete_key),
    ] = None,
    continue_latest: Annotated[
        bool, typer.Option("-c", "--continue", help="Continue the latest conversation (a new one if none).")
    ] = False,
    conversation: Annotated[
        str | None, typer.Option("--cid", "--conversation", help="Continue this conversation.", metavar="ID")
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log this exchange.")] = False,
    log: Annotated[bool, typer.Option("--log", help="Log this exchange even when logging is off.")] = False,
) -> None:
    """Send a prompt and stream the answer; with no prompt on a terminal, chat interactively.

    Piped stdin comes first, then the arguments, separated by a blank line.
    Only the answer goes to stdout, never a reasoning model's reasoning. An answer cut off by the
    max-tokens limit (finish reason "length") warns on stderr and still exits 0.

    The model is -m, else the default_model setting: LLMROUTE_MODEL or default_model in config.toml,
    else gpt-oss:120b (llmroute config show says which).

    Every answered exchange is logged in the state file (llmroute logs lists them) unless --no-log,
    LLMROUTE_LOGS=0 or llmroute logs off. -c continues the latest conversation and --cid ID a given one:
    its earlier turns are sent again, its system prompt and model kept unless -s or -m is given.

    Interactive session: one prompt per line; a line !multi starts a prompt of several lines and a line
    !end ends it; exit, quit or Ctrl-D ends the session; Ctrl-C stops the answer being written.

    \b
    Examples:
      llmroute chat "Explain DNS in one paragraph"
      git diff | llmroute chat -s "Write a commit message for this diff"
      llmroute chat -m claude-sonnet "Review this plan"
      llmroute chat -m openrouter:openai/gpt-4o-mini "Say hi"
      llmroute chat -c "Now in French"
      llmroute chat -o seed 42 -o top_p 0.9 -o stop END "Count to ten, then END"
      llmroute chat --key OPENROUTER_API_KEY_2 "hi"
      llmroute chat --json "hi" | jq -r .text
    """
    from llmroute.cli import chat as chat_command

    options = chat_command.ChatOptions(
        prompt=tuple(prompt or ()),
        model=model,
        system=system,
        temperature=temperature,
        max_tokens=max_tokens,
        stream=not no_stream,
        provider=provider,
        privacy=privacy,
        timeout=timeout,
        read_stdin=not no_stdin,
        json=as_json,
        show_reasoning=show_reasoning,
        options=tuple(option or ()),
        key=key,
        continue_latest=continue_latest,
        conversation=conversation,
        no_log=no_log,
        log=log,
    )
    _run(ctx, verbose, lambda environment, settings: chat_command.chat(options, settings, environment))


@app.command()
def logs(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Argument(help="on or off: log chats or not, from now on; status: whether they are.", metavar="ACTION"),
    ] = None,
    count: Annotated[
        int, typer.Option("-n", "--count", min=0, help="The newest N exchanges (0: all).", metavar="N")
    ] = 3,
    search: Annotated[
        str | None, typer.Option("-q", "--search", help="Only exchanges whose text contains TEXT.", metavar="TEXT")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option("--cid", "--conversation", help="Only this conversation.", metavar="ID")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show the logged exchanges, newest last: time, model, provider, key, cost, prompt, system and answer.

    The search is a plain substring (case-insensitive for ASCII letters) over the prompt, system prompt and
    answer. Control characters in the text are shown escaped; --json has the text as logged.
    logs off, logs on and logs status turn logging off or on and say where it is kept and how much there is.
    LLMROUTE_LOGS=0 or 1 overrides them.
    """
    from llmroute.cli import logs as logs_command

    options = logs_command.LogsOptions(
        action=action, count=count, search=search, conversation=conversation, json=as_json
    )
    _run(ctx, False, lambda environment, settings: logs_command.run(options, settings, environment))


@app.command()
def models(
    ctx: typer.Context,
    provider: Annotated[str | None, typer.Option(help="Only this provider.", autocompletion=_complete_provider)] = None,
    free: Annotated[bool, typer.Option("--free", help="Only free models.")] = False,
    search: Annotated[str | None, typer.Option(help="Only ids or names containing TEXT.", metavar="TEXT")] = None,
    max_price: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            callback=_finite,
            help="Only models whose prompt and completion prices are at most this (USD per 1M tokens).",
        ),
    ] = None,
    sort: Annotated[str, typer.Option(help="Sort by name, price or context.", metavar="name|price|context")] = "name",
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch the catalogues now instead of using the cache.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show fetches on stderr.")] = False,
) -> None:
    """List every provider's models with context length, prices and the keys that reach them.

    Catalogues are cached in the state file for 24 hours (LLMROUTE_CATALOG_TTL, seconds).
    """
    from llmroute.cli import models as models_command

    options = models_command.ModelsOptions(
        provider=provider, free=free, search=search, max_price=max_price, sort=sort, refresh=refresh, json=as_json
    )
    _run(ctx, verbose, lambda environment, settings: models_command.run(options, settings, environment))


@app.command("test-keys")
def test_keys(
    ctx: typer.Context,
    provider: Annotated[
        str | None, typer.Option(help="Only this provider's keys.", autocompletion=_complete_provider)
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            help="Only this key (its variable name); repeatable.", metavar="LABEL", autocompletion=_complete_key
        ),
    ] = None,
    probes: Annotated[int, typer.Option(min=1, max=20, help="Probes per key; the latency shown is their median.")] = 1,
    inference: Annotated[
        bool, typer.Option("--inference", help="Also send a tiny real prompt through each key.")
    ] = False,
    require_model: Annotated[
        list[str] | None,
        typer.Option(
            "--require-model", help="A model that must be reachable through a working key; repeatable.", metavar="MODEL"
        ),
    ] = None,
    min_ok: Annotated[int | None, typer.Option(min=0, help="Pass when at least N keys work (for CI).")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, callback=_finite, help="Per-key timeout, seconds.")] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show each probe on stderr.")] = False,
) -> None:
    """Check every key of every provider at once: verdict, latency, credit, reachable models.

    Exit 0 only when every checked key works and every required model is reachable.
    """
    from llmroute.cli import test_keys as test_keys_command

    options = test_keys_command.TestKeysOptions(
        provider=provider,
        labels=tuple(key or ()),
        probes=probes,
        inference=inference,
        required=tuple(require_model or ()),
        min_ok=min_ok,
        timeout=timeout,
        json=as_json,
    )
    _run(ctx, verbose, lambda environment, settings: test_keys_command.run(options, settings, environment))


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """One screen: every key's state, calls, tokens, cost and latency today; breakers and budgets.

    Reads only the state file: no network.
    """
    from llmroute.cli import status as status_command

    options = status_command.StatusOptions(json=as_json)
    _run(ctx, False, lambda environment, settings: status_command.run(options, settings, environment))


@app.command()
def costs(
    ctx: typer.Context,
    by: Annotated[
        str, typer.Option(help="Group by key, provider, model or UTC day.", metavar="key|provider|model|day")
    ] = "key",
    today: Annotated[bool, typer.Option("--today", help="This UTC day (the default).")] = False,
    month: Annotated[bool, typer.Option("--month", help="This UTC calendar month.")] = False,
    days: Annotated[
        int | None, typer.Option(min=1, max=36_500, help="The last N UTC days, today included.", metavar="N")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this UTC date to now.", metavar="YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
) -> None:
    """Calls, tokens and cost (reported and estimated apart) over a period, with budget use.

    Sums are exact (integer micro-dollars). Reads only the state file.
    """
    from llmroute.cli import costs as costs_command

    options = costs_command.CostsOptions(
        by=by, today=today, month=month, days=days, since=since, json=as_json, csv=as_csv
    )
    _run(ctx, False, lambda environment, settings: costs_command.run(options, settings, environment))


@app.command()
def metrics(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to FILE atomically (a temporary file in its directory, then a rename) instead of stdout.",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """Print the ledger's metrics in the Prometheus text format, for node_exporter's textfile collector.

    Calls, tokens and cost (counters from the daily totals, all time), errors, latency and failovers over the
    last hour, key and breaker states, and budget use. Reads only the state file.
    """
    from llmroute.cli import metrics as metrics_command

    options = metrics_command.MetricsOptions(output=output)
    _run(ctx, False, lambda environment, settings: metrics_command.run(options, settings, environment))


@app.command("reset-limits")
def reset_limits(
    ctx: typer.Context,
    key: Annotated[
        list[str] | None,
        typer.Option(
            help="Only this key (its variable name); repeatable.", metavar="LABEL", autocompletion=_complete_key
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="Only this provider's keys and circuit breaker.", autocompletion=_complete_provider),
    ] = None,
) -> None:
    """Clear cooldowns, disabled flags and open circuit breakers, and say what was cleared.

    The ledger and the spend it records are kept.
    """
    from llmroute.cli import reset_limits as reset_command

    options = reset_command.ResetLimitsOptions(labels=tuple(key or ()), provider=provider)
    _run(ctx, False, lambda environment, settings: reset_command.run(options, settings, environment))


@app.command()
def prune(
    ctx: typer.Context,
    keep_days: Annotated[
        int | None,
        typer.Option(
            min=1, max=36_500, help="Keep raw attempts this many days (default: [ledger] keep_days, 90).", metavar="N"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be removed.")] = False,
    no_vacuum: Annotated[bool, typer.Option("--no-vacuum", help="Do not rewrite the file to reclaim space.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Delete raw attempts older than keep_days and reclaim the file's space.

    Daily totals per key, provider and model are kept, so costs over any period is unchanged.
    The same trim runs on its own once a day.
    """
    from llmroute.cli import prune as prune_command

    options = prune_command.PruneOptions(keep_days=keep_days, dry_run=dry_run, vacuum=not no_vacuum, json=as_json)
    _run(ctx, False, lambda environment, settings: prune_command.run(options, settings, environment))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; any but loopback needs LLMROUTE_SERVER_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")] = 8787,
    grace: Annotated[
        float,
        typer.Option(
            min=0.0,
            callback=_finite,
            help="On SIGTERM or Ctrl-C, seconds requests in flight get to finish.",
            metavar="SECONDS",
        ),
    ] = 10.0,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Show each request, attempt and failover on stderr.")
    ] = False,
) -> None:
    """Serve the OpenAI and Ollama APIs over every key (/v1/chat/completions, /api/chat, ...), with /health and
    /metrics.

    Routing, failover, limits, budgets, privacy and the ledger are those of chat. Prints "listening on URL" on
    stderr when ready; SIGTERM or Ctrl-C stops it gracefully (exit 0). With LLMROUTE_SERVER_TOKEN set, clients
    must send Authorization: Bearer <token>.
    """
    from llmroute.cli import serve as serve_command

    options = serve_command.ServeOptions(host=host, port=port, grace=grace)
    _run(ctx, verbose, lambda environment, settings: serve_command.run(options, settings, environment))


@app.command()
def completion(shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", metavar="SHELL")]) -> None:
    """Print the shell completion script (the same as completions/ in the source tree)."""
    from llmroute.cli.completion import completion_script

    if shell not in SHELLS:
        raise typer.BadParameter(f"must be one of {', '.join(SHELLS)}", param_hint="SHELL")
    typer.echo(completion_script(shell), nl=False)


def _run(
    ctx: typer.Context,
    verbose: bool,
    command: Callable[[Environment, Any], ExitStatus],
    *,
    needs_settings: bool = True,
) -> None:
    """Run the command through :func:`~llmroute.cli.runner.run_command` (settings, failures, exit status)."""
    environment = ctx.ensure_object(Environment)
    as_json = bool(ctx.params.get("as_json"))
    status = run_command(environment, verbose, command, needs_settings=needs_settings, as_json=as_json)
    raise typer.Exit(int(status))


def run(args: Sequence[str], environment: Environment | None = None) -> int:
    """Run the CLI on ``args``; returns the exit status instead of exiting.

    A plain ``chat`` command line is run by the fast path, without Typer (:mod:`llmroute.cli.fast_chat`).
    """
    from llmroute.cli import fast_chat

    status = fast_chat.run(args, environment)
    if status is not None:
        return status
    environment = environment or Environment()
    environment.guard_output()
    environment.remember_secrets(secret_values(environment.env))
    if COMPLETE_VAR in os.environ:
        from llmroute.cli.completion import enable_completion

        enable_completion()
    arguments = [valid_text(a) for a in args]
    if arguments != list(args):
        environment.warn(INVALID_TEXT_WARNING)
    as_json = wants_json(arguments)
    try:
        try:
            result = app(args=arguments, prog_name="llmroute", standalone_mode=False, obj=environment)
            environment.stdout.flush()
        except click.exceptions.Exit as exc:
            environment.stdout.flush()
            return exc.exit_code
        except click.exceptions.ClickException as exc:
            exc.show(file=environment.stderr)
            return int(
                fail_json(environment, code_for(exc.exit_code), exc.format_message(), exc.exit_code, as_json=as_json)
            )
        except click.exceptions.Abort:
            environment.stderr.write("\n")
            return int(fail_json(environment, "interrupted", "interrupted", ExitStatus.INTERRUPTED, as_json=as_json))
    except BaseException as exc:  # a closed pipe (rich's handler raises SystemExit), or a bug outside any command
        if isinstance(exc, SystemExit) and not closed_pipe(exc):
            raise
        if isinstance(exc, KeyboardInterrupt):
            raise
        return int(fail(environment, exc, as_json=as_json))
    return int(result or 0)


def wants_json(arguments: Sequence[str]) -> bool:
    """``--json`` among the options (before any ``--``): then even a command line Click refuses answers in JSON."""
    options = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return "--json" in options
