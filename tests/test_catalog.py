"""The merged catalogue: TTL and refresh, stale fallback, retirements, prices, filters and the completion reader."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pytest_httpx import HTTPXMock

from llmroute.catalog import (
    CATALOG_TTL,
    RETIRED,
    CatalogEntry,
    cached_model_specs,
    current_target,
    current_targets,
    filter_and_sort,
    load_catalog,
    estimated_price,
    price_of,
    price_source,
    usable_providers,
)
from llmroute.config import Settings, load_settings
from llmroute.store import Address, Store
from llmroute.types import ModelInfo, Target

OR_MODELS = "https://openrouter.ai/api/v1/models"
OR_KEY = "https://openrouter.ai/api/v1/key"
OLL_TAGS = "https://ollama.com/api/tags"
LOCAL_TAGS = "http://127.0.0.1:11434/api/tags"
OR_SECRETS = ("sk-or-v1-" + "a" * 64, "sk-or-v1-" + "b" * 64)
OLL_SECRET = "c" * 32 + ".Zx9Qw7Er5Ty3Ui1OpLk"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC).timestamp()

OR_DOC = {
    "data": [
        {"id": "openai/gpt-4o-mini", "name": "GPT-4o mini", "context_length": 128000,
         "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}},
        {"id": "meta-llama/llama-3.3-70b-instruct:free", "name": "Llama 3.3 70B (free)", "context_length": 65536,
         "pricing": {"prompt": "0", "completion": "0"}},
        {"id": "openrouter/auto", "name": "Auto Router", "context_length": 2000000,
         "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "old/promo:free", "name": "Promo", "pricing": {"prompt": "0", "completion": "0"},
         "expiration_date": "2026-10-01"},
    ]
}  # fmt: skip
OLL_DOC = {"models": [{"name": "gpt-oss:120b", "details": {}}, {"name": "kimi-k2.5", "details": {}}]}


def settings_for(home: Path, **env: str) -> Settings:
    return load_settings({"LLMROUTE_HOME": str(home), **env})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "state.db")
    yield store
    store.close()


@pytest.fixture
def both(tmp_path: Path) -> Settings:
    return settings_for(
        tmp_path, OPENROUTER_API_KEY=OR_SECRETS[0], OPENROUTER_API_KEY_2=OR_SECRETS[1], OLLAMA_API_KEY=OLL_SECRET
    )


def serve_openrouter(httpx_mock: HTTPXMock, **response: object) -> None:
    """OpenRouter's catalogue, and each key's ``GET /key`` asked for alongside it (a report naming no cap)."""
    httpx_mock.add_response(url=OR_MODELS, **response)  # type: ignore[arg-type]
    httpx_mock.add_response(url=OR_KEY, json={"data": {"label": "k"}}, is_optional=True, is_reusable=True)


def serve_both(httpx_mock: HTTPXMock) -> None:
    serve_openrouter(httpx_mock, json=OR_DOC)
    httpx_mock.add_response(url=OLL_TAGS, json=OLL_DOC)


def load(settings: Settings, store: Store, now: float = NOW, **options: object):
    return asyncio.run(load_catalog(settings, store, now=now, **options))  # type: ignore[arg-type]


def entry(model: str, provider: str = "openrouter", **fields: object) -> CatalogEntry:
    return CatalogEntry(ModelInfo(provider=provider, model=model, **fields), ("KEY",))  # type: ignore[arg-type]


# --- what is fetched, and when ------------------------------------------------------------------------


def test_first_load_fetches_every_provider_with_a_key_and_caches_it(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    result = load(both, store)
    assert sorted(result.fetched) == ["ollama", "openrouter"] and not result.stale and not result.errors
    assert {e.spec for e in result.entries} >= {"ollama:gpt-oss:120b", "openrouter:openai/gpt-4o-mini"}
    assert result.fetched_at == {"ollama": NOW, "openrouter": NOW}
    assert {name: len(c.models) for name, c in store.catalogs().items()} == {"ollama": 2, "openrouter": 4}


def test_every_key_of_an_account_wide_catalogue_reaches_its_models(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    keys = {e.info.provider: e.keys for e in load(both, store).entries}
    assert keys == {"openrouter": ("OPENROUTER_API_KEY", "OPENROUTER_API_KEY_2"), "ollama": ("OLLAMA_API_KEY",)}


def test_within_the_ttl_the_cache_answers_without_a_request(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    load(both, store)
    result = load(both, store, now=NOW + CATALOG_TTL - 1, ttl=CATALOG_TTL)
    catalogue_requests = [r for r in httpx_mock.get_requests() if not r.url.path.endswith("/key")]
    assert result.fetched == () and len(catalogue_requests) == 2, "the first load's two, none since"
    assert result.fetched_at["openrouter"] == NOW and len(result.entries) == 6


def test_after_the_ttl_only_the_expired_provider_is_fetched(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    load(both, store)
    store.replace_catalog("ollama", store.catalogs(["ollama"])["ollama"].models, NOW + 500)
    serve_openrouter(httpx_mock, json=OR_DOC)
    result = load(both, store, now=NOW + 1000, ttl=600)
    assert result.fetched == ("openrouter",)
    assert result.fetched_at == {"ollama": NOW + 500, "openrouter": NOW + 1000}


def test_refresh_fetches_even_a_fresh_catalogue(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    serve_both(httpx_mock)
    load(both, store)
    serve_both(httpx_mock)
    assert sorted(load(both, store, now=NOW + 1, refresh=True).fetched) == ["ollama", "openrouter"]


def test_fetches_run_concurrently(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    started: set[str] = set()
    everyone = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        started.add(request.url.host)
        if len(started) == 2:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), timeout=2)  # a sequential fetch never gets past this
        return httpx.Response(200, json=OR_DOC if "openrouter" in request.url.host else OLL_DOC)

    httpx_mock.add_callback(answer, is_reusable=True)
    assert sorted(load(both, store).fetched) == ["ollama", "openrouter"]


def test_one_key_fetches_for_all_and_a_disabled_key_is_passed_over(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    first = both.provider("openrouter").keys[0]  # type: ignore[union-attr]
    store.record_failure(
        Address("key", first.fingerprint), provider="openrouter", label=first.label, endpoint="", now=NOW,
        error_kind="auth", reason="User not found.", effect="disable", deadline=None,
    )  # fmt: skip
    serve_both(httpx_mock)
    load(both, store)
    request = httpx_mock.get_request(url=OR_MODELS)
    assert request is not None and request.headers["Authorization"] == f"Bearer {OR_SECRETS[1]}"


def test_providers_without_keys_or_disabled_are_not_fetched(
    tmp_path: Path, store: Store, httpx_mock: HTTPXMock
) -> None:
    settings = settings_for(tmp_path, OPENROUTER_API_KEY=OR_SECRETS[0])
    serve_openrouter(httpx_mock, json=OR_DOC)
    assert load(settings, store).fetched == ("openrouter",)
    assert [p.name for p in usable_providers(settings)] == ["openrouter"]


def test_a_local_daemon_is_fetched_without_a_key_and_its_models_are_free(
    tmp_path: Path, store: Store, httpx_mock: HTTPXMock
) -> None:
    settings = settings_for(tmp_path, OLLAMA_HOST="127.0.0.1")
    httpx_mock.add_response(url=LOCAL_TAGS, json={"models": [{"name": "llama3.2:latest"}]})
    (local,) = load(settings, store).entries
    assert (local.spec, local.keys, local.info.free) == ("local:llama3.2:latest", ("local",), True)
    assert "authorization" not in httpx_mock.get_request().headers  # type: ignore[union-attr]


def test_only_the_providers_asked_for(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=OLL_TAGS, json=OLL_DOC)
    result = load(both, store, providers={"ollama"})
    assert result.fetched == ("ollama",) and {e.info.provider for e in result.entries} == {"ollama"}


# --- failures -----------------------------------------------------------------------------------------


def test_a_failed_refresh_keeps_the_old_catalogue_and_says_so(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    load(both, store)
    serve_openrouter(httpx_mock, status_code=500, json={"error": {"code": 500, "message": "Internal"}})
    httpx_mock.add_response(url=OLL_TAGS, json=OLL_DOC)
    result = load(both, store, now=NOW + 10, refresh=True)
    assert result.stale == ("openrouter",) and result.errors == {"openrouter": "HTTP 500: Internal"}
    assert result.fetched == ("ollama",) and result.fetched_at["openrouter"] == NOW
    assert len([e for e in result.entries if e.info.provider == "openrouter"]) == 4
    assert store.catalogs(["openrouter"])["openrouter"].fetched_at == NOW


def test_a_failed_first_fetch_has_nothing_to_show(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    for url in (OR_MODELS, OR_KEY):
        refused = httpx.ConnectError("[Errno 111] Connection refused")
        httpx_mock.add_exception(refused, url=url, is_reusable=True)
    httpx_mock.add_response(url=OLL_TAGS, json=OLL_DOC)
    result = load(both, store)
    assert result.stale == () and result.errors["openrouter"] == "https://openrouter.ai refused the connection"
    assert {e.info.provider for e in result.entries} == {"ollama"} and "openrouter" not in store.catalogs()


# --- retirements and expiry ---------------------------------------------------------------------------


def test_the_retirements_table_follows_the_reference() -> None:
    """reference/providers-next.md §8 (June-September 2026), with providers.md §2.2 where §8 is silent."""
    by_date: dict[str, set[str]] = {}
    for (provider, model), (_, date) in RETIRED.items():
        by_date.setdefault(date, set()).add(f"{provider}:{model}")
    assert by_date == {
        "2026-06-16": {
            "ollama:kimi-k2:1t", "ollama:kimi-k2-thinking", "ollama:glm-4.6", "ollama:qwen3-next:80b",
            "ollama:cogito-2.1:671b", "ollama:minimax-m2", "ollama:qwen3-vl:*",
        },
        "2026-06-30": {"ollama:rnj-1:8b"},
        "2026-07-15": {
            "ollama:deepseek-v3.1:671b", "ollama:devstral-2:123b", "ollama:ministral-3:14b", "ollama:gemma3:27b",
            "ollama:glm-4.7", "ollama:qwen3-coder:480b",
        },
        "2026-07-31": {"ollama:kimi-k2.5", "ollama:minimax-m2.5"},
        "2026-09-07": {"openrouter:moonshotai/kimi-k2.5"},
        "2026-09-25": {"ollama:qwen3.5:397b", "ollama:glm-5.1", "ollama:deepseek-v4-flash:0731"},
    }  # fmt: skip
    successors = {f"{p}:{m}": s for (p, m), (s, _) in RETIRED.items() if s}
    assert successors == {
        "ollama:kimi-k2.5": "kimi-k2.6",
        "ollama:minimax-m2.5": "minimax-m2.7",
        "ollama:qwen3.5:397b": "glm-5.3",
        "openrouter:moonshotai/kimi-k2.5": "moonshotai/kimi-k2.6",
    }
    assert not any((p, s) in RETIRED for (p, _), (s, _) in RETIRED.items() if s), "no successor is retired itself"


@pytest.mark.parametrize(("today", "retired"), [("2026-07-30", False), ("2026-07-31", True), ("2026-11-21", True)])
def test_a_model_past_its_retirement_date_is_retired_with_its_successor(
    both: Settings, store: Store, httpx_mock: HTTPXMock, today: str, retired: bool
) -> None:
    serve_both(httpx_mock)
    now = datetime.fromisoformat(today).replace(hour=12, tzinfo=UTC).timestamp()
    kimi = next(e for e in load(both, store, now=now).entries if e.spec == "ollama:kimi-k2.5")
    assert (kimi.retired, kimi.successor, kimi.info.expires) == (retired, "kimi-k2.6", "2026-07-31")


def test_an_openrouter_model_past_its_expiration_date_is_retired(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    serve_both(httpx_mock)
    retired = {e.spec for e in load(both, store).entries if e.retired}
    assert retired == {"openrouter:old/promo:free", "ollama:kimi-k2.5"}


# --- the one rule for models that exist ---------------------------------------------------------------

KIMI_OLD = (Target("ollama", "kimi-k2.5"), Target("openrouter", "moonshotai/kimi-k2.5"))


def test_current_targets_replace_retired_kimi_on_both_wires_with_notices(store: Store) -> None:
    assert current_targets(KIMI_OLD, store, NOW) == (
        (Target("ollama", "kimi-k2.6"), Target("openrouter", "moonshotai/kimi-k2.6")),
        (
            "ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6",
            "openrouter:moonshotai/kimi-k2.5 was retired on 2026-09-07; using openrouter:moonshotai/kimi-k2.6",
        ),
    )
    assert current_targets(KIMI_OLD, None, NOW)[0] == current_targets(KIMI_OLD, store, NOW)[0], "no store: the table"


def test_an_openrouter_row_past_its_expiry_is_dropped_and_a_future_one_kept_with_a_notice(store: Store) -> None:
    store.replace_catalog(
        "openrouter",
        [
            ModelInfo("openrouter", "old/promo:free", expires="2026-10-01"),
            ModelInfo("openrouter", "acme/soon-gone", expires="2026-12-15T00:00:00Z"),
            ModelInfo("openrouter", "openai/gpt-4o-mini"),
        ],
        NOW,
    )
    wanted = [Target("openrouter", m) for m in ("old/promo:free", "acme/soon-gone", "openai/gpt-4o-mini")]
    assert current_targets(wanted, store, NOW) == (
        (Target("openrouter", "acme/soon-gone"), Target("openrouter", "openai/gpt-4o-mini")),
        (
            "openrouter:old/promo:free was retired on 2026-10-01 and has no successor; skipping it",
            "openrouter:acme/soon-gone expires on 2026-12-15",
        ),
    )


def test_the_cached_catalogue_wins_over_the_built_in_table(store: Store) -> None:
    store.replace_catalog(
        "openrouter",
        [
            ModelInfo("openrouter", "moonshotai/kimi-k2.5", expires="2026-12-31"),  # removal postponed
            ModelInfo("openrouter", "acme/old", expires="2026-11-01", successor="acme/new"),
        ],
        NOW,
    )
    targets = (Target("openrouter", "moonshotai/kimi-k2.5"), Target("openrouter", "acme/old"))
    assert current_targets(targets, store, NOW) == (
        (Target("openrouter", "moonshotai/kimi-k2.5"), Target("openrouter", "acme/new")),
        (
            "openrouter:moonshotai/kimi-k2.5 expires on 2026-12-31; its successor is openrouter:moonshotai/kimi-k2.6",
            "openrouter:acme/old was retired on 2026-11-01; using openrouter:acme/new",
        ),
    )


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (
            "2026-07-30",
            ("ollama:kimi-k2.5", "ollama:kimi-k2.5 expires on 2026-07-31; its successor is ollama:kimi-k2.6"),
        ),
        ("2026-07-31", ("ollama:kimi-k2.6", "ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6")),
    ],
)
def test_the_date_decides_between_keeping_with_a_warning_and_replacing(today: str, expected: tuple[str, str]) -> None:
    target, notice = current_target(Target("ollama", "kimi-k2.5"), RETIRED, today)
    assert (str(target), notice) == expected


def test_a_model_with_no_known_end_or_no_usable_date_is_kept_silently() -> None:
    known = {("openrouter", "a/undated"): ("a/next", ""), ("openrouter", "a/garbled"): (None, "soon")}
    for model in ("gpt-oss:120b", "a/undated", "a/garbled"):
        target = Target("openrouter" if "/" in model else "ollama", model)
        assert current_target(target, known, "2026-11-21") == (target, None)
    assert current_target(Target("local", "kimi-k2.5"), RETIRED, "2026-11-21")[1] is None, "a local model is yours"


def test_replacements_that_meet_are_kept_once_in_order_with_one_notice_each() -> None:
    targets = (Target("ollama", "kimi-k2.5"), Target("ollama", "kimi-k2.6"), Target("local", "kimi-k2.5"))
    kept, notices = current_targets(targets, None, NOW)
    assert kept == (Target("ollama", "kimi-k2.6"), Target("local", "kimi-k2.5"))
    assert notices == ("ollama:kimi-k2.5 was retired on 2026-07-31; using ollama:kimi-k2.6",)


def test_a_family_and_a_local_daemons_cloud_names_follow_the_table() -> None:
    targets = [
        Target("ollama", "qwen3-vl:235b"),
        Target("local", "kimi-k2.5:cloud"),
        Target("local", "qwen3.5:397b-cloud"),
        Target("local", "qwen3-coder:480b-cloud"),
        Target("local", "gpt-oss:120b-cloud"),
    ]
    kept, notices = current_targets(targets, None, NOW)
    assert kept == (Target("local", "kimi-k2.6:cloud"), Target("local", "glm-5.3:cloud"), targets[-1])
    assert [n.split(" was ")[0] for n in notices] == [str(t) for t in targets[:4]]


def test_a_chain_of_successors_is_followed_and_a_loop_or_a_dead_end_drops_the_target() -> None:
    chain = {("ollama", "a"): ("b", "2026-01-01"), ("ollama", "b"): ("c", "2026-02-01")}
    assert current_target(Target("ollama", "a"), chain, "2026-11-21") == (
        Target("ollama", "c"),
        "ollama:a was retired on 2026-01-01; using ollama:c",
    )
    loop = {("ollama", "a"): ("b", "2026-01-01"), ("ollama", "b"): ("a", "2026-01-01")}
    dead = {("ollama", "a"): ("b", "2026-01-01"), ("ollama", "b"): (None, "2026-01-01")}
    for known in (loop, dead):
        assert current_target(Target("ollama", "a"), known, "2026-11-21") == (
            None,
            "ollama:a was retired on 2026-01-01 and its successor ollama:b is gone too; skipping it",
        )


class _CountingStore:
    """A store that counts its catalogue reads and refuses to load whole catalogues."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads: list[tuple[str, str]] = []

    def catalog_model(self, provider: str, model: str) -> ModelInfo | None:
        self.reads.append((provider, model))
        return self.store.catalog_model(provider, model)

    def catalogs(self, providers: object = None) -> None:
        raise AssertionError("the rule must not load a whole catalogue")


