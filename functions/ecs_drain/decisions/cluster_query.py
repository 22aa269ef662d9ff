"""ECS's cluster query language, whole: the expressions of `memberOf` placement constraints.

`parse` turns an expression into a tree or raises QueryError (never anything else, whatever the text); `judge`
evaluates a tree against what is known of one container instance and answers True, False or None: None when the
answer depends on something unknown (a fact about the instance that was not read) or on a point ECS does not
document. Two such points are read both ways, and an answer is given only where both readings agree:
- whether `=~` must match the whole value (Java's `String.matches`) or a part of it (`Matcher.find`);
- whether values compare with their case or without it.
So `attribute:ecs.instance-type =~ m5.*` is True on m5.large either way, False on c5.large either way, and None on
cm5.large (a part matches, the whole does not): the caller then falls back to what ECS itself shows, rather than
failing a preflight or holding a drain on a guess. A regular expression Python cannot compile (Java-only syntax)
is None too. Keywords and operator words are accepted in any case; `!=`, `not_in` and `!~` are the negations of
`==`, `in` and `=~`, so `not(e)` is always the opposite of `e`.
Syntax (ECS developer guide, "Cluster query language"): `subject operator [argument]`, joined with `and`/`&&`,
`or`/`||`, negated with `not`/`!`, grouped with parentheses; `and` binds tighter than `or`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ..model.container_instance import InstanceFacts

MAX_CHARACTERS: Final = 2000  # ECS's cap on an expression
MAX_NESTING: Final = 50  # parentheses and negations inside each other (ECS documents no cap; none is near it)
SUBJECTS: Final = ("agentConnected", "agentVersion", "ec2InstanceId", "registeredAt", "runningTasksCount")
_TASK_GROUP: Final = "task:group"
_ATTRIBUTE: Final = "attribute:"
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-/\\]{1,128}")
# Each operator's spellings, longest symbol first so `>=` is not read as `>`; the name is the canonical one.
_SYMBOLS: Final = (
    ("!exists", "not_exists"),
    ("==", "equals"),
    ("!=", "not_equals"),
    (">=", "greater_than_equal"),
    ("<=", "less_than_equal"),
    ("=~", "matches"),
    ("!~", "not_matches"),
    ("!in", "not_in"),
    (">", "greater_than"),
    ("<", "less_than"),
)
_WORDS: Final = frozenset(
    {
        "equals",
        "not_equals",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "exists",
        "not_exists",
        "in",
        "not_in",
        "matches",
        "not_matches",
    }
)
_NEGATIONS: Final = {"not_equals": "equals", "not_in": "in", "not_matches": "matches", "not_exists": "exists"}
_NO_ARGUMENT: Final = frozenset({"exists", "not_exists"})
_LISTS: Final = frozenset({"in", "not_in"})
_ORDERS: Final = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


class QueryError(ValueError):
    """The text is not an expression of the cluster query language; the message says where and why."""


@dataclass(frozen=True)
class Comparison:
    subject: str  # "attribute:NAME", "task:group" or one of SUBJECTS
    operator: str  # canonical: "equals", "in", "matches", "exists", "greater_than", ... (negations are Not)
    values: tuple[str, ...]  # one value, a list's items, or none


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class And:
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Or:
    left: Expression
    right: Expression


type Expression = Comparison | Not | And | Or


def parse(text: str) -> Expression:
    """The expression's tree; QueryError if the text is not one."""
    if len(text) > MAX_CHARACTERS:
        raise QueryError(f"longer than {MAX_CHARACTERS} characters")
    parser = _Parser(text)
    tree = parser.disjunction()
    parser.skip_space()
    if not parser.at_end():
        raise QueryError(f"unexpected {parser.rest()!r} at character {parser.pos + 1}")
    return tree


def judge(expression: Expression, facts: InstanceFacts) -> bool | None:
    """True or False where every reading of the undocumented points agrees; None otherwise or where a fact is
    unknown."""
    answers = {_evaluate(expression, facts, reading) for reading in _READINGS}
    return answers.pop() if len(answers) == 1 else None


def evaluate(expression: Expression, facts: InstanceFacts, *, whole_match: bool, case_sensitive: bool) -> bool | None:
    """One reading of the undocumented points, as one implementation has one (the emulation's ECS); None only where a
    fact is unknown or a regular expression cannot be compiled."""
    return _evaluate(expression, facts, _Reading(whole_match, case_sensitive))


