"""Type conversion (``types``) and text tidying (``text``) steps.

``types`` looks at each text column while fitting and learns what it really holds: numbers (also written with
thousands separators, currency symbols, percent signs or full-width digits; a column that writes its decimal mark as
a comma, 1.234,56, reads 1.500 as 1500), booleans (true/false, yes/no, 1/0, 是/否, …), dates or datetimes (explicit
formats or one inferred from a list of common ones; full-width digits too), or plain text. Tokens
that mean "missing" (``NA``, ``null``, ``-``, ``?``, empty, …) become nulls first. A column converts when at least
``min_share`` of its non-missing values parse; values that still do not parse become null and are counted in the
state (``state_["unparsed"]``), so nothing is lost silently. ``text`` trims, Unicode-normalises and case-folds text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from assay.clean._base import Frame, Step, resolve_columns, string_columns
from assay.clean._stats import check_choice, merge_counts, union
from assay.exceptions import SpecError, did_you_mean

__all__ = ["DEFAULT_MISSING_TOKENS", "TextStep", "TypesStep"]

log = logging.getLogger(__name__)

DEFAULT_MISSING_TOKENS: tuple[str, ...] = ("", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "Null", "None",
                                           "none", "-", "--", "?", "#N/A", "NIL", "nil")
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "是", "真", "对")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "否", "假", "错")
# Month names (05-Jan-2024, January 5, 2024, 5 January 2024) read in English, abbreviated or in full.
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y",
                "%d-%b-%Y", "%B %d, %Y", "%B %d %Y", "%d %B %Y", "%Y-%m", "%Y/%m", "%Y年%m月", "%B %Y")
# Year and month only (2024-01, 2024/7, 2024年3月, Jan 2024, March-2024): the date is the 1st of the month.
_YEAR_MONTH = {"%Y-%m": r"^(\d{4})-(\d{1,2})$", "%Y/%m": r"^(\d{4})/(\d{1,2})$",
               "%Y年%m月": r"^(\d{4})\s*年\s*(\d{1,2})\s*月$", "%B %Y": r"^([A-Za-z]{3,9})\.?[\s\-]+(\d{4})$"}
# ISO 8601's 'T' between date and time reads as the space of these formats (``parse_temporal``).
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                    "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z",
                    "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
                    # 12-hour clock (10:00 PM) as US exports write it: the date month first
                    "%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p",
                    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M")
# How a value must start for each date or datetime format to read it (parse_temporal's strptime): a necessary
# condition, kept loose (any number of digits, any case, optional sign), so that the types step parses with a format
# only the values that may read (a column of ids or numbers matches none; 20+ parses of every value took ~10 s per
# million distinct values). A format not listed (one a user gives) parses every value.
_YMD_DASH, _SLASHES, _DOTS = r"^[+-]?\d+-\d+-\d", r"^[+-]?\d+/\d+/\d", r"^[+-]?\d+\.\d+\.\d"
_DATE_SHAPES = {
    "%Y-%m-%d": _YMD_DASH, "%d-%m-%Y": _YMD_DASH, "%Y/%m/%d": _SLASHES, "%d/%m/%Y": _SLASHES, "%m/%d/%Y": _SLASHES,
    "%Y.%m.%d": _DOTS, "%d.%m.%Y": _DOTS, "%Y年%m月%d日": r"^[+-]?\d+\s*年", "%d-%b-%Y": r"^[+-]?\d+-[A-Za-z]",
    "%B %d, %Y": r"^[A-Za-z]+\s*\d", "%B %d %Y": r"^[A-Za-z]+\s*\d+\s+\d",
    "%d %B %Y": r"^[+-]?\d+\s*[A-Za-z]", "%Y-%m": r"^[+-]?\d+[-/]\d",
    "%Y/%m": r"^[+-]?\d+[-/]\d", "%Y年%m月": r"^[+-]?\d+\s*年",
    "%B %Y": r"^[A-Za-z]{3}",
}


def _datetime_shape(fmt: str) -> str:
    """A datetime format's shape: its date's, then as many colons as its time has, then (for ``%z``) an offset or
    ``Z`` at the end (a column of naive times is not parsed with the four formats that need one)."""
    date = _DATE_SHAPES["%Y年%m月%d日"] if "年" in fmt else _SLASHES if "/" in fmt[:4] else _YMD_DASH
    shape = date + "[^:]*:" * fmt.count(":")
    if "%p" in fmt:  # a 12-hour time ends in AM or PM
        return f"{shape}.*[AaPp][Mm]$"
    return f"{shape}.*(?:[+-]\\d+(?::\\d+)*|[Zz])$" if "%z" in fmt else shape


_DATE_SHAPES.update({fmt: _datetime_shape(fmt) for fmt in DATETIME_FORMATS})
# Between the formats of a column whose dates are written several ways ("2024-01-05" and "2024/01/06").
FORMAT_SEPARATOR = " | "
_STAGED_ROWS = 10_000  # frames larger than this reduce numbers' text stage by stage (TypesStep._transform)
# Date formats that no value reads in both, except the day-first/month-first pair (03/04/2024): a column's hits under
# several of them add up, so a column that mixes them converts when together they read ``min_share`` of it.
_AMBIGUOUS_DATES = ("%d/%m/%Y", "%m/%d/%Y")
# Each format of the day-first/month-first pairs, and its twin.
_DAY_MONTH_TWINS = {"%d/%m/%Y": "%m/%d/%Y", "%m/%d/%Y": "%d/%m/%Y", "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
                    "%m/%d/%Y %H:%M": "%d/%m/%Y %H:%M"}
_UNITS_KEPT = 5  # the commonest units of a column counted (a column of numbers takes one)
# Datetime formats that read some of the same values (the fractional-seconds one reads whole seconds too; the
# day-first/month-first pair): in a column written several ways, only the one of each that reads more counts.
_DATETIME_TWINS = (("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"), ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%z"),
                   ("%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"))
KINDS = ("number", "integer", "boolean", "date", "datetime", "categorical", "text")
# Removed before a number is parsed: spaces, underscores, apostrophes (digit grouping) and currency marks. Prefixed
# dollar signs (US$, HK$, …) come before the bare sign so that their letters go too.
_NUMBER_NOISE = (r"US\$|HK\$|NT\$|AU\$|A\$|C\$|CA\$|NZ\$|S\$|R\$|RMB|CNY|USD|EUR|GBP|JPY|HKD|CHF|CAD|AUD|INR|KRW|元"
                 r"|[\s_'$€£¥₹₩]")
# Where the comma is the decimal mark (the dot, if any, groups thousands): '1.234,56' (comma after the last dot),
# '3,5' or '12,75' or '0,125' (one comma not followed by a group of exactly three digits, or after a lone 0), and
# '1.234.567' (dots grouping thousands). Anything else reads commas as thousands separators ('1,234', '1,234.5').
_DECIMAL_COMMA = (r"^[^,]*\.[^,]*,[^.]*$"
                  r"|^[^,.]*,(\d{1,2}|\d{4,})\D*$"
                  r"|^\D*0,\d+\D*$"
                  r"|^\D*\d{1,3}(\.\d{3}){2,}\D*$")
# Where the dot is the decimal mark: '1,234.5' (a dot after commas), '1,234,567' (commas grouping thousands), '3.5'
# or '0.125' (a dot not followed by a group of exactly three digits, or after a lone 0).
_DECIMAL_DOT = (r"^[^.]*,[^.]*\.[^,]*$"
                r"|^\D*\d{1,3}(,\d{3}){2,}\D*$"
                r"|^[^.,]*\.(\d{1,2}|\d{4,})\D*$"
                r"|^\D*0\.\d+\D*$")
# In a column whose numbers write the decimal mark as a comma (some values show it, as 1.234,56 or 3,5, and none
# shows a decimal dot), one separator before three digits groups thousands when it is a dot (1.500 is 1500) and is
# the decimal mark when it is a comma (1,500 is 1.5); elsewhere they read the other way round.
_DECIMAL_COMMA_COLUMN = _DECIMAL_COMMA + r"|^\D*[1-9]\d{0,2}[.,]\d{3}\D*$"


def _full_width(words: Sequence[str]) -> list[str]:
    """``words`` and their full-width forms (``ＮＡ`` for ``NA``), as East Asian input methods type them: matched
    as written, without normalising every value of every column (NFKC costs more than the rest of the check)."""
    wide = (w.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}) for w in words)
    return list(dict.fromkeys([*words, *wide]))


def _clean_text(col: str, tokens: Sequence[str]) -> pl.Expr:
    s = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(s.is_in(_full_width(tokens))).then(None).otherwise(s) if tokens else s


def _ascii_folded(text: pl.Expr) -> pl.Expr:
    """``text`` with the values holding any non-ASCII character NFKC-normalised (full-width ``２０２４－０３－０１``
    is ``2024-03-01``), the others as they are: the branch runs on those values only, so a column of ASCII text pays
    a length comparison (~5 ms per million values) and not the normalisation (~350 ms per million)."""
    return pl.when(text.str.len_bytes() != text.str.len_chars()).then(text.str.normalize("NFKC")).otherwise(text)


def _folded(text: pl.Expr) -> pl.Expr:
    """First stage of :func:`_number_text`: full-width folded, typographic minus and number noise removed."""
    # U+2212 (the typographic minus of published tables) is not folded by NFKC.
    return _ascii_folded(text).str.replace_all("\u2212", "-", literal=True).str.replace_all(_NUMBER_NOISE, "")


def _decimal_dot(s: pl.Expr, comma: bool = False) -> pl.Expr:
    """Second stage: decimal commas become dots, grouping commas (or dots) go; ``comma`` for a column whose
    decimal mark is the comma (:data:`_DECIMAL_COMMA_COLUMN`)."""
    return (pl.when(s.str.contains(_DECIMAL_COMMA_COLUMN if comma else _DECIMAL_COMMA))
            .then(s.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
            .otherwise(s.str.replace_all(",", "", literal=True)))


def _accounting_minus(s: pl.Expr) -> pl.Expr:
    """Third stage: '(5)' is '-5'."""
    negative = s.str.starts_with("(") & s.str.ends_with(")")
    return pl.when(negative).then(pl.lit("-") + s.str.strip_chars("()")).otherwise(s)


_NUMBER_STAGES = (_folded, _decimal_dot, _accounting_minus)


def _number_text(text: pl.Expr, comma: bool = False) -> pl.Expr:
    """Text reduced to what a float parser reads: '-1234.5', '0.5%'; decimal commas become dots.

    As one expression each stage repeats the one before once per use of it (Polars evaluates both branches of a
    ``pl.when`` and does not share the text between them): the folding runs about a dozen times per value. Where
    the cost matters (the types step), :func:`_reduced_number_stages` computes the stages one after the other.
    """
    for stage in _NUMBER_STAGES:
        text = _decimal_dot(text, comma) if stage is _decimal_dot else stage(text)
    return text


def _reduced_number_stages(text: pl.Expr, name: str, comma: bool = False) -> list[pl.Expr]:
    """:func:`_number_text` of ``text`` as expressions for successive ``with_columns`` calls, each writing
    ``name`` from the one before: every stage runs once per value (4-5 times faster on columns of distinct values
    than the single expression)."""
    return [(_decimal_dot(pl.col(name), comma) if stage is _decimal_dot else stage(text if i == 0 else pl.col(name)))
            .alias(name) for i, stage in enumerate(_NUMBER_STAGES)]


def _number_value(text: pl.Expr, reduced: pl.Expr) -> pl.Expr:
    """The number of ``text`` from its :func:`_number_text` ``reduced``: percent and scale words applied."""
    # The percent sign and the scale word are read off the text as written.
    end = text.str.extract(f"(%|％|{_SCALE_WORDS})\\s*$")  # (the full-width ％ as written; NFKC folds it later)
    factor = end.replace_strict({"%": 0.01, "％": 0.01, **_SCALES}, default=1.0,
                                return_dtype=pl.Float64).fill_null(1.0)
    return _number_float(reduced) * factor


def _number_float(reduced: pl.Expr) -> pl.Expr:
    return reduced.str.replace(f"(?:%|{_SCALE_WORDS})$", "").cast(pl.Float64, strict=False)


# Written after a number to scale it: Chinese 万 (10⁴), 亿 (10⁸), 千, 百万, and the K, M, bn of money and counts.
_SCALES = {"百万": 1e6, "万": 1e4, "亿": 1e8, "千": 1e3, "K": 1e3, "k": 1e3, "M": 1e6, "bn": 1e9}
_SCALE_WORDS = "|".join(_SCALES)  # longest first where one ends another (百万 before 万)


def parse_number(text: pl.Expr) -> pl.Expr:
    """Text to Float64: NFKC folds full-width digits/signs; '(5)' is -5; '12%' is 0.12; '1.234,5' is 1234.5 (decimal
    comma); '1.2万' is 12000 and '$1.5K' 1500; other junk gives null."""
    return _number_value(text, _number_text(text))


# A number followed by a unit (12kg, 3.5 kg, 7 天, 30 km/h): the unit is a few non-digit characters that are neither
# a sign, a separator nor a currency mark; values that parse_number reads whole (12%, ¥5, 1.2万) have no unit.
_UNIT = r"^[-+]?\d[\d,]*(?:\.\d+)?\s*([^\d\s.,:;+\-()%$€£¥₹₩][^\d]{0,7})$"


# Words after a number that parse_number reads itself (currencies, scales): not units.
_NOT_UNITS = ["元", "RMB", "CNY", "USD", "EUR", "GBP", "JPY", "HKD", "CHF", "CAD", "AUD", "INR", "KRW", *_SCALES]


def _unit_of(text: pl.Expr) -> pl.Expr:
    """The unit written after a number (``'kg'`` of ``'12kg'``), or null. One regex pass (no number parse: it runs
    on every value of every text column the types step looks at); the regex's ``\\d`` reads full-width digits too."""
    unit = text.str.extract(_UNIT).str.strip_chars()
    # Case does not tell units apart in practice ('kg', 'KG', 'Kg'): one unit, in lower case.
    return pl.when(~unit.is_in(_NOT_UNITS)).then(unit.str.to_lowercase())