def test_the_rule_costs_one_primary_key_read_per_model_looked_at(store: Store) -> None:
    rows = [ModelInfo("openrouter", f"acme/model-{i}", expires="2026-01-01") for i in range(3000)]
    store.replace_catalog("openrouter", [*rows, ModelInfo("openrouter", "moonshotai/kimi-k2.6")], NOW)
    spy = _CountingStore(store)
    kept, _ = current_targets((*KIMI_OLD, Target("openrouter", "acme/model-7"), *KIMI_OLD), spy, NOW)  # type: ignore[arg-type]
    assert kept == (Target("ollama", "kimi-k2.6"), Target("openrouter", "moonshotai/kimi-k2.6"))
    assert sorted(spy.reads) == sorted(
        {*((t.provider, t.model) for t in KIMI_OLD), ("ollama", "kimi-k2.6"), ("openrouter", "moonshotai/kimi-k2.6"),
         ("openrouter", "acme/model-7")}
    ), "each model read once, by primary key"  # fmt: skip


def test_models_and_the_rule_agree_on_every_cached_entry(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    serve_both(httpx_mock)
    entries = load(both, store).entries
    assert {e.spec: (e.retired, e.successor) for e in entries if e.retired} == {
        "ollama:kimi-k2.5": (True, "kimi-k2.6"),
        "openrouter:old/promo:free": (True, None),
    }
    for entry in entries:
        target = Target(entry.info.provider, entry.info.model)
        kept = current_targets([target], store, NOW)[0]
        assert entry.retired == (kept != (target,)), entry.spec
        if entry.retired:
            assert entry.successor == (kept[0].model if kept else None), entry.spec


# --- prices for costing a call ------------------------------------------------------------------------


def test_price_of_reads_the_cache_only(both: Settings, store: Store, httpx_mock: HTTPXMock) -> None:
    assert price_of(store, "openrouter", "openai/gpt-4o-mini") is None
    serve_both(httpx_mock)
    load(both, store)
    assert price_of(store, "openrouter", "openai/gpt-4o-mini") == (0.15, 0.6)
    assert price_of(store, "openrouter", "meta-llama/llama-3.3-70b-instruct:free") == (0.0, 0.0)
    assert price_of(store, "openrouter", "openrouter/auto") is None, "variable price"
    assert price_of(store, "openrouter", "nobody/knows") is None
    assert price_of(store, "ollama", "gpt-oss:120b") is None, "Ollama Cloud publishes no prices"


def test_a_local_model_costs_nothing(store: Store) -> None:
    store.replace_catalog("local", [ModelInfo("local", "llama3.2", free=True)], NOW)
    assert price_of(store, "local", "llama3.2") == (0.0, 0.0)


# --- filters and sorts --------------------------------------------------------------------------------

CHEAP = entry("a/cheap", name="Cheap Model", prompt_price=0.1, completion_price=0.4, context_length=8000)
DEAR = entry("b/dear", name="Dear", prompt_price=3.0, completion_price=15.0, context_length=200000)
FREE = entry("c/gratis:free", name="Free One", prompt_price=0.0, completion_price=0.0, free=True)
AUTO = entry("openrouter/auto", name="Auto Router", variable_price=True, context_length=2000000)
CLOUD = entry("gpt-oss:120b", provider="ollama")
LOCAL = entry("llama3.2", provider="local", free=True, context_length=4096)
ALL = [DEAR, CLOUD, AUTO, FREE, LOCAL, CHEAP]


def models(entries: list[CatalogEntry]) -> list[str]:
    return [e.info.model for e in entries]


def test_default_sort_is_provider_then_id() -> None:
    assert models(filter_and_sort(ALL)) == [
        "llama3.2",
        "gpt-oss:120b",
        "a/cheap",
        "b/dear",
        "c/gratis:free",
        AUTO.info.model,
    ]


def test_price_sort_puts_unknown_and_variable_prices_last() -> None:
    assert models(filter_and_sort(ALL, sort="price")) == [
        "llama3.2", "c/gratis:free", "a/cheap", "b/dear", "gpt-oss:120b", "openrouter/auto",
    ]  # fmt: skip


def test_context_sort_is_largest_first_unknown_last() -> None:
    assert models(filter_and_sort(ALL, sort="context")) == [
        "openrouter/auto", "b/dear", "a/cheap", "llama3.2", "gpt-oss:120b", "c/gratis:free",
    ]  # fmt: skip


def test_search_is_case_insensitive_on_id_and_name() -> None:
    assert models(filter_and_sort(ALL, search="CHEAP")) == ["a/cheap"]
    assert models(filter_and_sort(ALL, search="router")) == ["openrouter/auto"]
    assert models(filter_and_sort(ALL, search="free one")) == ["c/gratis:free"]


def test_free_and_provider_filters() -> None:
    assert models(filter_and_sort(ALL, free=True)) == ["llama3.2", "c/gratis:free"]
    assert models(filter_and_sort(ALL, provider="ollama")) == ["gpt-oss:120b"]


def test_max_price_needs_both_prices_known_and_within() -> None:
    assert models(filter_and_sort(ALL, max_price=0.5)) == ["llama3.2", "a/cheap", "c/gratis:free"]
    assert models(filter_and_sort(ALL, max_price=0.3)) == ["llama3.2", "c/gratis:free"]
    assert models(filter_and_sort(ALL, max_price=100)) == ["llama3.2", "a/cheap", "b/dear", "c/gratis:free"]


def test_an_unknown_sort_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="price"):
        filter_and_sort(ALL, sort="popularity")