# ---- parsing -------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # nested parentheses and negations: bounded, so no text can exhaust the stack

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def rest(self) -> str:
        return self.text[self.pos : self.pos + 20]

    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self, *spellings: str) -> bool:
        """Consume one of the spellings if it is next (a word spelling must end at a word boundary)."""
        self.skip_space()
        for spelling in spellings:
            end = self.pos + len(spelling)
            if self.text[self.pos : end].lower() != spelling:
                continue
            if spelling[-1].isalpha() and end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_"):
                continue
            self.pos = end
            return True
        return False

    def disjunction(self) -> Expression:
        tree = self.conjunction()
        while self._keyword("||", "or"):
            tree = Or(tree, self.conjunction())
        return tree

    def conjunction(self) -> Expression:
        tree = self.unary()
        while self._keyword("&&", "and"):
            tree = And(tree, self.unary())
        return tree

    def unary(self) -> Expression:
        self.skip_space()
        if self.at_end():
            raise QueryError("an expression ends where a comparison was expected")
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QueryError(f"nested more than {MAX_NESTING} deep")
        try:
            if self._keyword("not", "!"):
                return Not(self.unary())
            if self.text[self.pos] == "(":
                self.pos += 1
                tree = self.disjunction()
                if not self._keyword(")"):
                    raise QueryError(f"a parenthesis opened is never closed (at character {self.pos + 1})")
                return tree
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Expression:
        subject = self._subject()
        operator = self._operator()
        if operator in _NO_ARGUMENT:
            values: tuple[str, ...] = ()
        elif operator in _LISTS:
            values = self._list()
        else:
            values = (self._value(),)
        base = _NEGATIONS.get(operator)
        return Not(Comparison(subject, base, values)) if base else Comparison(subject, operator, values)

    def _subject(self) -> str:
        self.skip_space()
        start = self.pos
        if self.text[start : start + len(_ATTRIBUTE)].lower() == _ATTRIBUTE:
            name = _ATTRIBUTE_NAME.match(self.text, start + len(_ATTRIBUTE))
            if name is None:
                raise QueryError(f"an attribute without a name at character {start + 1}")
            self.pos = name.end()
            return _ATTRIBUTE + name.group()
        for subject in (_TASK_GROUP, *SUBJECTS):
            if self._keyword(subject.lower()):
                return subject
        raise QueryError(f"unknown subject {self.rest()!r} at character {start + 1}")

    def _operator(self) -> str:
        self.skip_space()
        for symbol, name in _SYMBOLS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return name
        word = re.match(r"[A-Za-z_]+", self.text[self.pos :])
        if word and word.group().lower() in _WORDS:
            self.pos += word.end()
            return word.group().lower()
        raise QueryError(f"unknown operator {self.rest()!r} at character {self.pos + 1}")

    def _list(self) -> tuple[str, ...]:
        self.skip_space()
        if not self.text.startswith("[", self.pos):
            return (self._value(),)  # a lone value: a list of one
        self.pos += 1
        items: list[str] = []
        while True:
            self.skip_space()
            if self._quoted_next():
                items.append(self._quoted())
            else:
                start = self.pos
                while not self.at_end() and self.text[self.pos] not in ",]":
                    self.pos += 1
                items.append(self.text[start : self.pos].strip())
            self.skip_space()
            if self._keyword("]"):
                break
            if not self._keyword(","):
                raise QueryError(f"a list is never closed with ']' (at character {self.pos + 1})")
        if any(not item for item in items):
            raise QueryError("a list with an empty item")
        return tuple(items)

    def _quoted_next(self) -> bool:
        return not self.at_end() and self.text[self.pos] in "'\""

    def _quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise QueryError(f"a quote opened at character {self.pos + 1} is never closed")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def _value(self) -> str:
        """A quoted value, or a bare one: up to white space, `&&`, `||` or a parenthesis it did not open (a regular
        expression's own groups and classes stay in it)."""
        self.skip_space()
        if self._quoted_next():
            return self._quoted()
        start, depth = self.pos, 0
        while not self.at_end():
            here = self.text[self.pos]
            if here.isspace() or self.text.startswith(("&&", "||"), self.pos):
                break
            if here in "([":
                depth += 1
            elif here in ")]":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        if self.pos == start:
            raise QueryError(f"a value is missing at character {start + 1}")
        return self.text[start : self.pos]


# ---- evaluating ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    whole_match: bool  # `=~` as Java's String.matches (True) or Matcher.find (False)
    case_sensitive: bool


