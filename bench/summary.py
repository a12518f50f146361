"""The closing table: each of our figures next to its peer's from the same run, with the aim."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    figure: str
    ours: float
    peer_label: str
    peer: float
    unit: str
    aim: str
    ok: bool | None = None  # the aim is met; None: no aim for this figure

    @property
    def ratio(self) -> float:
        return self.ours / self.peer if self.peer else 0.0


def table(lines: list[Line]) -> str:
    rows = [
        "| figure | NeuroNest | peer (same run) | peer | ours / peer | aim | met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for line in lines:
        rows.append(
            f"| {line.figure} | {line.ours:,.2f} {line.unit} | {line.peer_label} "
            f"| {line.peer:,.2f} {line.unit} | {line.ratio:.2f}x | {line.aim} "
            f"| {'' if line.ok is None else 'yes' if line.ok else 'NO'} |"
        )
    return "\n".join(rows)