_INTEGER_TEXT = r"^[+-]?\d{1,18}$"  # of the reduced text
# A code written with leading zeros (zip 02134, 007, 00501): digits only, a 0 first and at least three of them.
# A number would drop the zeros, so a column holding such values stays text (01-12 month numbers do convert).
_ZERO_CODE = r"^0\d{2,}$"
# Digits parted by spaces (or apostrophes) are thousands groups only three by three (1 234 567,5); otherwise
# they are phone numbers, card numbers or ids (+1 555 0100), which read as one long number would be nonsense.
_SPACED_DIGITS = r"\d[\s']+\d"
_GROUPED_BY_THREE = r"^\D*\d{1,3}(?:[\s']\d{3})+(?:[.,]\d+)?\D*$"
# Likewise digits parted by commas: thousands (1,234,567.5), Indian lakhs (12,34,567), a decimal comma (3,5 and
# 1.234,56); anything else (1,2,3) is a list, not a number.
_COMMA_DIGITS = r"\d,\d"
_COMMA_NUMBER = (r"^\D*(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,2}(?:,\d{2})*,\d{3}(?:\.\d+)?"
                 r"|\d{1,3}(?:[.\s']\d{3})*,\d+|\d+,\d+)\D*$")


def _has_time(fmt: str | None) -> bool:
    return fmt is not None and any(d in fmt for d in ("%H", "%I", "%M", "%S", "%T", "%R", "%z", "%.f", "%p", "%c",
                                                      "%s"))


