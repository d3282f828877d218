"""`synthetic`: FedProx's Synthetic(alpha, beta) (Li et al. 2020, Section 5.1), by the
recipe of its released generator (`data/synthetic_*/generate_synthetic.py`).

Device `k` holds `n_k = floor(lognormal(4, 2)) + 50` examples (power-law sizes) of
`x in R^60` with labels `y = argmax(softmax(W_k x + b_k))` over 10 classes, where

* `W_k [60, 10]`, `b_k [10]` ~ N(u_k, 1), `u_k ~ N(0, alpha)`: models differ by alpha;
* `x ~ N(v_k, Sigma)`, `Sigma = diag(j^-1.2)`, `v_k ~ N(B_k, 1)`, `B_k ~ N(0, beta)`:
  features differ by beta.

The generator passes alpha and beta as standard deviations (`np.random.normal(0,
alpha)`), and so does fedrun. The IID variant (`iid: true`) draws one `W, b ~
N(0, 1)` for every device and `v_k = 0`. The paper uses 30 devices; each device's
examples are split inside the device, the first `floor((1 - test_fraction) n_k)`
for training and the rest for testing: the released generator's 90/10 split is the
default.

Everything is generated on demand from `(seed, device index)`: building the source
draws nothing, a device's examples are drawn when first asked for (the last
`cache_clients` devices are kept), and its size comes from a counter-based hash of
`(seed, index)`, so `num_examples` costs microseconds, no generation and no
per-client table. A source of a million devices therefore starts at once, in memory
that grows only with the devices a run touches. Each device draws from its own generator, so the joint
distribution is the recipe's although the random stream differs from the
generator's single global stream.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
from typing import Iterator, NamedTuple, Optional, Sequence, Union, overload

import numpy as np
import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.data.client_data import Arrays, ClientData, FederatedData
from fedrun.data.registry import DATASETS, DataContext

_STREAM = 0x5F7E7  # separates this source's random streams from other uses of the seed
_LOGNORMAL_MEAN, _LOGNORMAL_SIGMA, _MIN_EXAMPLES = 4.0, 2.0, 50


@dataclasses.dataclass(frozen=True)
class SyntheticParams:
    """The `dataset:` node of `type: synthetic`.

    Attributes:
        alpha: Spread of the devices' models (std of u_k).
        beta: Spread of the devices' features (std of B_k).
        iid: The IID variant (one shared model, v_k = 0); alpha and beta unused.
        num_clients: Number of devices.
        dimension: Features per example (60 in the paper).
        num_classes: Classes (10 in the paper).
        test_fraction: Fraction of each device's examples kept for its test split.
        max_examples: Cap on a device's examples (null: the recipe's uncapped sizes,
            whose log-normal tail reaches millions among millions of devices).
        cache_clients: Generated devices kept in memory.
    """

    alpha: float = bounded(1.0, ge=0)
    beta: float = bounded(1.0, ge=0)
    iid: bool = False
    num_clients: int = bounded(30, ge=1)
    dimension: int = bounded(60, ge=1)
    num_classes: int = bounded(10, ge=2)
    test_fraction: float = bounded(0.1, ge=0, lt=1)
    max_examples: Optional[int] = bounded(None, ge=_MIN_EXAMPLES)
    cache_clients: int = bounded(64, ge=0)


_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """SplitMix64's finalizer: a bijective scramble of a 64-bit integer."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@functools.lru_cache(maxsize=64)
def _stream_key(seed: int, stream: int) -> int:
    return _mix((seed * 4 + stream) & _MASK)


def _uniform(seed: int, index: int, stream: int) -> float:
    """A uniform number in (0, 1), a pure function of (seed, index, stream)."""
    bits = _mix(_mix((index & _MASK) ^ _stream_key(seed, stream)))
    return ((bits >> 11) + 0.5) * 2.0**-53


