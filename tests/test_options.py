"""The table of options each wire carries (llmroute/providers/options.py).

Each adapter's own tests check the exact body it sends for every option and the options its wire refuses;
these check the table as a whole: one row per protocol, each adapter reading its own row, and the refusal.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmroute.errors import ErrorKind, ProviderError
from llmroute.providers import ADAPTERS
from llmroute.providers.options import WIRES, check_options, require_options, stop_sequences
from llmroute.types import ChatRequest

EVERY_OPTION = {"temperature": 0.5, "max_tokens": 10, "top_p": 0.5, "stop": ("END",), "seed": 1}

#: What the brief and the reference say each wire cannot carry of ``EVERY_OPTION``.
REFUSED = {
    "openai": None,
    "openrouter": None,
    "azure": None,
    "cloudflare": "stop",
    "ollama": None,
    "anthropic": "seed",
    "gemini": None,
    "bedrock": "seed",
}


def test_every_protocol_has_a_row_and_every_row_a_protocol() -> None:
    assert set(WIRES) == set(ADAPTERS) == set(REFUSED)


@pytest.mark.parametrize("protocol", sorted(REFUSED))
def test_each_adapter_reads_its_own_row(protocol: str) -> None:
    assert ADAPTERS[protocol].protocol == protocol  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", sorted(REFUSED))
def test_what_each_wire_refuses_of_every_option(protocol: str) -> None:
    reason = check_options(protocol, ChatRequest.from_prompt("hi", **EVERY_OPTION))
    assert (reason.split(":")[0] if reason else None) == REFUSED[protocol]


@pytest.mark.parametrize("protocol", sorted(REFUSED))
def test_a_request_without_options_fits_every_wire(protocol: str) -> None:
    assert check_options(protocol, ChatRequest.from_prompt("hi")) is None
    assert check_options(protocol, ChatRequest.from_prompt("hi", temperature=1.5, max_tokens=1)) is None


def test_the_reason_names_the_option_then_why() -> None:
    assert check_options("anthropic", ChatRequest.from_prompt("hi", seed=3)) == (
        "seed: the Anthropic Messages API has no seed"
    )
    assert check_options("openai", ChatRequest.from_prompt("hi", stop=tuple("abcde"))) == (
        "stop: the OpenAI Chat Completions API takes at most 4 stop sequences, not 5"
    )


def test_options_that_are_set_to_zero_still_count() -> None:
    # ``seed=0`` and ``top_p=0.0`` are values, not "unset": a wire without them must say so.
    assert check_options("bedrock", ChatRequest.from_prompt("hi", seed=0)) is not None
    assert check_options("openai", ChatRequest.from_prompt("hi", seed=0, top_p=0.0)) is None


def test_an_unknown_wire_is_refused_only_options_beyond_temperature_and_max_tokens() -> None:
    assert check_options("plugin", ChatRequest.from_prompt("hi", temperature=0.1, max_tokens=5)) is None
    reason = check_options("plugin", ChatRequest.from_prompt("hi", stop=("x",), seed=2))
    assert reason == "stop: llmroute does not know whether the 'plugin' wire carries it"


def test_a_lone_stop_string_is_one_sequence_not_its_characters() -> None:
    request = ChatRequest.from_prompt("hi", stop="END")
    assert stop_sequences(request) == ["END"]
    assert check_options("openai", request) is None
    assert stop_sequences(ChatRequest.from_prompt("hi", stop=("a", "b"))) == ["a", "b"]


def test_require_options_raises_a_classified_bad_request() -> None:
    with pytest.raises(ProviderError) as caught:
        require_options("bedrock", ChatRequest.from_prompt("hi", seed=9), "bedrock-eu")
    error = caught.value
    assert (error.kind, error.status, error.provider, error.retry_at) == (
        ErrorKind.BAD_REQUEST,
        None,
        "bedrock-eu",
        None,
    )
    assert error.message == "cannot send this request: seed: Bedrock Converse has no seed"
    require_options("gemini", ChatRequest.from_prompt("hi", seed=9), "gemini")  # fits: no error


def test_the_request_keeps_its_old_defaults_and_gains_unset_options() -> None:
    request = ChatRequest.from_prompt("hi")
    assert (request.temperature, request.max_tokens, request.stream) == (None, None, True)
    assert (request.top_p, request.stop, request.seed) == (None, (), None)


def test_asking_the_table_loads_no_adapter_and_no_http_client() -> None:
    code = (
        "import sys\n"
        "from llmroute.providers.options import check_options\n"
        "from llmroute.types import ChatRequest\n"
        "check_options('anthropic', ChatRequest.from_prompt('hi', seed=1))\n"
        "loaded = [m for m in sys.modules if m == 'httpx' or m.startswith('llmroute.providers.') and m != "
        "'llmroute.providers.options']\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
