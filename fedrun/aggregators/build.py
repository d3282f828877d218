"""The aggregator tree from YAML -> factories.

A node names a registered factory by `type` (or a user's class by `_target_`) and
holds its children under the slot names the factory declares:

    aggregator:
      type: mean
      value_sum:
        type: clipping
        norm: 1.0
        inner: {type: secure_sum, bits: 20}

Register a factory with `register_aggregator(name, params, children=(...))`: its
builder is called as `builder(params, context, **children)` with the parsed
parameters, the run's `AggregatorContext`, and the built children as keyword
arguments (a missing child is not passed, so the factory's default applies).

Children must be unweighted (sum-like) factories, except the one slot a wrapper
names as `wraps`: the wrapper follows that child's weightedness. Slots listed in
`required` must be present. A builder reports a bad parameter of its node by
raising `ParameterError(key, ...)`; `build_factory` turns it into a `ConfigError`
at the node's path joined with `key`.

Each node's builder sees `context.seed` derived from the run's seed and the node's
config path, so two nodes of one tree never share random streams.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, Callable, Mapping, Optional, Sequence

from fedrun.aggregators.factory import AggregationFactory, supports_unweighted, supports_weighted
from fedrun.aggregators.mean import MeanFactory
from fedrun.aggregators.sum import SumFactory
from fedrun.config.errors import ConfigError, join_path
from fedrun.config.registry import TARGET_KEY, Choice, Registry, load_target

AGGREGATORS: Registry[AggregationFactory] = Registry("aggregator")


@dataclasses.dataclass(frozen=True)
class AggregatorContext:
    """Run facts some factories need at build time (passed, never read from YAML).

    Attributes:
        clients_per_round: Cohort size (bit widths that must not overflow, DP sampling).
        num_clients: Population size (DP sampling rate = clients_per_round / num_clients).
        rounds: Rounds the run will train (privacy budgets).
        seed: The run's seed; builders receive a seed derived from it and their
            node's config path (stochastic rounding, masks, noise).
        sampling: How cohorts are drawn (the `sampling` option's name, DP
            accounting); a user's own sampler is `custom`.
    """

    clients_per_round: int = 10
    num_clients: int = 100
    rounds: int = 1
    seed: int = 0
    sampling: str = "uniform"


class ParameterError(ValueError):
    """A builder's complaint about one parameter of its own node.

    Attributes:
        key: The parameter's key within the node (dotted for nested keys).
        problem: What is wrong.
        value: The offending value.
        allowed: What would be accepted.
    """

    def __init__(self, key: str, problem: str, value: Any, allowed: Any = None) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
        self.value = value
        self.allowed = allowed


@dataclasses.dataclass(frozen=True)
class NoParams:
    """An aggregator without parameters."""


_CHILD_SLOTS: dict[str, tuple[str, ...]] = {}
_REQUIRED_SLOTS: dict[str, tuple[str, ...]] = {}
_WRAPPED_SLOT: dict[str, str] = {}


def register_aggregator(
    name: str,
    params: type = NoParams,
    children: Sequence[str] = (),
    required: Sequence[str] = (),
    wraps: Optional[str] = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `builder(params, context, **children)` under `name`.

    Args:
        name: The `type` name in configs.
        params: Frozen dataclass of the node's parameters.
        children: Slot names of child aggregators.
        required: Slots that must be given.
        wraps: The slot whose weightedness this node follows (may be weighted);
            every other child must be unweighted.
    """
    # Builders are typed `Any`: `FollowsInner` wrappers become factories only through the
    # variant class their constructor picks, which a type checker cannot follow.
    _CHILD_SLOTS[name] = tuple(children)
    _REQUIRED_SLOTS[name] = tuple(required)
    if wraps is not None:
        _WRAPPED_SLOT[name] = wraps
    return AGGREGATORS.register(name, params)


def node_seed(run_seed: int, path: str) -> int:
    """A node's seed: the run's seed mixed with the node's config path (stable across processes)."""
    return zlib.crc32(f"{run_seed}:{path}".encode())


def child_slots(name: str) -> tuple[str, ...]:
    """The child slot names of a registered aggregator."""
    return _CHILD_SLOTS.get(name, ())


@dataclasses.dataclass(frozen=True)
class MeanParams:
    no_nan_division: bool = False


@register_aggregator("sum")
def _sum(p: NoParams, context: AggregatorContext) -> AggregationFactory:
    """Plain sum."""
    return SumFactory()


@register_aggregator("mean", MeanParams, children=("value_sum", "weight_sum"))
def _mean(
    p: MeanParams, context: AggregatorContext, value_sum: Any = None, weight_sum: Any = None
) -> AggregationFactory:
    """Weighted or unweighted mean with inner sums."""
    return MeanFactory(value_sum, weight_sum, p.no_nan_division)


def _is_node(value: Any) -> bool:
    return isinstance(value, Mapping) and ("type" in value or TARGET_KEY in value)