# --- the completion reader ----------------------------------------------------------------------------


def test_cached_specs_never_create_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "state.db"
    assert cached_model_specs(path) == []
    assert not path.exists() and not path.parent.exists()


def test_cached_specs_list_every_cached_model(tmp_path: Path, store: Store) -> None:
    store.replace_catalog("openrouter", [ModelInfo("openrouter", "b/two"), ModelInfo("openrouter", "a/one")], NOW)
    store.replace_catalog("local", [ModelInfo("local", "llama3.2")], NOW)
    assert cached_model_specs(tmp_path / "state.db") == ["local:llama3.2", "openrouter:a/one", "openrouter:b/two"]


def test_cached_specs_of_a_file_without_a_catalogue_or_not_a_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    assert cached_model_specs(empty) == [] and cached_model_specs(garbage) == []
    assert garbage.read_bytes() == b"not a database at all" * 100


def test_cached_specs_work_with_an_odd_path(tmp_path: Path) -> None:
    home = tmp_path / "a dir?#%"
    home.mkdir()
    store = Store.open(home / "state.db")
    store.replace_catalog("ollama", [ModelInfo("ollama", "gpt-oss:120b")], NOW)
    store.close()
    assert cached_model_specs(home / "state.db") == ["ollama:gpt-oss:120b"]