def parse_bool(text: pl.Expr) -> pl.Expr:
    low = text.str.to_lowercase()  # (full-width letters too: ＹＥＳ is ｙｅｓ)
    return (pl.when(low.is_in(_full_width(TRUE_WORDS))).then(True)
            .when(low.is_in(_full_width(FALSE_WORDS))).then(False))


def parse_temporal(text: pl.Expr, kind: str, fmt: str, time_zone: str | None = None) -> pl.Expr:
    """Text to Date or Datetime. With ``%z`` in the format a trailing ``Z`` (ISO 8601 for UTC) reads as +00:00 and
    an hour-only offset such as ``+05`` as +05:00. Several formats joined by ``" | "`` (``"%Y-%m-%d | %d.%m.%Y"``)
    are tried in that order; a value takes the first that reads it.

    Naive datetimes given a ``time_zone`` are local times there: one that falls in a daylight-saving gap does not
    exist and becomes null (counted as unparsed by ``types``); one repeated when clocks go back takes the earlier.
    Values written with full-width digits or marks (``２０２４－０３－０１``, ``２０２４年３月１日``) read as their
    ASCII forms.
    """
    return _parse_temporal(_ascii_folded(text), kind, fmt, time_zone)


def _parse_temporal(text: pl.Expr, kind: str, fmt: str, time_zone: str | None) -> pl.Expr:
    """:func:`parse_temporal` of text already folded by :func:`_ascii_folded`."""
    if FORMAT_SEPARATOR in fmt:
        formats = [f.strip() for f in fmt.split(FORMAT_SEPARATOR)]
        parts = [_parse_temporal(text, kind, f, time_zone) for f in formats]
        if kind == "datetime" and time_zone is None and any("%z" in f for f in formats):
            # Times with an offset are UTC, so those without one are taken as UTC too (one column, one type).
            parts = [p if "%z" in f else p.dt.replace_time_zone("UTC") for p, f in zip(parts, formats, strict=True)]
        return pl.coalesce(parts)
    if kind == "date":
        if fmt in _YEAR_MONTH:
            # strptime needs a day: the year and month of a value written so (and only of those) get the 1st.
            pattern = _YEAR_MONTH[fmt]
            if fmt == "%B %Y":  # (%B reads full and abbreviated English names, in any case)
                text = pl.concat_str([pl.lit("1"), text.str.extract(pattern, 1), text.str.extract(pattern, 2)],
                                     separator=" ")
                fmt = "%d %B %Y"
            else:
                text = pl.concat_str([text.str.extract(pattern, 1), text.str.extract(pattern, 2), pl.lit("01")],
                                     separator="-")
                fmt = "%Y-%m-%d"
        out = text.str.strptime(pl.Date, fmt, strict=False)
        # strptime's %Y takes any number of digits: a version 1.2.3 read as %Y.%m.%d was the 3rd of February of
        # the year 1. Years before 1000 are taken as not dates.
        return pl.when(out.dt.year() >= 1000).then(out)
    return _parse_datetime(text, fmt, time_zone)


