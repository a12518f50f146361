from __future__ import annotations

import math

import pytest

from neuronest.errors import Invalid
from neuronest.tools.calculator import (
    CONSTANTS,
    FUNCTIONS,
    MAX_FACTORIAL,
    MAX_INT,
    MAX_LENGTH,
    calculate,
    describe,
    evaluate,
    format_number,
)

EXACT = [
    # precedence, associativity, unary operators
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("2 * (3 + (4 - 1)) ** 2", 72),
    ("2 ** 3 ** 2", 512),
    ("-2 ** 2", -4),
    ("(-2) ** 2", 4),
    ("--3", 3),
    ("+-+3", -3),
    ("-(-(-4))", -4),
    ("10 - 4 - 3", 3),
    ("100 / 10 / 5", 2),
    ("7 // 2", 3),
    ("-7 // 2", -4),
    ("7 % 3", 1),
    ("-7 % 3", 2),
    ("2 ** 0", 1),
    ("0 ** 0", 1),
    ("(-1) ** 10001", -1),
    ("1 ** 100000000", 1),
    ("(-8) ** 3", -512),
    ("   42   ", 42),
    ("1_000_000", 1_000_000),
    ("0x10 + 0b11", 19),
    ("+".join(["1"] * 250), 250),  # a long flat chain is not "deep"
    # exact integer division
    ("6 / 3", 2),
    ("10**30 / 10**10", 10**20),
    ("10**400 // 10**399", 10),
    # conveniences
    ("2^10", 1024),
    ("3 \u00d7 4 \u00f7 2", 6),
    ("5 \u2212 2", 3),
    ("2 \u00b7 21", 42),
    # functions returning integers
    ("sqrt(16)", 4),
    ("sqrt(10**100)", 10**50),
    ("abs(-5)", 5),
    ("round(2.5)", 2),
    ("round(3.5)", 4),
    ("round(1234, -2)", 1200),
    ("floor(-2.5)", -3),
    ("ceil(2.1)", 3),
    ("min(3, 1, 2)", 1),
    ("max(3, 1, 2)", 3),
    ("max(7)", 7),
    ("factorial(0)", 1),
    ("factorial(10)", 3628800),
    ("factorial(5.0)", 120),
    # big integers up to the bound
    ("2 ** 100", 2**100),
    ("10 ** 1000", 10**1000),
    ("-(10 ** 1000)", -(10**1000)),
    ("10**999 * 10", 10**1000),
    ("2 ** 3321", 2**3321),
    (f"factorial({MAX_FACTORIAL})", math.factorial(MAX_FACTORIAL)),
]

APPROX = [
    ("7 / 2", 3.5),
    ("1 / 3", 1 / 3),
    ("0.1 + 0.2", 0.3),
    ("1e3", 1000.0),
    ("2.5 * 4", 10.0),
    ("-0.5 ** 2", -0.25),
    ("4 ** 0.5", 2.0),
    ("2 ** -1", 0.5),
    ("2.0 ** 3", 8.0),
    ("(-8.0) ** 3", -512.0),
    ("7.5 // 2", 3.0),
    ("7.5 % 2", 1.5),
    ("(10**400 + 1) / 10**399", 10.0),
    ("sqrt(2)", math.sqrt(2)),
    ("sin(0)", 0.0),
    ("cos(pi)", -1.0),
    ("tan(pi / 4)", 1.0),
    ("asin(1)", math.pi / 2),
    ("acos(1)", 0.0),
    ("atan(1)", math.pi / 4),
    ("log(e)", 1.0),
    ("log(8, 2)", 3.0),
    ("log(10**1000)", 1000 * math.log(10)),
    ("log10(1000)", 3.0),
    ("log2(1024)", 10.0),
    ("exp(0)", 1.0),
    ("exp(1)", math.e),
    ("round(2.567, 2)", 2.57),
    ("hypot(3, 4)", 5.0),
    ("hypot(2, 3, 6)", 7.0),
    ("tau / 2", math.pi),
    ("2 * pi", math.tau),
    ("abs(-2.5)", 2.5),
    ("min(1.5, 2)", 1.5),
    ("1.7976931348623157e308", 1.7976931348623157e308),
]


