"""Named, ordered schema migrations, applied once each (as Simon Willison's ``llm`` does).

Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

import sqlite3
import time

from llmroute.store.connection import write_transaction

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "m001_attempts",
        """
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            request_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            key_label TEXT NOT NULL,
            key_fingerprint TEXT,
            model TEXT NOT NULL,
            outcome TEXT NOT NULL,
            error_kind TEXT,
            http_status INTEGER,
            message TEXT,
            latency_ms REAL NOT NULL,
            ttft_ms REAL,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost_micros INTEGER
        );
        CREATE INDEX attempts_ts ON attempts (ts);
        CREATE INDEX attempts_key ON attempts (key_fingerprint, ts);
        CREATE INDEX attempts_request ON attempts (request_id);
        """,
    ),
    (
        "m002_key_state",
        """
        CREATE TABLE key_state (
            key_id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            label TEXT NOT NULL,
            cooldown_until REAL,
            disabled INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            error_kind TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        "m003_cursors",
        """
        CREATE TABLE cursors (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        """,
    ),
    (
        "m004_catalog",
        """
        CREATE TABLE catalog (
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (provider, model)
        );
        CREATE TABLE catalog_fetches (
            provider TEXT PRIMARY KEY,
            fetched_at REAL NOT NULL
        );
        """,
    ),
    (
        "m005_key_checks",
        """
        CREATE TABLE key_checks (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            key_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            label TEXT NOT NULL,
            verdict TEXT NOT NULL,
            latency_ms REAL,
            message TEXT
        );
        CREATE INDEX key_checks_key ON key_checks (key_id, ts);
        """,
    ),
    (
        "m006_estimated_cost",
        """
        ALTER TABLE attempts ADD COLUMN cost_estimated INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "m007_admission_and_breakers",
        """
        ALTER TABLE attempts ADD COLUMN reserved_micros INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempts ADD COLUMN free_model INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX attempts_provider ON attempts (provider, ts);
        CREATE INDEX attempts_pending ON attempts (outcome) WHERE outcome = 'pending';
        CREATE TABLE provider_state (
            provider TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'closed',
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            opened_at REAL,
            open_until REAL,
            trial_started_at REAL,
            reason TEXT,
            updated_at REAL NOT NULL
        );
        CREATE TABLE budget_alerts (
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            level INTEGER NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (scope, period, level)
        );
        """,
    ),
    (
        "m008_reservation_expiry",
        """
        ALTER TABLE attempts ADD COLUMN reserved_until REAL;
        """,
    ),
    (
        "m009_scoped_holds",
        """
        CREATE TABLE holds (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            provider TEXT NOT NULL,
            label TEXT NOT NULL,
            endpoint TEXT NOT NULL DEFAULT '',
            cooldown_until REAL,
            disabled INTEGER NOT NULL DEFAULT 0,
            until_refresh INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            error_kind TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (scope, subject, model)
        );
        INSERT INTO holds (scope, subject, model, provider, label, cooldown_until, disabled, reason, error_kind,
                           consecutive_failures, updated_at)
            SELECT 'key', key_id, '', provider, label, cooldown_until, disabled, reason, error_kind,
                   consecutive_failures, updated_at
            FROM key_state;
        DROP TABLE key_state;
        CREATE TABLE key_facts (
            key_id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            free_daily_limit INTEGER,
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        "m010_usage_days",
        """
        CREATE TABLE usage_days (
            day TEXT NOT NULL,
            key_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            key_label TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            ok INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            reported_micros INTEGER NOT NULL DEFAULT 0,
            estimated_micros INTEGER NOT NULL DEFAULT 0,
            unpriced INTEGER NOT NULL DEFAULT 0,
            held_micros INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, day, provider, model)
        );
        CREATE INDEX usage_days_day ON usage_days (day);
        INSERT INTO usage_days
            SELECT date(ts, 'unixepoch'), coalesce(key_fingerprint, 'provider:' || provider), provider, model,
                   max(key_label), count(*), sum(outcome = 'ok'), sum(outcome = 'failed'),
                   coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_in END), 0),
                   coalesce(sum(CASE WHEN outcome != 'pending' THEN tokens_out END), 0),
                   coalesce(sum(CASE WHEN outcome != 'pending' AND NOT cost_estimated THEN cost_micros END), 0),
                   coalesce(sum(CASE WHEN outcome != 'pending' AND cost_estimated THEN cost_micros END), 0),
                   sum(outcome = 'ok' AND cost_micros IS NULL),
                   coalesce(sum(CASE WHEN outcome = 'ok' AND cost_micros IS NULL THEN reserved_micros END), 0)
            FROM attempts GROUP BY 1, 2, 3, 4;
        CREATE INDEX attempts_key_id ON attempts (coalesce(key_fingerprint, 'provider:' || provider), ts);
        DROP INDEX attempts_key;
        DROP INDEX attempts_request;
        CREATE TABLE maintenance (
            task TEXT PRIMARY KEY,
            done_at REAL NOT NULL,
            note TEXT
        );
        """,
    ),
    (
        "m011_logs",
        """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            model TEXT NOT NULL,
            name TEXT NOT NULL
        );
        CREATE TABLE responses (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL REFERENCES conversations (id),
            ts REAL NOT NULL,
            model_asked TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            key_label TEXT NOT NULL,
            system TEXT,
            prompt TEXT NOT NULL,
            answer TEXT NOT NULL,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost_micros INTEGER,
            cost_estimated INTEGER NOT NULL DEFAULT 0,
            finish_reason TEXT,
            latency_ms REAL NOT NULL
        );
        CREATE INDEX responses_conversation ON responses (conversation_id, id);
        CREATE TABLE log_switch (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            enabled INTEGER NOT NULL,
            changed_at REAL NOT NULL
        );
        """,
    ),
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply whatever is missing; safe when several processes start at once."""
    if _pending(conn):
        with write_transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            for name, sql in _pending(conn):
                for statement in filter(str.strip, sql.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))


def _pending(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone()
    applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if exists else set()
    return [(name, sql) for name, sql in MIGRATIONS if name not in applied]
