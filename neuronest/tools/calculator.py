"""Safe arithmetic for the ``calculation`` task type and the ``calculator`` tool.

The expression is parsed with ``ast.parse(..., mode="eval")`` and evaluated by walking a whitelist
of syntax nodes; nothing is ever compiled or executed, and no name outside the tables below can be
reached. Everything that could grow without bound is checked *before* the work is done: the text
length, the number of syntax elements, the nesting depth, integer magnitudes, exponents, factorial
and rounding arguments. Every refusal is ``Invalid("expression: <reason>", field="expression")``
(HTTP 422).

Semantics (Python's, with three conveniences for people and models):

- ``^`` means power (``2^10`` is ``2**10``); the multiplication sign (U+00D7) and the middle dot
  (U+00B7) multiply, the division sign (U+00F7) divides, and the Unicode minus (U+2212) is a
  minus sign.
- ``/`` of two integers that divides exactly gives an integer (``6/3`` is ``2``), so large exact
  results stay exact; otherwise it gives a float. ``//`` and ``%`` are floor division and modulo.
- Integers are exact up to 10**1000 in magnitude; floats are IEEE doubles, and an overflow to
  infinity or a NaN is refused, never returned.
- ``round`` rounds half to even, like Python (``round(2.5)`` is ``2``).
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from neuronest.errors import Invalid

Number = int | float

NAME: Final = "calculator"
MAX_LENGTH: Final = 1000
MAX_NODES: Final = 500
MAX_DEPTH: Final = 100
MAX_INT: Final = 10**1000
MAX_EXPONENT: Final = 10_000
MAX_ROUND_DIGITS: Final = 1000
_MAX_INT_BITS: Final = MAX_INT.bit_length()


def _largest_factorial_argument() -> int:
    n, value = 0, 1
    while value * (n + 1) <= MAX_INT:
        n += 1
        value *= n
    return n


MAX_FACTORIAL: Final = _largest_factorial_argument()  # 449: 449! is the last below 10**1000

_CONVENIENCES: Final = str.maketrans({"\u2212": "-", "\u00d7": "*", "\u00b7": "*", "\u00f7": "/"})


def _fail(reason: str) -> Invalid:
    return Invalid(f"expression: {reason}", field="expression")


# ---------------------------------------------------------------------------------------------
# Functions and constants


def _as_int(name: str, value: Number) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise _fail(f"{name}() needs a whole number")
        return int(value)
    return value


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise _fail("sqrt() of a negative number")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:
            return root
    return math.sqrt(x)


def _positive(name: str, x: Number) -> None:
    if x <= 0:
        raise _fail(f"{name}() of a number that is not positive")


def _log(x: Number, base: Number | None = None) -> float:
    _positive("log", x)
    if base is None:
        return math.log(x)
    if base <= 0 or base == 1:
        raise _fail("log() base must be positive and not 1")
    return math.log(x, base)


def _log10(x: Number) -> float:
    _positive("log10", x)
    return math.log10(x)


def _log2(x: Number) -> float:
    _positive("log2", x)
    return math.log2(x)


def _unit_interval(name: str, function: Callable[[float], float]) -> Callable[[Number], float]:
    def checked(x: Number) -> float:
        if not -1 <= x <= 1:
            raise _fail(f"{name}() needs a number between -1 and 1")
        return function(x)

    return checked


def _round(x: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return round(x)
    if not isinstance(digits, int):
        raise _fail("round() digits must be a whole number")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise _fail(f"round() digits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
    return round(x, digits)


def _factorial(x: Number) -> int:
    n = _as_int("factorial", x)
    if n < 0:
        raise _fail("factorial() of a negative number")
    if n > MAX_FACTORIAL:
        raise _fail(f"factorial() argument too large (at most {MAX_FACTORIAL})")
    return math.factorial(n)


def _floor(x: Number) -> int:
    return math.floor(x)


def _ceil(x: Number) -> int:
    return math.ceil(x)


def _min(*values: Number) -> Number:
    return min(values)


def _max(*values: Number) -> Number:
    return max(values)


def _hypot(*values: Number) -> float:
    return math.hypot(*values)


@dataclass(frozen=True)
class _Function:
    impl: Callable[..., Number]
    min_args: int
    max_args: int | None  # None: any number
    signature: str


FUNCTIONS: Final[dict[str, _Function]] = {
    "sqrt": _Function(_sqrt, 1, 1, "sqrt(x)"),
    "sin": _Function(math.sin, 1, 1, "sin(x)"),
    "cos": _Function(math.cos, 1, 1, "cos(x)"),
    "tan": _Function(math.tan, 1, 1, "tan(x)"),
    "asin": _Function(_unit_interval("asin", math.asin), 1, 1, "asin(x)"),
    "acos": _Function(_unit_interval("acos", math.acos), 1, 1, "acos(x)"),
    "atan": _Function(math.atan, 1, 1, "atan(x)"),
    "log": _Function(_log, 1, 2, "log(x[, base])"),
    "log10": _Function(_log10, 1, 1, "log10(x)"),
    "log2": _Function(_log2, 1, 1, "log2(x)"),
    "exp": _Function(math.exp, 1, 1, "exp(x)"),
    "abs": _Function(abs, 1, 1, "abs(x)"),
    "round": _Function(_round, 1, 2, "round(x[, digits])"),
    "floor": _Function(_floor, 1, 1, "floor(x)"),
    "ceil": _Function(_ceil, 1, 1, "ceil(x)"),
    "min": _Function(_min, 1, None, "min(a, b, ...)"),
    "max": _Function(_max, 1, None, "max(a, b, ...)"),
    "factorial": _Function(_factorial, 1, 1, "factorial(n)"),
    "hypot": _Function(_hypot, 1, None, "hypot(x, y, ...)"),
}

CONSTANTS: Final[dict[str, float]] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: Final[dict[type[ast.operator], str]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_OTHER_OPERATORS: Final[dict[type[Any], str]] = {
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^ (bitwise)",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Not: "not",
}
_REFUSED_SYNTAX: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Compare: "comparisons are not supported",
    ast.BoolOp: "and/or are not supported",
    ast.IfExp: "conditional expressions are not supported",
    ast.NamedExpr: "assignment is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Starred: "unpacking is not allowed",
    ast.Slice: "slices are not allowed",
}


def describe() -> str:
    """A short description of what `evaluate` accepts, for tool descriptions given to a model."""
    functions = ", ".join(function.signature for function in FUNCTIONS.values())
    return (
        "Evaluates one arithmetic expression safely and returns the number. "
        "Operators: + - * / // (floor division) % (modulo) ** (power, also written ^), "
        "unary + and -, parentheses. "
        f"Functions: {functions}. Trigonometry uses radians. "
        f"Constants: {', '.join(CONSTANTS)}. "
        "Integers are exact (6/3 gives 2); other results are floating point. "
        f"Limits: at most {MAX_LENGTH} characters, integers up to 10**{len(str(MAX_INT)) - 1}, "
        f"exponents up to {MAX_EXPONENT}, factorial up to {MAX_FACTORIAL}. "
        "No variables, comparisons or strings. Examples: 2*(3+4), sqrt(2)/2, log(8, 2), 2^64."
    )


# ---------------------------------------------------------------------------------------------
# Parsing and validation


def _parse(expression: object) -> ast.Expression:
    if not isinstance(expression, str):
        raise _fail("must be a string")
    if len(expression) > MAX_LENGTH:
        raise _fail(f"too long ({len(expression)} characters, at most {MAX_LENGTH})")
    text = expression.translate(_CONVENIENCES).replace("^", "**").strip()
    if not text:
        raise _fail("empty")
    if "'" in text or '"' in text:
        raise _fail("strings are not allowed")
    try:
        # Tokenizer warnings (e.g. "invalid decimal literal" in `1if`) become syntax errors.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if "too many nested" in (exc.msg or ""):
            raise _fail("too deeply nested") from None
        raise _fail(f"invalid syntax ({exc.msg})" if exc.msg else "invalid syntax") from None
    except (ValueError, Warning):
        raise _fail("invalid syntax") from None
    except (RecursionError, MemoryError):
        raise _fail("too deeply nested") from None


def _check_constant(value: object) -> None:
    if isinstance(value, bool) or value is None or value is Ellipsis:
        raise _fail(f"{value!r} is not a number")
    if isinstance(value, str | bytes):
        raise _fail("strings are not allowed")
    if isinstance(value, complex):
        raise _fail("complex numbers are not supported")
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _fail("number too large (at most 10**1000)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _fail("number too large for floating point")
    else:  # pragma: no cover - the parser produces no other constants
        raise _fail(f"unsupported value {value!r}")


def _check_call(node: ast.Call) -> None:
    func = node.func
    if not isinstance(func, ast.Name):
        if isinstance(func, ast.Attribute):
            raise _fail("attribute access is not allowed")
        raise _fail("only the listed functions can be called")
    name = func.id
    if name not in FUNCTIONS:
        if name in CONSTANTS:
            raise _fail(f'"{name}" is a constant, not a function')
        raise _fail(f'unknown function "{name}"')
    if node.keywords:
        raise _fail("keyword arguments are not supported")
    spec = FUNCTIONS[name]
    count = len(node.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        if spec.max_args is None:
            expected = f"at least {spec.min_args} argument{'s' if spec.min_args > 1 else ''}"
        elif spec.min_args == spec.max_args:
            expected = f"{spec.min_args} argument{'s' if spec.min_args > 1 else ''}"
        else:
            expected = f"{spec.min_args} or {spec.max_args} arguments"
        raise _fail(f"{spec.signature} takes {expected} ({count} given)")


def _validate(tree: ast.Expression) -> None:
    """Refuse anything outside the whitelist, too many elements, or too deep a nesting.

    Iterative, so a hostile tree cannot exhaust the stack here. Depth counts what `_eval` recurses
    on: the left operand of a binary operation is evaluated in a loop, so `1+2+...+n` is flat.
    """
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _fail(f"too complex (more than {MAX_NODES} elements)")
        if depth > MAX_DEPTH:
            raise _fail(f"too deeply nested (more than {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            _check_constant(node.value)
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise _fail(f'"{node.id}" is a function; call it like {node.id}(x)')
            if node.id not in CONSTANTS:
                raise _fail(f'unknown name "{node.id}"')
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                symbol = _OTHER_OPERATORS.get(type(node.op), type(node.op).__name__)
                raise _fail(f"operator {symbol} is not supported")
            stack.append((node.right, depth + 1))
            stack.append((node.left, depth))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.UAdd | ast.USub):
                symbol = _OTHER_OPERATORS.get(type(node.op), type(node.op).__name__)
                raise _fail(f"operator {symbol} is not supported")
            stack.append((node.operand, depth + 1))
        elif isinstance(node, ast.Call):
            _check_call(node)
            stack.extend((argument, depth + 1) for argument in reversed(node.args))
        else:
            reason = _REFUSED_SYNTAX.get(type(node))
            raise _fail(reason or f"unsupported syntax ({type(node).__name__})")


# ---------------------------------------------------------------------------------------------
# Evaluation


def _checked(value: object) -> Number:
    if isinstance(value, bool):  # pragma: no cover - no operation here yields a bool
        return int(value)
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _fail("result too large (at most 10**1000)")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise _fail("result is not a number")
        if math.isinf(value):
            raise _fail("result too large for floating point")
        return value
    if isinstance(value, complex):
        raise _fail("result is not a real number")
    raise _fail("result is not a number")  # pragma: no cover


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int):
        if exponent == 0 or abs(base) <= 1:
            if base == 0 and exponent < 0:
                raise ZeroDivisionError
            trivial: Number = base**exponent  # 0, 1 or -1 to any power: cheap
            return trivial
        if abs(exponent) > MAX_EXPONENT:
            raise _fail(f"exponent too large (at most {MAX_EXPONENT})")
        if exponent < 0:
            return math.pow(base, exponent)
        # |base| ** exponent >= 2 ** ((bits - 1) * exponent): refuse before computing anything.
        if (abs(base).bit_length() - 1) * exponent > _MAX_INT_BITS:
            raise _fail("result too large (at most 10**1000)")
        power: int = base**exponent
        return power
    if base < 0 and isinstance(exponent, float) and not exponent.is_integer():
        raise _fail("negative number raised to a fractional power")
    if base == 0 and exponent < 0:
        raise ZeroDivisionError
    return math.pow(base, exponent)


def _divide(left: Number, right: Number) -> Number:
    if right == 0:
        raise ZeroDivisionError
    if isinstance(left, int) and isinstance(right, int) and left % right == 0:
        return left // right
    return left / right


def _apply(op: ast.operator, left: Number, right: Number) -> Number:
    try:
        if isinstance(op, ast.Add):
            result: object = left + right
        elif isinstance(op, ast.Sub):
            result = left - right
        elif isinstance(op, ast.Mult):
            result = left * right
        elif isinstance(op, ast.Div):
            result = _divide(left, right)
        elif isinstance(op, ast.FloorDiv):
            result = left // right
        elif isinstance(op, ast.Mod):
            result = left % right
        else:
            result = _power(left, right)
    except ZeroDivisionError:
        raise _fail("division by zero") from None
    except OverflowError:
        raise _fail("number too large for floating point") from None
    return _checked(result)


def _call(name: str, arguments: list[Number]) -> Number:
    try:
        result: object = FUNCTIONS[name].impl(*arguments)
    except ZeroDivisionError:
        raise _fail(f"{name}(): division by zero") from None
    except OverflowError:
        raise _fail(f"{name}(): number too large for floating point") from None
    except ValueError:
        raise _fail(f"{name}(): argument out of range") from None
    return _checked(result)


def _eval(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand)
        return operand if isinstance(node.op, ast.UAdd) else _checked(-operand)
    if isinstance(node, ast.BinOp):
        chain: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            chain.append(current)
            current = current.left
        result = _eval(current)
        for binop in reversed(chain):
            result = _apply(binop.op, result, _eval(binop.right))
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id, [_eval(argument) for argument in node.args])
    raise _fail(f"unsupported syntax ({type(node).__name__})")  # pragma: no cover (validated)


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression; raise `Invalid` (field ``expression``) on any problem."""
    tree = _parse(expression)
    _validate(tree)
    return _eval(tree.body)


def format_number(value: int | float) -> str:
    """A clean text form: integers in full, floats with up to 12 significant digits.

    ``2.0`` gives ``"2"``, ``0.1 + 0.2`` gives ``"0.3"``, ``1/3`` gives ``"0.333333333333"``;
    numbers from 1e-6 up to 1e15 are written without an exponent, others like ``1.5e-7``, ``1e20``.
    """
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    rounded = f"{value:.12g}"
    magnitude = abs(float(rounded))
    if 1e-6 <= magnitude < 1e15:
        text = format(Decimal(rounded), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, _, exponent = rounded.partition("e")
    return f"{mantissa}e{int(exponent)}"


def calculate(expression: str) -> str:
    """Evaluate and format: what the tool hands back to a model and the task puts in ``text``."""
    return format_number(evaluate(expression))


PARAMETERS: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "expression": {
            "type": "string",
            "description": "An arithmetic expression, e.g. 2*(3+4) or sqrt(2)/2.",
            "maxLength": MAX_LENGTH,
        }
    },
    "required": ["expression"],
    "additionalProperties": False,
}