@pytest.mark.parametrize(("expression", "expected"), EXACT)
def test_exact_results(expression: str, expected: int) -> None:
    result = evaluate(expression)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(("expression", "expected"), APPROX)
def test_float_results(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert isinstance(result, float)
    assert result == pytest.approx(expected, rel=1e-12, abs=1e-12)


REFUSED = [
    # names, attributes, calls of anything not whitelisted
    ("x", 'unknown name "x"'),
    ("__builtins__", 'unknown name "__builtins__"'),
    ("__import__(1)", 'unknown function "__import__"'),
    ("__import__('os').system('true')", "strings are not allowed"),
    ("eval(1)", 'unknown function "eval"'),
    ("open(1)", 'unknown function "open"'),
    ("pi(2)", '"pi" is a constant, not a function'),
    ("sqrt", '"sqrt" is a function'),
    ("().__class__", "attribute access is not allowed"),
    ("(1).__class__.__bases__", "attribute access is not allowed"),
    ("(1).real", "attribute access is not allowed"),
    ("math.sqrt(4)", "attribute access is not allowed"),
    ("(lambda: 1)()", "only the listed functions can be called"),
    ("lambda: 1", "lambda is not allowed"),
    ("[x for x in (1, 2)]", "comprehensions are not allowed"),
    ("sum(x for x in (1, 2))", 'unknown function "sum"'),
    ("{1: 2}", "dicts are not allowed"),
    ("[1, 2]", "lists are not allowed"),
    ("(1, 2)", "tuples are not allowed"),
    ("{1}", "sets are not allowed"),
    ("(1, 2)[0]", "indexing is not allowed"),
    ("'abc'", "strings are not allowed"),
    ('"abc" * 10', "strings are not allowed"),
    ("f'{1}'", "strings are not allowed"),
    ("b'x'", "strings are not allowed"),
    ("1j", "complex numbers are not supported"),
    ("2 + 3j", "complex numbers are not supported"),
    ("True", "True is not a number"),
    ("None", "None is not a number"),
    ("...", "Ellipsis is not a number"),
    ("1 < 2", "comparisons are not supported"),
    ("1 and 2", "and/or are not supported"),
    ("1 if 2 else 3", "conditional expressions are not supported"),
    ("(y := 2)", "assignment is not allowed"),
    ("sqrt(*[4])", "unpacking is not allowed"),
    ("sqrt(x=4)", "keyword arguments are not supported"),
    ("1 << 2", "operator << is not supported"),
    ("6 & 3", "operator & is not supported"),
    ("~1", "operator ~ is not supported"),
    ("not 1", "operator not is not supported"),
    # arity
    ("log(1, 2, 3)", "takes 1 or 2 arguments (3 given)"),
    ("sqrt()", "takes 1 argument (0 given)"),
    ("min()", "takes at least 1 argument (0 given)"),
    # arithmetic failures
    ("1 / 0", "division by zero"),
    ("1 // 0", "division by zero"),
    ("1 % 0", "division by zero"),
    ("1.0 / 0.0", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("0.0 ** -1", "division by zero"),
    ("(-8) ** (1/3)", "negative number raised to a fractional power"),
    ("sqrt(-1)", "sqrt() of a negative number"),
    ("log(0)", "log() of a number that is not positive"),
    ("log(8, 1)", "log() base must be positive and not 1"),
    ("log10(-1)", "log10() of a number that is not positive"),
    ("asin(2)", "asin() needs a number between -1 and 1"),
    ("factorial(-1)", "factorial() of a negative number"),
    ("factorial(2.5)", "factorial() needs a whole number"),
    ("round(1.5, 0.5)", "round() digits must be a whole number"),
    ("round(1.5, 10**6)", "round() digits must be between"),
    # sizes
    ("2 ** 10 ** 10", "exponent too large"),
    ("9 ** 9 ** 9", "exponent too large"),
    ("2 ** 100000", "exponent too large"),
    ("2 ** -100000", "exponent too large"),
    ("2 ** 10000", "result too large"),
    ("10 ** 1001", "result too large"),
    ("(10**1000) ** 2", "result too large"),
    ("10**1000 + 1", "result too large"),
    ("10**999 * 10**999", "result too large"),
    ("factorial(10**6)", "factorial() argument too large"),
    (f"factorial({MAX_FACTORIAL + 1})", "factorial() argument too large"),
    ("0x" + "f" * 900, "number too large"),
    ("1e999", "number too large for floating point"),
    ("1e308 * 10", "result too large for floating point"),
    ("2.0 ** 5000", "number too large for floating point"),
    ("exp(1000)", "exp(): number too large for floating point"),
    ("10**400 / 3", "number too large for floating point"),
    ("sin(10**400)", "sin(): number too large for floating point"),
    ("(10**400) ** -1", "number too large for floating point"),
    ("1" * (MAX_LENGTH + 1), "too long (1001 characters, at most 1000)"),
    ("1+" * 600 + "1", "too long"),
    ("(" * 300 + "1" + ")" * 300, "too deeply nested"),
    ("-" * 500 + "1", "too deeply nested"),
    ("sqrt(" * 150 + "1" + ")" * 150, "too deeply nested"),
    ("2**" * 150 + "1", "too deeply nested"),
    ("1" + "*1" * 250, "too complex (more than 500 elements)"),
    # syntax
    ("", "empty"),
    ("   ", "empty"),
    ("1 +", "invalid syntax"),
    ("1 2", "invalid syntax"),
    ("1; 2", "invalid syntax"),
    ("import os", "invalid syntax"),
    ("1\x00", "invalid syntax"),
    ("1if 1 else 2", "invalid syntax"),
]


@pytest.mark.parametrize(("expression", "reason"), REFUSED)
def test_refusals_are_422_on_the_expression_field(expression: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        evaluate(expression)
    error = caught.value
    assert error.status == 422
    assert error.field == "expression"
    assert error.extensions == {"field": "expression"}
    assert error.message.startswith("expression: ")
    assert reason in error.message


def test_a_non_string_is_refused() -> None:
    with pytest.raises(Invalid, match="must be a string"):
        evaluate(42)  # type: ignore[arg-type]


def test_limits_are_consistent() -> None:
    assert math.factorial(MAX_FACTORIAL) <= MAX_INT < math.factorial(MAX_FACTORIAL + 1)
    assert evaluate("1" * MAX_LENGTH) == int("1" * MAX_LENGTH)


def test_unicode_identifiers_cannot_sneak_in_other_names() -> None:
    # NFKC folds fullwidth letters to ASCII: the same whitelist still applies.
    assert evaluate("\uff53\uff51\uff52\uff54(4)") == 2
    with pytest.raises(Invalid, match='unknown function "open"'):
        evaluate("\uff4f\uff50\uff45\uff4e(1)")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2, "2"),
        (-17, "-17"),
        (10**30, "1" + "0" * 30),
        (2.0, "2"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333333333"),
        (2 / 3, "0.666666666667"),
        (math.pi, "3.14159265359"),
        (-2.5, "-2.5"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (123456789012.25, "123456789012"),
        (999999999999999.0, "999999999999999"),
        (1e15, "1e15"),
        (1e20, "1e20"),
        (2.0**60, "1.15292150461e18"),
        (6.02214076e23, "6.02214076e23"),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("2 + 3 * 4", "14"),
        ("6*7", "42"),
        ("1/3", "0.333333333333"),
        ("sqrt(2)/2", "0.707106781187"),
        ("0.1 * 3", "0.3"),
        ("tan(pi/4)", "1"),
        ("2^64", "18446744073709551616"),
    ],
)
def test_calculate_gives_clean_text(expression: str, text: str) -> None:
    assert calculate(expression) == text


def test_describe_lists_what_is_supported() -> None:
    text = describe()
    for name in [*FUNCTIONS, *CONSTANTS]:
        assert name in text
    assert "^" in text
    assert "10**1000" in text
    assert str(MAX_FACTORIAL) in text
    assert len(text) < 1500
