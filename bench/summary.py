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
    ok: bool  # the aim is met

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
            f"| {'yes' if line.ok else 'NO'} |"
        )
    return "\n".join(rows)