def example_count(seed: int, index: int, max_examples: Optional[int] = None) -> int:
    """`n_k = floor(lognormal(4, 2)) + 50` of device `index`, without generating its data.

    Plain integer and `math` arithmetic (a few microseconds), so reading the size of
    every device of a large population stays cheap.
    """
    u1, u2 = _uniform(seed, index, 0), _uniform(seed, index, 1)
    normal = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller
    count = (
        math.floor(math.exp(min(_LOGNORMAL_MEAN + _LOGNORMAL_SIGMA * normal, 700.0)))
        + _MIN_EXAMPLES
    )
    return count if max_examples is None else min(count, max_examples)


class DeviceModel(NamedTuple):
    """The generative parameters of one device.

    Attributes:
        weights: `W_k` `[dimension, num_classes]`.
        bias: `b_k` `[num_classes]`.
        feature_mean: `v_k` `[dimension]`.
    """

    weights: np.ndarray
    bias: np.ndarray
    feature_mean: np.ndarray


class SyntheticPopulation:
    """Devices of Synthetic(alpha, beta), generated on demand.

    Args:
        params: The recipe's parameters.
        seed: The run's seed.
    """

    def __init__(self, params: SyntheticParams, seed: int) -> None:
        self.params = params
        self.seed = int(seed)
        self.feature_std = np.power(np.arange(1, params.dimension + 1, dtype=np.float64), -1.2 / 2)
        self._cache: "collections.OrderedDict[int, tuple[np.ndarray, np.ndarray]]" = (
            collections.OrderedDict()
        )
        self._shared: Optional[DeviceModel] = None

    @property
    def num_cached(self) -> int:
        """How many generated devices are held in memory."""
        return len(self._cache)

    def num_examples(self, index: int) -> int:
        """`n_k` of device `index` (train and test together)."""
        return example_count(self.seed, index, self.params.max_examples)

    def num_train(self, index: int) -> int:
        """How many of device `index`'s examples are in its train split."""
        return int((1.0 - self.params.test_fraction) * self.num_examples(index))

    def model(self, index: int) -> DeviceModel:
        """`W_k`, `b_k` and `v_k` of device `index`."""
        p = self.params
        if p.iid:
            if self._shared is None:
                rng = np.random.default_rng([self.seed, _STREAM, 1])
                weights = rng.normal(0.0, 1.0, (p.dimension, p.num_classes))
                self._shared = DeviceModel(
                    weights, rng.normal(0.0, 1.0, p.num_classes), np.zeros(p.dimension)
                )
            return self._shared
        rng = self._device_rng(index, 0)
        model_mean = rng.normal(0.0, p.alpha)  # u_k (the generator uses it for W_k and b_k)
        feature_center = rng.normal(0.0, p.beta)  # B_k
        feature_mean = rng.normal(feature_center, 1.0, p.dimension)  # v_k
        weights = rng.normal(model_mean, 1.0, (p.dimension, p.num_classes))
        bias = rng.normal(model_mean, 1.0, p.num_classes)
        return DeviceModel(weights, bias, feature_mean)

    def _device_rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _STREAM, 0, int(index), stream])

    def examples(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """All of device `index`'s examples: x float32 `[n_k, dimension]`, y int32 `[n_k]`."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        model = self.model(index)
        rng = self._device_rng(index, 1)
        noise = rng.standard_normal((self.num_examples(index), self.params.dimension))
        x = model.feature_mean + noise * self.feature_std  # N(v_k, diag(j^-1.2))
        # argmax of softmax(x W + b) is the argmax of the logits.
        y = np.argmax(x @ model.weights + model.bias, axis=1)
        result = (x.astype(np.float32), y.astype(np.int32))
        if self.params.cache_clients > 0:
            self._cache[index] = result
            if len(self._cache) > self.params.cache_clients:
                self._cache.popitem(last=False)
        return result


class DeviceIds(Sequence[str]):
    """The ids `<prefix>_<index>` of `count` devices, computed when indexed (never listed).

    Args:
        prefix: Id prefix.
        count: Number of devices.
    """

    def __init__(self, prefix: str, count: int) -> None:
        self.prefix = prefix
        self.size = int(count)
        self.width = len(str(max(self.size - 1, 0)))

    def __len__(self) -> int:
        return self.size

    def id_of(self, index: int) -> str:
        return f"{self.prefix}_{index:0{self.width}d}"

    @overload
    def __getitem__(self, position: int) -> str: ...

    @overload
    def __getitem__(self, position: slice) -> list[str]: ...

    def __getitem__(self, position: Union[int, slice]) -> Union[str, list[str]]:
        if isinstance(position, slice):
            return [self.id_of(i) for i in range(*position.indices(self.size))]
        index = int(position) + (self.size if int(position) < 0 else 0)
        if not 0 <= index < self.size:
            raise IndexError(f"device position {position} out of range for {self.size} devices")
        return self.id_of(index)

    def __iter__(self) -> Iterator[str]:
        return (self.id_of(i) for i in range(self.size))

    def index_of(self, client_id: str) -> int:
        """The device index of an id; KeyError if it is not one of these ids."""
        head, _, digits = client_id.rpartition("_")
        if (
            head != self.prefix
            or not digits.isdigit()
            or len(digits) != self.width
            or int(digits) >= self.size
        ):
            raise KeyError(client_id)
        return int(digits)

    def __contains__(self, client_id: object) -> bool:
        if not isinstance(client_id, str):
            return False
        try:
            self.index_of(client_id)
        except KeyError:
            return False
        return True

    def index(self, client_id: object, start: int = 0, stop: Optional[int] = None) -> int:
        if not isinstance(client_id, str) or client_id not in self:
            raise ValueError(f"{client_id!r} is not a device id")
        position = self.index_of(client_id)
        if not start <= position < (self.size if stop is None else stop):
            raise ValueError(f"{client_id!r} is not in the requested range")
        return position


class SyntheticClientData(ClientData):
    """One split (train or test) of every device of a `SyntheticPopulation`.

    Args:
        population: The devices.
        ids: Their ids.
        train: The train split (the first examples) or the test split (the rest).
    """

    def __init__(self, population: SyntheticPopulation, ids: DeviceIds, train: bool) -> None:
        self._population = population
        self._ids = ids
        self._train = train

    @property
    def population(self) -> SyntheticPopulation:
        """The devices this split views."""
        return self._population

    @property
    def client_ids(self) -> Sequence[str]:
        return self._ids

    @property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        return {
            "x": tf.TensorSpec([self._population.params.dimension], tf.float32),
            "y": tf.TensorSpec([], tf.int32),
        }

    def _bounds(self, index: int) -> tuple[int, int]:
        cut = self._population.num_train(index)
        return (0, cut) if self._train else (cut, self._population.num_examples(index))

    def arrays_for(self, client_id: str) -> Arrays:
        index = self._ids.index_of(client_id)
        start, stop = self._bounds(index)
        x, y = self._population.examples(index)
        return {"x": x[start:stop], "y": y[start:stop]}

    def num_examples(self, client_id: str) -> int:
        start, stop = self._bounds(self._ids.index_of(client_id))
        return stop - start


@DATASETS.register("synthetic", SyntheticParams)
def build(p: SyntheticParams, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """FedProx's Synthetic(alpha, beta) or its IID variant, generated on demand."""
    population = SyntheticPopulation(p, context.seed)
    ids = DeviceIds("synthetic", p.num_clients)
    test = SyntheticClientData(population, ids, train=False) if p.test_fraction > 0 else None
    return FederatedData(
        "synthetic", SyntheticClientData(population, ids, train=True), test, None, p.num_classes
    )


__all__ = ["DeviceIds", "SyntheticParams", "SyntheticPopulation", "example_count"]