def _parse_datetime(text: pl.Expr, fmt: str, time_zone: str | None) -> pl.Expr:
    if fmt.startswith(("%Y-%m-%d %H", "%Y-%m-%dT%H")):
        # ISO 8601 puts a 'T' or a space between date and time, and one column may hold both. Only the values
        # holding the other one are rewritten (a regex replacement of every value cost 3 times the parse).
        other = "T" if fmt[8] == " " else " "
        text = (pl.when(text.str.contains(other, literal=True))
                .then(text.str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[T ]", "${1}" + fmt[8])).otherwise(text))
    if "%z" in fmt:
        # ISO's Z and the hour-only offsets PostgreSQL writes ('+00', '+05') become offsets strptime reads.
        text = text.str.replace(r"[Zz]$", "+00:00").str.replace(r"([+-]\d\d)$", "${1}:00")
        out = text.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
        return out if time_zone is None else out.dt.convert_time_zone(time_zone)
    out = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
    if time_zone is not None:
        out = out.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
    return out


def _check_time_zone(step: str, zone: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(zone, sorted(zoneinfo.available_timezones()))
        msg = f"{step}: unknown time zone {zone!r}{hint} (IANA names such as 'Europe/London', 'Asia/Shanghai', 'UTC')"
        raise SpecError(msg) from None


class TypesStep(Step):
    """Convert text columns to numbers, booleans, dates/datetimes or categoricals.

    Parameters
    ----------
    columns:
        Text columns to look at (default: every text column except the target).
    kinds:
        Force a kind per column, e.g. ``{"price": "number", "day": "date"}``; one of ``number``, ``integer``,
        ``boolean``, ``date``, ``datetime``, ``categorical``, ``text``. A forced column converts however few of its
        values parse; the others become missing.
    formats:
        Explicit date/datetime formats per column (``strptime`` syntax), e.g. ``{"day": "%d.%m.%Y"}``; several
        joined by ``" | "`` (``"%Y-%m-%d | %d.%m.%Y"``) are tried in order. Without one, a column whose dates are
        written several unambiguous ways (``2024-01-05`` and ``2024/01/06``) is read with each of them.
    missing_tokens:
        Texts that mean "missing" and become null in every handled text column (compared after trimming spaces;
        full-width forms such as ``ＮＡ`` too).
        A list given replaces this one; ``null`` or ``[]`` treats no text as missing.
    min_share:
        Share of non-missing values (above 0, at most 1) that must parse for a column to convert. The values of a
        converted column that do not parse become missing, and the fit logs how many.
    time_zone:
        IANA time zone (``Asia/Shanghai``, ``UTC``) for datetimes: naive datetimes are taken to be local times
        there (one that a daylight-saving change skips becomes missing), zone-aware ones are converted to it.
    categorical:
        Columns to cast to Polars' Categorical type instead of reading their kind.

    >>> import polars as pl
    >>> df = pl.DataFrame({"price": ["1,200", "$3.5", "NA"], "ok": ["yes", "no", "是"]})
    >>> TypesStep().fit(df).transform(df).to_dict(as_series=False)
    {'price': [1200.0, 3.5, None], 'ok': [True, False, True]}
    """

    name = "types"
    lazy_summary = True

    def __init__(self, columns: list[str] | None = None, *, kinds: dict[str, str] | None = None,
                 formats: dict[str, str] | None = None, missing_tokens: Sequence[str] | None = DEFAULT_MISSING_TOKENS,
                 min_share: float = 0.95, time_zone: str | None = None, categorical: list[str] | None = None) -> None:
        self.columns = columns
        self.kinds = kinds
        self.formats = formats
        self.missing_tokens = missing_tokens
        self.min_share = min_share
        self.time_zone = time_zone
        self.categorical = categorical

    def _tokens(self) -> list[str]:
        return list(self.missing_tokens or ())

    def summarize(self, frame: Frame, target: str | None = None) -> dict[str, Any]:
        schema = frame.collect_schema()
        for col, kind in (self.kinds or {}).items():
            check_choice(self.name, f"kinds[{col!r}]", kind, KINDS)
        if not 0.0 < float(self.min_share) <= 1.0:
            msg = f"{self.name}: min_share={self.min_share!r} must be in (0, 1]"
            raise SpecError(msg)
        if self.time_zone is not None:
            _check_time_zone(self.name, self.time_zone)
        forced = list(self.kinds or {}) + list(self.formats or {}) + list(self.categorical or [])
        resolve_columns(forced or None, schema, [], step=self.name)
        columns = resolve_columns(self.columns, schema, string_columns(schema), exclude=[target] if target else [],
                                  step=self.name)
        columns = [c for c in columns if schema[c] == pl.String or c in forced]
        out: dict[str, dict[str, int]] = {col: {} for col in columns}
        if isinstance(frame, pl.DataFrame) and columns:
            # In memory: every distinct value is parsed once and counted as often as it occurs. Text columns are
            # mostly categories (200 distinct values in 500,000 rows: 4.2 s -> well under a second for two such
            # columns), and a column of unique values costs one group-by more than parsing every row.
            queries = [self._counts(frame.lazy().select(_clean_text(col, self._tokens()).alias("__s0"))
                                    .group_by("__s0").agg(pl.len().alias("__rows__")), [col], pl.col("__rows__"))
                       for col in columns]
            for col, result in zip(columns, pl.collect_all(queries), strict=True):
                out[col] = {key.split("|", 1)[1]: int(value or 0) for key, value in result.row(0, named=True).items()}
        elif columns:
            # A scan: one streaming pass of aggregations over every row, with no table of distinct values in memory.
            lazy = frame.lazy().select(_clean_text(col, self._tokens()).alias(f"__s{i}")
                                       for i, col in enumerate(columns))
            row = self._counts(lazy, columns, None).collect().row(0, named=True)
            for key, value in row.items():
                i, rest = key.split("|", 1)
                out[columns[int(i)]][rest] = int(value or 0)
        for col in columns:
            if out[col].get("unit"):  # which units: one more look at those columns only
                unit = _unit_of(_clean_text(col, self._tokens())).alias("u")
                found = (frame.lazy().select(unit).drop_nulls().group_by("u").len()
                         .sort(["len", "u"], descending=[True, False]).head(_UNITS_KEPT).collect())
                out[col].update({f"unit|{u}": int(n) for u, n in found.iter_rows()})
        return {"columns": columns, "counts": out}

    def _counts(self, lazy: pl.LazyFrame, columns: list[str], weight: pl.Expr | None) -> pl.LazyFrame:
        """One row: per column ``i`` of ``columns`` (its cleaned text in ``__s{i}`` of ``lazy``), how many values are
        values at all (``i|n``), and how many read as each kind and format (``i|number``, ``i|date|%Y-%m-%d``, …);
        each row counts ``weight`` times (its number of occurrences) or once.

        The number reduction runs once per value (stage by stage), and a date format parses only the values that
        start as its values must (:data:`_DATE_SHAPES`): a column of ids is not parsed 23 times over.
        """
        explicit = [(self.formats or {}).get(col) for col in columns]
        shapes = {shape for fmt in (*DATE_FORMATS, *DATETIME_FORMATS) if (shape := _DATE_SHAPES.get(fmt))}
        flags = {shape: k for k, shape in enumerate(sorted(shapes))}
        # Dates are read (and their shapes tested) off the text with full-width forms folded, ``__d{i}``.
        lazy = lazy.with_columns(_ascii_folded(pl.col(f"__s{i}")).alias(f"__d{i}") for i in range(len(columns)))
        # (a column given its format is parsed with it alone, on every value: no shapes to test)
        lazy = lazy.with_columns(pl.col(f"__d{i}").str.contains(shape).alias(f"__f{i}_{k}")
                                 for i in range(len(columns)) if not explicit[i] for shape, k in flags.items())
        for k, stage in enumerate(zip(*(_reduced_number_stages(pl.col(f"__s{i}"), f"__t{i}")
                                        for i in range(len(columns))), strict=True)):
            lazy = lazy.with_columns(stage)
            if k == 0:  # the folded text: which decimal mark each value shows, if any
                lazy = lazy.with_columns(
                    expr for i in range(len(columns))
                    for expr in (pl.col(f"__t{i}").str.contains(_DECIMAL_COMMA).alias(f"__c{i}"),
                                 pl.col(f"__t{i}").str.contains(_DECIMAL_DOT).alias(f"__p{i}")))

        def count(flag: pl.Expr, where: str | None = None) -> pl.Expr:
            if weight is None:
                return flag.sum()
            rows = weight if where is None else weight.filter(pl.col(where))
            return (flag.cast(pl.Int64) * rows).sum()

        aggs = []
        for i in range(len(columns)):
            s, reduced = pl.col(f"__s{i}"), pl.col(f"__t{i}")
            number = _number_float(reduced).is_not_null()
            aggs += [count(s.is_not_null()).alias(f"{i}|n"),
                     count(number).alias(f"{i}|number"),
                     count(number & pl.col(f"__c{i}")).alias(f"{i}|decimal_comma"),
                     count(number & pl.col(f"__p{i}")).alias(f"{i}|decimal_dot"),
                     count(reduced.str.contains(_INTEGER_TEXT)).alias(f"{i}|integer"),
                     count(parse_bool(s).is_not_null()).alias(f"{i}|boolean"),
                     count(_unit_of(s).is_not_null()).alias(f"{i}|unit"),
                     count(s.str.contains(_ZERO_CODE)).alias(f"{i}|zero_code"),
                     count((s.str.contains(_SPACED_DIGITS) & ~s.str.contains(_GROUPED_BY_THREE))
                           | (s.str.contains(_COMMA_DIGITS) & ~s.str.contains(_COMMA_NUMBER))).alias(f"{i}|spaced")]
            for kind, fmts in (("date", DATE_FORMATS), ("datetime", DATETIME_FORMATS)):
                for fmt in ([explicit[i]] if explicit[i] else fmts):
                    shape = None if explicit[i] else _DATE_SHAPES.get(fmt)
                    where = None if shape is None else f"__f{i}_{flags[shape]}"
                    folded = pl.col(f"__d{i}")
                    values = folded if where is None else folded.filter(pl.col(where))
                    parsed = _parse_temporal(values, kind, fmt, self.time_zone).is_not_null()
                    aggs.append(count(parsed, where).alias(f"{i}|{kind}|{fmt}"))
        return lazy.select(aggs)

    def merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        columns = union(a["columns"], b["columns"])
        counts = {c: merge_counts(a["counts"].get(c, {}), b["counts"].get(c, {})) for c in columns}
        return {"columns": columns, "counts": counts}

    def finalize(self, summary: dict[str, Any]) -> dict[str, Any]:
        convert: dict[str, dict[str, Any]] = {}
        unparsed: dict[str, int] = {}
        for col in summary["columns"]:
            c = summary["counts"][col]
            n = c.get("n", 0)
            kind, fmt = self._decide(col, c, n)
            convert[col] = {"kind": kind, "format": fmt}
            if kind in ("number", "integer") and c.get("decimal_comma", 0) and not c.get("decimal_dot", 0):
                convert[col]["decimal"] = ","
            if kind == "date" and any("%d" not in f for f in (fmt or "%d").split(FORMAT_SEPARATOR)):
                log.warning("types: %r read as dates from years and months (%s): each is the 1st of its month", col,
                            fmt)
            # (not when _decide said why numbers stayed text; a date and time, 2024-01-05 10:00, has digits parted
            # by a space too, and such a column was kept as text without a word)
            said = c.get("number", 0) >= self._need(n) and (c.get("zero_code") or c.get("spaced"))
            if kind == "text" and n and col not in (self.kinds or {}) and not said:
                self._say_almost(col, c, n)
            if kind in ("date", "datetime") and fmt:
                self._say_ambiguous(col, c, kind, fmt)
            if kind in ("number", "integer"):
                parsed = c.get("number", 0) + (c.get(f"unit|{fmt}", 0) if fmt else 0)
            elif kind == "boolean":
                parsed = c.get("boolean", 0)
            elif kind in ("date", "datetime"):
                # A datetime column's dates (midnight) were counted as dates: each format under the kind it was read as.
                parsed = sum(c.get(f"{kind}|{f}", c.get(f"date|{f}", 0) if f in DATE_FORMATS else 0)
                             for f in (fmt or "").split(FORMAT_SEPARATOR))
            else:
                parsed = n
            if n - parsed > 0 and kind not in ("text", "categorical"):
                unparsed[col] = n - parsed
                hint = " (e.g. codes in a column of numbers)" if kind in ("number", "integer") else ""
                log.warning("types: %d of %d value(s) of %r did not read as %s and became missing%s", n - parsed, n,
                            col, kind, hint)
        return {"convert": convert, "unparsed": unparsed, "missing_tokens": self._tokens()}

    @staticmethod
    def _say_ambiguous(col: str, c: dict[str, int], kind: str, fmt: str) -> None:
        """A note when a column read day first (03/04/2024 as 3 April) reads just as well month first: no value
        (a day past 12) told which it is, so the first of the pair was taken."""
        for f in fmt.split(FORMAT_SEPARATOR):
            twin = _DAY_MONTH_TWINS.get(f)
            if twin is None:
                continue
            hits, twin_hits = (c.get(f"{kind}|{x}", c.get(f"date|{x}", 0)) for x in (f, twin))
            if hits and twin_hits == hits:
                first = "day" if f.startswith("%d") else "month"
                other = "month" if first == "day" else "day"
                log.warning("types: %r read %s first (%s), but each of its %s value(s) written so reads %s first too; "
                            "give formats={%s: '%s'} if the %s comes first", col, first, f, f"{hits:,}", other, col,
                            twin, other)

    def _say_almost(self, col: str, c: dict[str, int], n: int) -> None:
        """A note when most, but not enough, of a text column's values read as one kind: kept as text, and how to
        convert it anyway."""
        # Not for booleans: single letters read as booleans (t/f, y/n), so a column of M and F "mostly" reads as one.
        reads = {"number": c.get("number", 0)}
        for key, hits in c.items():
            kind = key.split("|", 1)[0]
            if kind in ("date", "datetime"):
                reads[kind] = max(reads.get(kind, 0), hits)
        kind, hits = max(reads.items(), key=lambda kv: kv[1])
        if hits >= 0.5 * n:
            log.warning("types: %r kept as text: %s of %s value(s) (%.0f%%) read as %s, fewer than min_share "
                        "(%.0f%%); kinds={%s: %s} converts it, the others becoming missing", col, f"{hits:,}",
                        f"{n:,}", 100 * hits / n, kind, 100 * self.min_share, col, kind)

    def _need(self, n: int) -> int:
        """How many of ``n`` values must read as a kind for the column to convert."""
        return max(1, int(self.min_share * n + 0.5 - 1e-9)) if n else 1

    def _decide(self, col: str, c: dict[str, int], n: int) -> tuple[str, str | None]:
        forced = (self.kinds or {}).get(col)
        if col in (self.categorical or []):
            forced = "categorical"
        need = self._need(n)

        def best(kind: str) -> tuple[int, str | None]:
            hits = [(v, k.split("|", 1)[1]) for k, v in c.items() if k.startswith(kind + "|")]
            if not hits:
                return 0, None
            top = max(v for v, _ in hits)
            return top, next(f for v, f in hits if v == top)  # first format in list order wins a tie

        if forced in ("date", "datetime"):
            return forced, best(forced)[1] or (self.formats or {}).get(col)
        if forced is not None:
            return forced, None
        if n == 0:
            return "text", None
        if c.get("boolean", 0) >= need and c.get("boolean", 0) >= c.get("number", 0):
            # Checked before numbers: a column of only 0/1 texts is a boolean; one where numbers read more values
            # (counts 0, 1, 2, …) is a number.
            return "boolean", None
        if c.get("number", 0) >= need:
            if c.get("spaced", 0):
                log.warning("types: %r kept as text: %s of its %s values have digits parted by spaces or commas not "
                            "in thousands (phone numbers, lists such as 1,2,3); kinds={%s: number} converts it anyway",
                            col, f"{c['spaced']:,}", f"{n:,}", col)
                return "text", None
            if c.get("zero_code", 0):
                log.warning("types: %r kept as text: %s of its %s values are codes written with leading zeros (as "
                            "zip codes or ids are), which a number would drop; kinds={%s: integer} converts it anyway",
                            col, f"{c['zero_code']:,}", f"{n:,}", col)
                return "text", None
            return ("integer" if c.get("integer", 0) == c["number"] else "number"), None
        units = {k.split("|", 1)[1]: v for k, v in c.items() if k.startswith("unit|")}
        if units:
            unit = max(units, key=lambda u: (units[u], u))
            # Written after most values, as a column of measurements does, not after a few (ids such as 207a).
            if c.get("number", 0) + units[unit] >= need and units[unit] >= 0.5 * n:
                log.warning("types: %r read as numbers in %r (the unit written after its values)", col, unit)
                return "number", unit
        dt_hits, dt_fmt = best("datetime")
        d_hits, d_fmt = best("date")
        if d_hits < need and not (self.formats or {}).get(col):
            d_hits, d_fmt = self._mixed_dates(c, d_hits, d_fmt)
        # A tie goes to datetime (its formats carry a time) unless the format has no time at all: an explicit
        # date-only format such as '%d.%m.%Y' reads as datetimes too, but the column holds dates.
        if dt_hits >= need and (dt_hits > d_hits or (dt_hits == d_hits and _has_time(dt_fmt))):
            return "datetime", dt_fmt
        if d_hits >= need:
            return "date", d_fmt
        mixed_hits, mixed_fmt = self._mixed_datetimes(c)
        if mixed_hits >= need:
            if mixed_fmt is not None and "%z" in mixed_fmt and self.time_zone is None:
                naive = [f for f in mixed_fmt.split(FORMAT_SEPARATOR) if "%z" not in f]
                if naive:
                    log.warning("types: %r mixes times with and without a UTC offset: those without (%s) are read as "
                                "UTC; give time_zone='Asia/Shanghai' (say) to read them as local times there", col,
                                ", ".join(naive))
            return "datetime", mixed_fmt
        return "text", None

    @staticmethod
    def _mixed_dates(c: dict[str, int], hits: int, fmt: str | None) -> tuple[int, str | None]:
        """Dates written several ways in one column: the formats that read any of its values, most-read first, as one
        ``" | "``-joined format, with their hits summed (no value reads in two of them; of the day-first and
        month-first pair only the one that reads more is kept)."""
        found = {f: c.get(f"date|{f}", 0) for f in DATE_FORMATS}
        loser = min(_AMBIGUOUS_DATES, key=lambda f: (found[f], -_AMBIGUOUS_DATES.index(f)))
        used = sorted((f for f, v in found.items() if v and f != loser), key=lambda f: -found[f])
        if len(used) < 2:
            return hits, fmt
        return sum(found[f] for f in used), FORMAT_SEPARATOR.join(used)

    @staticmethod
    def _mixed_datetimes(c: dict[str, int]) -> tuple[int, str | None]:
        """Times written several ways in one column, dates among them (read as midnight): the formats that read any
        of its values, times first, most-read first, joined by ``" | "``, with their hits summed. Formats that read
        the same values are counted once: of a format and its fractional-seconds twin (which reads both) and of the
        day-first and month-first pair, only the one that reads more is kept."""
        found = {f: c.get(f"datetime|{f}", 0) for f in DATETIME_FORMATS}
        for family in _DATETIME_TWINS:
            keep = max(family, key=lambda f: (found[f], -family.index(f)))
            for f in family:
                if f != keep:
                    found[f] = 0
        times = sorted((f for f, v in found.items() if v), key=lambda f: -found[f])
        if not times:
            return 0, None
        dates = {f: c.get(f"date|{f}", 0) for f in DATE_FORMATS}
        loser = min(_AMBIGUOUS_DATES, key=lambda f: (dates[f], -_AMBIGUOUS_DATES.index(f)))
        days = sorted((f for f, v in dates.items() if v and f != loser), key=lambda f: -dates[f])
        if len(times) + len(days) < 2:
            return 0, None
        return sum(found[f] for f in times) + sum(dates[f] for f in days), FORMAT_SEPARATOR.join(times + days)

    @staticmethod
    def _number_input(col: str, spec: dict[str, Any], tokens: list[str]) -> pl.Expr:
        s = _clean_text(col, tokens)
        if spec["kind"] == "number" and spec.get("format"):
            # the column's unit, written after its values: dropped, the number read
            s = s.str.normalize("NFKC").str.replace(f"(?i)\\s*{re.escape(spec['format'])}$", "")
        return s

    def _expr(self, col: str, spec: dict[str, Any], tokens: list[str], reduced: pl.Expr | None = None,
              text: pl.Expr | None = None) -> pl.Expr:
        """The converted column; ``reduced``, for numbers, is the :func:`_number_text` of their text computed
        beforehand, and ``text``, for dates, their cleaned text (else each is computed here)."""
        kind, fmt = spec["kind"], spec.get("format")
        s = _clean_text(col, tokens) if text is None else text
        if kind in ("number", "integer"):
            s = self._number_input(col, spec, tokens)
            reduced = _number_text(s, spec.get("decimal") == ",") if reduced is None else reduced
            value = _number_value(s, reduced)
            if kind == "number":
                return value.alias(col)
            # Whole numbers written plainly are read as integers, not through a float: past 2**53 (ids of 16 to 18
            # digits) a float holds only every other integer, and 9007199254740993 became ...992.
            return (pl.when(reduced.str.contains(_INTEGER_TEXT)).then(reduced.cast(pl.Int64, strict=False))
                    .otherwise(value.round(0).cast(pl.Int64, strict=False)).alias(col))
        if kind == "boolean":
            return parse_bool(s).alias(col)
        if kind in ("date", "datetime"):
            if fmt is None:
                return pl.lit(None, dtype=pl.Date if kind == "date" else pl.Datetime("us")).alias(col)
            return parse_temporal(s, kind, fmt, self.time_zone).alias(col)
        if kind == "categorical":
            return s.cast(pl.Categorical).alias(col)
        return s.alias(col)

    def _transform(self, frame: Frame) -> Frame:
        names = frame.collect_schema().names()
        tokens = self.state_.get("missing_tokens", [])
        specs = [(col, spec) for col, spec in self.state_["convert"].items() if col in names]
        if not specs:
            return frame
        staged: dict[str, str] = {}
        if not isinstance(frame, pl.DataFrame) or frame.height > _STAGED_ROWS:
            # Numbers' text reduced stage by stage, each once per value (see _number_text); small frames (a
            # prediction request) skip the extra passes' overhead.
            staged = {col: f"__assay_number{i}" for i, (col, spec) in enumerate(specs)
                      if spec["kind"] in ("number", "integer")}
            stages = [_reduced_number_stages(self._number_input(col, spec, tokens), staged[col],
                                             spec.get("decimal") == ",")
                      for col, spec in specs if col in staged]
            for stage in zip(*stages, strict=True):
                frame = frame.with_columns(stage)
            # Dates' cleaned text too, written once: parse_temporal reads it several times (the full-width check
            # and each format), and a frame's expressions are not shared between those reads.
            dated = {col: f"__assay_date{i}" for i, (col, spec) in enumerate(specs)
                     if spec["kind"] in ("date", "datetime") and spec.get("format")}
            if dated:
                frame = frame.with_columns(_clean_text(col, tokens).alias(name) for col, name in dated.items())
                staged.update(dated)

        def converted(col: str, spec: dict[str, Any]) -> pl.Expr:
            if col not in staged:
                return self._expr(col, spec, tokens)
            if spec["kind"] in ("date", "datetime"):
                return self._expr(col, spec, tokens, text=pl.col(staged[col]))
            return self._expr(col, spec, tokens, pl.col(staged[col]))

        frame = frame.with_columns(converted(col, spec) for col, spec in specs)
        return frame.drop(list(staged.values())) if staged else frame

    def unreadable(self, frame: pl.DataFrame) -> dict[str, tuple[int, Any]]:
        """Per converted column of ``frame``: how many values this fitted step turns into missing although they
        are neither missing nor a missing token (a date in another format, a code among numbers), and the first
        such value. Only columns with some; what :meth:`transform` does silently, for callers that report it
        (``assay predict``)."""
        lost = self._lost(frame)
        out = {}
        for col in lost.columns:
            mask = lost.get_column(col)
            count = int(mask.sum())
            if count:
                out[col] = (count, frame.get_column(col).filter(mask)[0])
        return out


    def _lost(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Per converted column of ``frame``, True where :meth:`unreadable` counts a value."""
        self._check_fitted()
        tokens = self.state_.get("missing_tokens", [])
        names = set(frame.columns)
        specs = {c: s for c, s in self.state_["convert"].items()
                 if c in names and s["kind"] not in ("text", "categorical")}
        if not specs or frame.height == 0:
            return pl.DataFrame()
        return frame.select(
            (_clean_text(col, tokens).is_not_null() & (_clean_text(col, tokens) != "")
             & self._expr(col, spec, tokens).is_null()).alias(col)
            for col, spec in specs.items()
        )

    def without_unreadable(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with the values :meth:`unreadable` counts set to missing (what :meth:`transform` makes of
        them anyway), so that a later check of the same frame finds none."""
        lost = self._lost(frame)
        return frame.with_columns(pl.when(lost.get_column(c)).then(None).otherwise(pl.col(c)).alias(c)
                                  for c in lost.columns if lost.get_column(c).any())


class TextStep(Step):
    """Trim, Unicode-normalise (NFKC: full-width to half-width) and case-fold text columns.

    Parameters
    ----------
    columns:
        Columns to tidy (default: every text and categorical column except the target). They come out as text
        (String), categorical ones too.
    case:
        ``lower`` (default) or ``upper`` to change every letter's case, or ``null`` to keep it as written.
    normalize:
        Apply Unicode NFKC normalisation: full-width letters, digits and punctuation (``ＢＥＩＪＩＮＧ １２３``)
        become their ASCII forms (``BEIJING 123``), ligatures and other compatibility characters their plain ones.
    strip:
        Remove spaces (and other whitespace) at the start and end of each value.

    Stateless apart from the column list.

    >>> import polars as pl
    >>> TextStep().fit(pl.DataFrame({"城市": [" Beijing ", "ＢＥＩＪＩＮＧ"]})).transform(
    ...     pl.DataFrame({"城市": [" Beijing ", "ＢＥＩＪＩＮＧ"]}))["城市"].to_list()
    ['beijing', 'beijing']
    """

    name = "text"
    lazy_summary = True

    def __init__(self, columns: list[str] | None = None, *, case: str | None = "lower", normalize: bool = True,
                 strip: bool = True) -> None:
        self.columns = columns
        self.case = case
        self.normalize = normalize
        self.strip = strip

    def summarize(self, frame: Frame, target: str | None = None) -> list[str]:
        check_choice(self.name, "case", self.case, ["lower", "upper", None])
        schema = frame.collect_schema()
        return resolve_columns(self.columns, schema, string_columns(schema), exclude=[target] if target else [],
                               step=self.name)

    def merge(self, a: list[str], b: list[str]) -> list[str]:
        return union(a, b)

    def finalize(self, summary: list[str]) -> dict[str, Any]:
        return {"columns": summary}

    def _transform(self, frame: Frame) -> Frame:
        names = frame.collect_schema().names()
        exprs = []
        for col in self.state_["columns"]:
            if col not in names:
                continue
            s = pl.col(col).cast(pl.String)
            if self.normalize:
                s = s.str.normalize("NFKC")
            if self.strip:
                s = s.str.strip_chars()
            if self.case == "lower":
                s = s.str.to_lowercase()
            elif self.case == "upper":
                s = s.str.to_uppercase()
            exprs.append(s.alias(col))
        return frame.with_columns(exprs) if exprs else frame
