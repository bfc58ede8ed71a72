"""The rate book: mid rates from several sources in priority order, never from a stale set.

Each source has a current `RateSet` (installed by whoever fetches it) and a publication
calendar saying how long a set stays current. A mid rate comes from the first source whose set
is current at `now` and has both currencies; when none has, `RateUnavailable` says why for each
source, so an old price is never used silently.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ._calendar import PublicationCalendar
from ._currency import Currency, coerce_currency
from ._exceptions import RateUnavailable
from ._rates import MidRate, RateSet, require_aware

__all__ = ["RateBook", "SourceState"]


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the book holds for one source at `now` (for `/readyz`, `/metrics` and the CLI)."""

    source: str
    rate_set: RateSet | None
    current_until: datetime | None
    """None: no set yet, or a calendar that never lets the set go stale."""
    fresh: bool

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since publication (for display only: never used for money)."""
        if self.rate_set is None:
            return None
        return (now - self.rate_set.published_at).total_seconds()


class RateBook:
    """Usage::

        book = RateBook([("ecb", EcbCalendar()), ("pegs", None)])
        book.install(parse_ecb_xml(body))
        book.mid_rate(get_currency("THB"), get_currency("CNY"), now)

    `sources` are (name, calendar) in priority order; a None calendar never goes stale (a
    static table the operator keeps up to date). A source not listed cannot be installed.
    """

    def __init__(self, sources: Iterable[tuple[str, PublicationCalendar | None]]) -> None:
        self._calendars: dict[str, PublicationCalendar | None] = {}
        for name, calendar in sources:
            if name in self._calendars:
                raise ValueError(f"source {name!r} is listed twice")
            if calendar is not None and not isinstance(calendar, PublicationCalendar):
                raise TypeError(f"{name}: not a publication calendar: {calendar!r}")
            self._calendars[name] = calendar
        if not self._calendars:
            raise ValueError("a rate book needs at least one source")
        self._sets: dict[str, RateSet] = {}
        self._until: dict[str, datetime] = {}
        """Each held set's `current_until`, computed once at install, not at every quote."""

    @property
    def sources(self) -> Sequence[str]:
        return tuple(self._calendars)

    def install(self, rate_set: RateSet) -> bool:
        """Make `rate_set` its source's current set unless the one held was published later,
        or is the same set (a feed answering with an older publication never turns the book
        back; one published at the same instant with other rates is a correction)."""
        if rate_set.source not in self._calendars:
            raise ValueError(f"no source {rate_set.source!r} in this book")
        held = self._sets.get(rate_set.source)
        if held is not None and (
            held.published_at > rate_set.published_at or held.id == rate_set.id
        ):
            return False
        self._sets[rate_set.source] = rate_set
        calendar = self._calendars[rate_set.source]
        if calendar is None:
            self._until.pop(rate_set.source, None)
        else:
            self._until[rate_set.source] = calendar.current_until(rate_set.published_at)
        return True

    def current(self, source: str) -> RateSet | None:
        return self._sets.get(source)

    def state(self, source: str, now: datetime) -> SourceState:
        require_aware(now, "now")
        if source not in self._calendars:
            raise KeyError(source)
        rate_set = self._sets.get(source)
        if rate_set is None:
            return SourceState(source, None, None, fresh=False)
        until = self._until.get(source)
        return SourceState(source, rate_set, until, fresh=until is None or now <= until)

    def states(self, now: datetime) -> list[SourceState]:
        return [self.state(source, now) for source in self._calendars]

    def mid_rate(self, base: Currency | str, quote: Currency | str, now: datetime) -> MidRate:
        """From the first source that is fresh and has both currencies."""
        base_cur, quote_cur = coerce_currency(base), coerce_currency(quote)
        reasons: list[str] = []
        for source in self._calendars:  # one at a time: the first usable one ends the search
            state = self.state(source, now)
            rate_set = state.rate_set
            if rate_set is None:
                reasons.append(f"{state.source}: no rates fetched yet")
            elif not state.fresh:
                assert state.current_until is not None
                reasons.append(
                    f"{state.source}: rates published {rate_set.published_at.isoformat()} "
                    f"went stale at {state.current_until.isoformat()}"
                )
            elif not (rate_set.has(base_cur) and rate_set.has(quote_cur)):
                missing = [c.code for c in (base_cur, quote_cur) if not rate_set.has(c)]
                reasons.append(f"{state.source}: no rate for {', '.join(missing)}")
            else:
                return rate_set.mid_rate(base_cur, quote_cur)
        raise RateUnavailable(
            f"no fresh rate for {base_cur.code}->{quote_cur.code}: {'; '.join(reasons)}"
        )

    def __repr__(self) -> str:
        held = {s: (r.id if (r := self._sets.get(s)) else None) for s in self._calendars}
        return f"RateBook({held!r})"
