"""Clients packed one after another into fewer lanes (vectorized training on CPU).

A vectorized call steps every lane until its longest client ends, so a cohort of
unequal clients computes many padding steps: the tutorial's 10 clients of 14 to 35
steps take 10 x 35 = 350 lane-steps for 230 real ones. Packing puts several
clients in one lane, one after another: when a client's last step is done its
weights and metrics are kept, and the lane starts the next client from the
global weights with a fresh optimizer state and that client's own random state.
Every client still computes exactly what it computes alone, so results equal
`sequential`'s.

Lanes are filled longest client first, each to the least loaded lane (the
longest-processing-time rule). How many lanes: on a CPU a step over `L` lanes
costs about `a + b L`; for W1's logistic regression under XLA one lane took 182 us
a step, five 341 us and ten 596 us, so `a` is about three lanes' work, and the
count minimizing `(L + FIXED_LANES) x longest lane` is used. On a GPU wide steps
cost about what narrow ones do, so there the cohort is not packed.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Sequence

import numpy as np

# A step's fixed cost, in lanes' worth of work (see the module docstring).
FIXED_LANES = 3


@dataclasses.dataclass(frozen=True)
class PackedSchedule:
    """A cohort's batch schedule laid out over lanes.

    Attributes:
        index: int64 `[L, T, B]` pool positions of each lane's steps.
        mask: float32 `[L, T, B]`, 1 for real examples (0 after a lane's last client).
        client: int32 `[L, T]` the cohort position of the client each step trains.
        starts: bool `[L, T]`, True at a client's first step.
        ends: bool `[L, T]`, True at a client's last step.
    """

    index: np.ndarray
    mask: np.ndarray
    client: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @property
    def lane_steps(self) -> int:
        """Steps of the longest lane."""
        return int(self.index.shape[1])


def assign_lanes(steps: Sequence[int], lanes: int) -> list[list[int]]:
    """Clients (positions into `steps`) per lane, longest client first to the least
    loaded lane; clients without steps are left out."""
    heap = [(0, lane) for lane in range(lanes)]
    assignment: list[list[int]] = [[] for _ in range(lanes)]
    for client in sorted(range(len(steps)), key=lambda k: (-steps[k], k)):
        if steps[client] <= 0:
            continue
        load, lane = heapq.heappop(heap)
        assignment[lane].append(client)
        heapq.heappush(heap, (load + int(steps[client]), lane))
    return assignment


def longest_lane(steps: Sequence[int], lanes: int) -> int:
    """Steps of the longest lane when `steps` are packed into `lanes` lanes."""
    return max((sum(steps[k] for k in lane) for lane in assign_lanes(steps, lanes)), default=0)


def choose_lanes(steps: Sequence[int]) -> int:
    """The lane count (1 to the number of clients) with the least modelled CPU cost,
    `(lanes + FIXED_LANES) x longest lane`; ties go to more lanes (a shorter loop)."""
    best, best_cost = max(len(steps), 1), None
    for lanes in range(max(len(steps), 1), 0, -1):
        cost = (lanes + FIXED_LANES) * longest_lane(steps, lanes)
        if best_cost is None or cost < best_cost:
            best, best_cost = lanes, cost
    return best


def pack_schedule(index: np.ndarray, mask: np.ndarray, lanes: int) -> PackedSchedule:
    """The cohort's `[K, S, B]` schedule packed into `lanes` lanes.

    Each client's real steps (its prefix of non-empty steps) follow one another in
    its lane; the lane's tail after its last client is padding (mask 0).
    """
    steps = [int(s) for s in np.sum(np.sum(mask, axis=2) > 0, axis=1)]
    assignment = assign_lanes(steps, lanes)
    length = max((sum(steps[k] for k in lane) for lane in assignment), default=0)
    batch = index.shape[2]
    packed_index = np.zeros((lanes, length, batch), np.int64)
    packed_mask = np.zeros((lanes, length, batch), np.float32)
    client = np.zeros((lanes, length), np.int32)
    starts = np.zeros((lanes, length), bool)
    ends = np.zeros((lanes, length), bool)
    for lane, members in enumerate(assignment):
        at = 0
        for k in members:
            n = steps[k]
            packed_index[lane, at : at + n] = index[k, :n]
            packed_mask[lane, at : at + n] = mask[k, :n]
            client[lane, at : at + n] = k
            starts[lane, at] = True
            ends[lane, at + n - 1] = True
            at += n
    return PackedSchedule(packed_index, packed_mask, client, starts, ends)


__all__ = ["PackedSchedule", "assign_lanes", "choose_lanes", "longest_lane", "pack_schedule"]
