"""How an amount of money reads to a person: the one formatter every message, table and log line uses.

The rule: exact to the micro-dollar the ledger keeps, never rounded to a cent.

- zero is ``$0``;
- whole cents keep two decimals: ``$1.23``, ``$1,234.50``, ``$0.01``;
- anything finer shows its significant digits, at most six decimals: ``$0.000126``, ``$0.0014``, ``$0.016815``;
- an amount wholly or partly estimated from prices (not reported by the provider) is prefixed ``~``:
  ``~$0.0014``;
- a non-zero amount under a micro-dollar (only a provider's float can hold one) is ``<$0.000001``.

Machine output (``--json``, ``--csv``) keeps exact decimal strings instead (``reports.usd``).
"""

from __future__ import annotations

MICROS_PER_USD = 1_000_000


def to_micros(amount: float) -> int:
    """US dollars as integer micro-dollars, rounded to the nearest."""
    return round(amount * MICROS_PER_USD)


def dollars(micros: int, *, estimated: bool = False) -> str:
    """An amount in micro-dollars for a person: ``$0``, ``$1,234.50``, ``$0.000126``, ``~$0.0014``."""
    sign = "-" if micros < 0 else ""
    whole, part = divmod(abs(micros), MICROS_PER_USD)
    if whole == 0 and part == 0:
        text = "$0"
    else:
        decimals = f"{part:06d}".rstrip("0").ljust(2, "0")
        text = f"${whole:,}.{decimals}"
    return ("~" if estimated else "") + sign + text


def usd(amount: float, *, estimated: bool = False) -> str:
    """An amount in US dollars (a float, e.g. a configured budget or a provider's figure), by the same rule."""
    micros = to_micros(amount)
    if micros == 0 and amount != 0:
        return ("~" if estimated else "") + ("-" if amount < 0 else "") + "<$0.000001"
    return dollars(micros, estimated=estimated)


def unpriced(calls: int) -> str:
    """What follows an amount that leaves out calls nobody knows the price of: `` (+2 unpriced)``, else ``""``."""
    return f" (+{calls:,} unpriced)" if calls else ""