def test_a_catalogue_fetch_records_the_free_model_cap_each_key_reports(
    both: Settings, store: Store, httpx_mock: HTTPXMock
) -> None:
    report = {"data": {"label": "k", "free_model_daily_requests": {"used": 3, "limit": 1000, "remaining": 997}}}
    httpx_mock.add_response(url=OR_KEY, match_headers={"Authorization": f"Bearer {OR_SECRETS[0]}"}, json=report)
    httpx_mock.add_response(
        url=OR_KEY,
        match_headers={"Authorization": f"Bearer {OR_SECRETS[1]}"},
        status_code=401,
        json={"error": {"code": 401, "message": "User not found."}},
    )
    serve_both(httpx_mock)
    load(both, store)
    first, second = (k.fingerprint for k in both.provider("openrouter").keys)  # type: ignore[union-attr]
    assert store.free_limits([first, second]) == {first: 1000}, "a key that could not report keeps the default"


@pytest.mark.parametrize(
    ("provider", "model", "source"),
    [
        ("openai", "gpt-4o-mini", ("openrouter", "openai/gpt-4o-mini")),
        ("anthropic", "claude-sonnet-4-5", ("openrouter", "anthropic/claude-sonnet-4.5")),
        ("anthropic", "claude-3-5-haiku-20241022", ("openrouter", "anthropic/claude-3.5-haiku")),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", ("openrouter", "anthropic/claude-sonnet-4.5")),
        ("bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", ("openrouter", "anthropic/claude-3.5-haiku")),
        ("gemini", "gemini-2.5-flash", ("openrouter", "google/gemini-2.5-flash")),
        ("bedrock", "meta.llama3-8b-instruct-v1:0", None),
        ("ollama", "gpt-oss:120b", None),
    ],
)
def test_a_provider_that_publishes_no_prices_is_priced_from_openrouters_name_for_the_model(
    provider: str, model: str, source: tuple[str, str] | None
) -> None:
    assert price_source(provider, model) == source


def test_a_cloudflare_model_with_known_neuron_rates_is_priced_from_them(store: Store) -> None:
    prompt, completion = estimated_price(store, "cloudflare", "@cf/meta/llama-3.1-8b-instruct")  # type: ignore[misc]
    assert (prompt, completion) == pytest.approx((25_608 * 0.011 / 1000, 75_147 * 0.011 / 1000))
    assert estimated_price(store, "cloudflare", "@cf/unknown/model") is None