_READINGS: Final = tuple(_Reading(whole, case) for whole in (True, False) for case in (True, False))


def _evaluate(tree: Expression, facts: InstanceFacts, reading: _Reading) -> bool | None:
    """Kleene's three-valued logic: None where a fact is unknown."""
    match tree:
        case Not(operand):
            value = _evaluate(operand, facts, reading)
            return None if value is None else not value
        case And(left, right):
            a, b = _evaluate(left, facts, reading), _evaluate(right, facts, reading)
            return False if a is False or b is False else (None if a is None or b is None else True)
        case Or(left, right):
            a, b = _evaluate(left, facts, reading), _evaluate(right, facts, reading)
            return True if a is True or b is True else (None if a is None or b is None else False)
        case Comparison():
            return _compare(tree, facts, reading)


def _compare(comparison: Comparison, facts: InstanceFacts, reading: _Reading) -> bool | None:
    subject, operator, values = comparison.subject, comparison.operator, comparison.values
    if subject == _TASK_GROUP:
        if facts.task_groups is None:
            return None
        if operator == "exists":
            return bool(facts.task_groups)
        answers = {_text_test(group, operator, values, reading) for group in facts.task_groups}
        return True if True in answers else (None if None in answers else False)
    if subject.startswith(_ATTRIBUTE):
        name = subject.removeprefix(_ATTRIBUTE)
        if operator == "exists":
            return name in facts.attributes
        value = facts.attributes.get(name)
        if value is None:  # absent, or registered without a value: equal to nothing, matched by nothing
            return False
        return _text_test(value, operator, values, reading)
    known = _subject_value(subject, facts)
    if known is None:
        return None
    if operator == "exists":
        return True
    if operator in _ORDERS:
        return _order(subject, known, operator, values[0])
    return _text_test(known, operator, values, reading)


def _subject_value(subject: str, facts: InstanceFacts) -> str | None:
    values: dict[str, object] = {
        "agentConnected": facts.agent_connected,
        "agentVersion": facts.agent_version,
        "ec2InstanceId": facts.ec2_instance_id,
        "registeredAt": facts.registered_at,
        "runningTasksCount": facts.running_tasks_count,
    }
    value = values[subject]
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _text_test(value: str, operator: str, values: tuple[str, ...], reading: _Reading) -> bool | None:
    if operator in _ORDERS:
        return _order("attribute", value, operator, values[0])
    if operator == "matches":
        flags = 0 if reading.case_sensitive else re.IGNORECASE
        try:
            pattern = re.compile(values[0], flags)
        except (re.error, OverflowError, RecursionError):
            return None  # Java syntax Python does not read: not judged
        found = pattern.fullmatch(value) if reading.whole_match else pattern.search(value)
        return found is not None
    fold: Callable[[str], str] = (lambda s: s) if reading.case_sensitive else str.casefold
    return fold(value) in {fold(v) for v in values}  # equals: a list of one


def _order(subject: str, known: str, operator: str, argument: str) -> bool | None:
    """>, >=, <, <= as ECS orders the subject: dates for registeredAt, versions for agentVersion, numbers for
    runningTasksCount; an attribute by number or version where both sides are one, else not judged."""
    left: tuple[float, ...] | None
    right: tuple[float, ...] | None
    if subject == "registeredAt":
        when = _date(argument)
        left, right = ((float(known),), (when,)) if when is not None else (None, None)
    else:
        left, right = _version(known), _version(argument)
    if left is None or right is None:
        return None
    return {
        "greater_than": left > right,
        "greater_than_equal": left >= right,
        "less_than": left < right,
        "less_than_equal": left <= right,
    }[operator]


def _version(text: str) -> tuple[int, ...] | None:
    parts = text.strip().removeprefix("v").split(".")
    return tuple(int(p) for p in parts) if all(p.isascii() and p.isdigit() for p in parts) else None


_DATE_FORMATS: Final = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def _date(text: str) -> float | None:
    """registeredAt's documented formats; one without a zone is taken as UTC."""
    for form in _DATE_FORMATS:
        try:
            when = datetime.strptime(text.replace("Z", "+00:00"), form)
        except ValueError:
            continue
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return None


def comparisons(tree: Expression) -> Iterator[Comparison]:
    """Every comparison in the tree (what facts it reads)."""
    match tree:
        case Comparison():
            yield tree
        case Not(operand):
            yield from comparisons(operand)
        case And(left, right) | Or(left, right):
            yield from comparisons(left)
            yield from comparisons(right)
