"""Pareto dominance, non-dominated sorting, crowding distance and hypervolume.

Points are tuples of *gains*: every coordinate is signed so that larger is better (see
:meth:`finesweep.objective.goals.Objective.gains`). The sort and the crowding distance follow
NSGA-II (Deb, Pratap, Agarwal and Meyarivan, "A fast and elitist multiobjective genetic algorithm:
NSGA-II", IEEE TEVC 2002), which MO-ASHA uses to rank each rung (Schmucker et al., arXiv
2106.12639). The hypervolume is the exact slicing method (While et al., "A faster algorithm for
calculating hypervolume", IEEE TEVC 2006), fine for the tens of trials a sweep has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def non_dominated_ranks(points: Sequence[Point]) -> list[int]:
    """Each point's front: 0 for the Pareto front, 1 for the front once that is removed, and so on."""
    count = len(points)
    dominated_by = [0] * count  # how many points dominate point i
    dominating: list[list[int]] = [[] for _ in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [0] * count
    front = [i for i in range(count) if dominated_by[i] == 0]
    level = 0
    while front:
        following = []
        for i in front:
            ranks[i] = level
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        front, level = following, level + 1
    return ranks


def crowding_distances(points: Sequence[Point], members: Sequence[int]) -> dict[int, float]:
    """NSGA-II's crowding distance of each point of one front (the ends of each axis get infinity)."""
    distance = {i: 0.0 for i in members}
    if len(members) <= 2:
        return {i: math.inf for i in members}
    for axis in range(len(points[members[0]])):
        ordered = sorted(members, key=lambda i: points[i][axis])
        low, high = points[ordered[0]][axis], points[ordered[-1]][axis]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, here, after in zip(ordered, ordered[1:], ordered[2:]):
            distance[here] += (points[after][axis] - points[before][axis]) / (high - low)
    return distance


def priority_order(points: Sequence[Point]) -> list[int]:
    """Indices best first: by front, then by crowding distance within a front (most isolated first),
    then by index (stable)."""
    ranks = non_dominated_ranks(points)
    crowding: dict[int, float] = {}
    for level in set(ranks):
        crowding.update(crowding_distances(points, [i for i, r in enumerate(ranks) if r == level]))
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowding[i], i))


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (equal points are all kept)."""
    return [i for i, rank in enumerate(non_dominated_ranks(points)) if rank == 0]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The volume dominated by ``points`` and bounded below by ``reference`` (gains: larger is
    better, so ``reference`` is a point worse than all of them on every axis)."""
    inside = [tuple(p) for p in points if all(x > r for x, r in zip(p, reference))]
    return _slice_volume(inside, tuple(reference))


def _slice_volume(points: list[tuple[float, ...]], reference: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(reference) == 1:
        return max(p[0] for p in points) - reference[0]
    # slice along the last axis: between consecutive levels, the (d-1)-volume of the points above
    ordered = sorted(points, key=lambda p: p[-1], reverse=True)
    volume, above = 0.0, []
    for index, point in enumerate(ordered):
        above.append(point[:-1])
        lower = ordered[index + 1][-1] if index + 1 < len(ordered) else reference[-1]
        if point[-1] > lower:
            volume += _slice_volume([p for p in above if not _dominated_in(p, above)], reference[:-1]) * (point[-1] - lower)
    return volume


def _dominated_in(point: tuple[float, ...], others: list[tuple[float, ...]]) -> bool:
    return any(dominates(other, point) for other in others)
