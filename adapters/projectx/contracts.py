"""ProjectX contract ids (``CON.F.US.MES.H25``) to and from copytui symbols.

A contract id is ``CON.F.US.<product>.<month><year>``. The product codes below are the ones
public ProjectX client code uses (unverified against a primary source for every product): a
code copytui does not know is an error naming the field, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from copytui.instruments import INSTRUMENTS

# copytui symbol -> the product code ProjectX uses in contract ids
PRODUCT_CODES: dict[str, str] = {
    "ES": "EP",
    "MES": "MES",
    "NQ": "ENQ",
    "MNQ": "MNQ",
    "YM": "YM",
    "MYM": "MYM",
    "RTY": "RTY",
    "M2K": "M2K",
    "CL": "CLE",
    "MCL": "MCLE",
    "GC": "GCE",
    "MGC": "MGC",
}

# product codes seen in public code for the same products, accepted on the way in
_ALIASES: dict[str, str] = {"ESE": "ES", "NQE": "NQ", "NQ": "NQ", "ES": "ES", "MCL": "MCL", "GC": "GC", "CL": "CL"}

SYMBOL_BY_PRODUCT: dict[str, str] = {code: sym for sym, code in PRODUCT_CODES.items()} | _ALIASES

MONTH_CODES = "FGHJKMNQUVXZ"

_CONTRACT_RE = re.compile(r"^CON\.F\.US\.([A-Z0-9]+)\.([FGHJKMNQUVXZ])(\d{1,2})$")


class ContractError(ValueError):
    """A contract id or symbol that cannot be mapped; the message names the value and the fix."""


@dataclass(frozen=True, slots=True)
class ContractId:
    product: str
    month: str
    year: str

    def __str__(self) -> str:
        return f"CON.F.US.{self.product}.{self.month}{self.year}"


def parse_contract(contract_id: object, field: str = "contractId") -> ContractId:
    if not isinstance(contract_id, str):
        raise ContractError(f"{field}: expected a contract id like CON.F.US.MES.H25, got {contract_id!r}")
    m = _CONTRACT_RE.match(contract_id)
    if m is None:
        raise ContractError(f"{field}: {contract_id!r} is not a ProjectX futures contract id like CON.F.US.MES.H25")
    return ContractId(m.group(1), m.group(2), m.group(3))


def symbol_of(contract_id: object, field: str = "contractId") -> str:
    """The copytui symbol of a contract id, whatever its month."""
    cid = parse_contract(contract_id, field)
    sym = SYMBOL_BY_PRODUCT.get(cid.product)
    if sym is None:
        known = ", ".join(f"{c}={s}" for c, s in sorted(SYMBOL_BY_PRODUCT.items()))
        raise ContractError(
            f"{field}: product {cid.product!r} of {contract_id} is not mapped to a copytui symbol ({known})"
        )
    return sym


def product_code(symbol: str) -> str:
    try:
        return PRODUCT_CODES[symbol]
    except KeyError:
        raise ContractError(
            f"symbol {symbol!r} has no ProjectX product code; known: {', '.join(sorted(PRODUCT_CODES))}"
        ) from None


def contract_for(symbol: str, month: str) -> str:
    """``contract_for("MES", "H25")`` -> ``CON.F.US.MES.H25``."""
    if not re.fullmatch(r"[FGHJKMNQUVXZ]\d{1,2}", month):
        raise ContractError(f"contract month {month!r} must be a month code and year like H25")
    return f"CON.F.US.{product_code(symbol)}.{month}"


def front_quarter(year: int, month: int) -> str:
    """The next quarterly (H M U Z) contract month at or after ``year``/``month``, like ``U25``.

    Only the simulator uses it; the adapter asks the gateway which contract is active.
    """
    for q in (3, 6, 9, 12):
        if month <= q:
            return f"{MONTH_CODES[q - 1]}{year % 100:02d}"
    return f"H{(year + 1) % 100:02d}"


def parse_overrides(text: str) -> dict[str, str]:
    """``"ES=CON.F.US.EP.U25, NQ=CON.F.US.ENQ.U25"`` -> {symbol: contract id}, checked both ways."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,\s]+", text))):
        sym, sep, cid = part.partition("=")
        if not sep or sym not in INSTRUMENTS:
            raise ContractError(
                f"options.contracts: {part!r} must be SYMBOL=CONTRACT_ID with a known symbol, e.g. MES=CON.F.US.MES.H25"
            )
        if symbol_of(cid, "options.contracts") != sym:
            raise ContractError(f"options.contracts: {cid} is not a {sym} contract")
        out[sym] = cid
    return out