@dataclasses.dataclass(frozen=True)
class AggregatorSpec:
    """A parsed aggregator node with its parsed children; `build_tree` makes the factories.

    Attributes:
        path: The node's config path.
        name: The registered `type`, or the dotted `_target_` name.
        choice: The registered option and its parameters (None for a `_target_`).
        target: The user's factory class (None for a registered option).
        children: `(slot, spec)` of each child node given.
        kwargs: A `_target_` node's other (non-node) arguments.
    """

    path: str
    name: str
    choice: Optional[Choice[AggregationFactory]] = None
    target: Optional[Callable[..., Any]] = None
    children: tuple[tuple[str, AggregatorSpec], ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()


def parse_aggregator(node: Any, path: str, allowed_targets: Sequence[str] = ()) -> AggregatorSpec:
    """Checks the tree rooted at `node` (names, parameters, required children); builds nothing."""
    import fedrun.aggregators.library  # noqa: F401  (registers the built-in factories)

    if isinstance(node, Mapping) and TARGET_KEY in node:
        cls = load_target(node[TARGET_KEY], path, allowed_targets)
        items = [(str(k), v) for k, v in node.items() if k != TARGET_KEY]
        return AggregatorSpec(
            path,
            str(node[TARGET_KEY]),
            target=cls,
            children=tuple(
                (k, parse_aggregator(v, join_path(path, k), allowed_targets))
                for k, v in items
                if _is_node(v)
            ),
            kwargs=tuple((k, v) for k, v in items if not _is_node(v)),
        )
    choice = AGGREGATORS.choose(node, path, ignore=_CHILD_SLOTS.get(_name_of(node), ()))
    children = []
    for slot in child_slots(choice.name):
        child_path = join_path(path, slot)
        if slot in node and node[slot] is not None:
            children.append((slot, parse_aggregator(node[slot], child_path, allowed_targets)))
        elif slot in _REQUIRED_SLOTS.get(choice.name, ()):
            raise ConfigError(
                child_path,
                f"aggregator {choice.name!r} needs a child aggregator here (a node with 'type')",
            )
    return AggregatorSpec(path, choice.name, choice=choice, children=tuple(children))


def build_tree(spec: AggregatorSpec, context: AggregatorContext) -> AggregationFactory:
    """Constructs the factories of a parsed tree (children first), each once."""
    children = {slot: build_tree(child, context) for slot, child in spec.children}
    if spec.target is not None:
        try:
            return spec.target(**dict(spec.kwargs), **children)
        except TypeError as err:
            raise ConfigError(spec.path, f"cannot construct {spec.name}: {err}") from None
    assert spec.choice is not None  # parse_aggregator sets one of the two
    for slot, child_spec in spec.children:
        if slot != _WRAPPED_SLOT.get(spec.name) and not supports_unweighted(children[slot]):
            raise ConfigError(
                child_spec.path,
                f"'{slot}' needs an unweighted factory (a sum-like aggregator)",
                child_spec.name,
            )
    try:
        return spec.choice.build(
            context=dataclasses.replace(context, seed=node_seed(context.seed, spec.path)),
            **children,
        )
    except ParameterError as err:
        raise ConfigError(
            join_path(spec.path, err.key), err.problem, err.value, err.allowed
        ) from None
    except ValueError as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(spec.path, str(err)) from None


def check_weighting(
    factory: AggregationFactory, weighted: bool, path: str, name: str
) -> AggregationFactory:
    """`factory` if its weighting fits an algorithm that does (not) weight client updates.

    Args:
        factory: The root factory.
        weighted: Whether the algorithm weights client updates.
        path: The root node's config path, for messages.
        name: The root node's `type` (or `_target_`), for messages.
    """
    if weighted and not supports_weighted(factory):
        raise ConfigError(
            path,
            "this algorithm weights client updates, so the root aggregator must be weighted "
            "(put sum-like aggregators under mean's value_sum)",
            name,
        )
    if not weighted and not supports_unweighted(factory):
        raise ConfigError(
            path,
            "this algorithm does not weight client updates; use an unweighted aggregator",
            name,
        )
    return factory


def build_factory(
    node: Any,
    path: str,
    allowed_targets: Sequence[str] = (),
    context: Optional[AggregatorContext] = None,
) -> AggregationFactory:
    """Parses and builds the factory tree rooted at `node`."""
    return build_tree(parse_aggregator(node, path, allowed_targets), context or AggregatorContext())


def _name_of(node: Any) -> Any:
    name = node.get("type", node.get(TARGET_KEY)) if isinstance(node, Mapping) else None
    return name if isinstance(name, str) else None  # a malformed name is reported by the registry


def build_aggregator(
    node: Any,
    path: str,
    weighted: bool,
    allowed_targets: Sequence[str] = (),
    context: Optional[AggregatorContext] = None,
) -> AggregationFactory:
    """Builds the model-update aggregator and checks it fits the algorithm.

    Args:
        node: The `aggregator` config node.
        path: Its config path.
        weighted: Whether the algorithm weights client updates.
        allowed_targets: Module prefixes `_target_` may name.
        context: Run facts for factories that need them.
    """
    spec = parse_aggregator(node, path, allowed_targets)
    factory = build_tree(spec, context or AggregatorContext())
    return check_weighting(factory, weighted, spec.path, spec.name)
