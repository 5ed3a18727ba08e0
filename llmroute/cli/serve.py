"""``llmroute serve``: one local endpoint, OpenAI-compatible, over every key.

The server stack (aiohttp) is imported only here, when ``serve`` runs. Everything the server writes to stderr
(the ``listening on`` line, warnings, and with ``-v`` one line per request and attempt) goes through the
command line's redacting output, so no key reaches it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from llmroute.cli.environment import Environment
from llmroute.cli.failures import ExitStatus
from llmroute.config import Settings, load_environment
from llmroute.errors import ConfigError, NoKeysError

#: Loggers of the server stack whose records are sent through the same redacting output as llmroute's own.
_STACK_LOGGERS = ("aiohttp", "asyncio")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    grace: float = 10.0


def run(options: ServeOptions, settings: Settings, environment: Environment) -> ExitStatus:
    try:
        from llmroute.server import run as server
    except ModuleNotFoundError as exc:
        raise ConfigError(f"llmroute serve needs the {exc.name} package: pip install {exc.name}") from None
    from llmroute.catalog import usable_providers
    from llmroute.store import Store

    env = {**load_environment(), **environment.env}
    token = (env.get(server.TOKEN_VARIABLE) or "").strip() or None
    server.check_bind(options.host, token)
    if token is not None and len(token) < 16:
        environment.warn(f"{server.TOKEN_VARIABLE} is short; use a long random value (openssl rand -hex 32)")
    if not usable_providers(settings):
        raise NoKeysError(
            "no provider has a key or a local endpoint: set OLLAMA_API_KEY, OPENROUTER_API_KEY, OPENAI_API_KEY, ..."
            " or OLLAMA_HOST (see llmroute config show)"
        )
    _route_stack_logs()

    def ready(url: str) -> None:
        environment.stderr.write(f"listening on {url}\n")
        environment.stderr.flush()

    store = Store.open(settings.state_path)
    try:
        status = server.serve(
            settings, store, host=options.host, port=options.port, token=token, grace=options.grace, ready=ready
        )
    finally:
        store.close()
    return ExitStatus(status)


def _route_stack_logs() -> None:
    """aiohttp's and asyncio's warnings go where llmroute's go (one redacted line each), never to a bare stderr."""
    handlers = logging.getLogger("llmroute").handlers
    for name in _STACK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = list(handlers)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
