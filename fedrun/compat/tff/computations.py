"""`federated_computation` and `tf_computation`: TFF's decorators on fedrun.

Both make a `Computation` (fedrun's, with a lazy `type_signature`) that runs
eagerly on fedrun's placed values; nothing is serialized and there is no second
execution engine.

Signatures are derived by abstract tracing, the way TFF derives them:

* a `tf_computation` body's result type comes from
  `tf.function(body).get_concrete_function(<parameter specs>)`, so TensorFlow
  infers it without running the body;
* a `federated_computation` body is called once on abstract `Value`s of its
  parameter types; intrinsics and nested computations map argument types to
  result types, and the structure the body returns gives the result type.

A computation declared without parameter types is polymorphic: its signature is
derived for the argument types of each call (TFF's behaviour).

Calls come in three kinds: from Python (arguments are converted by the parameter
types, results come back as Python values), from inside another federated
computation (values stay placed `Value`s), and while tracing (abstract in,
abstract out).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, Sequence

import tensorflow as tf
from tensorflow.python.ops.op_selector import UnliftableError

from fedrun.compat.tff import values as values_
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.types import convert, has_sequence, is_assignable, to_spec, to_type
from fedrun.compat.tff.values import PerClient, Value
from fedrun.core.placements import SERVER, AtClients, AtServer
from fedrun.core.processes import Computation
from fedrun.core.types import FederatedType, FunctionType, StructType, Type


def _positional_parameters(fn: Callable[..., Any]) -> list[str]:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty]


def _parameter_type(fn: Callable[..., Any], declared: Sequence[Any]) -> Optional[Type]:
    """The parameter type from the decorator's arguments (None: no parameter)."""
    if not declared:
        return None
    if len(declared) == 1:
        return to_type(declared[0])
    names = _positional_parameters(fn)
    if len(names) != len(declared):
        raise FacadeTypeError(
            f"{getattr(fn, '__name__', 'computation')} takes {len(names)} parameters but {len(declared)} types were given"
        )
    return StructType([(name, to_type(t)) for name, t in zip(names, declared)])


def _split(parameter_type: Optional[Type], arity: int) -> list[Type]:
    """The per-argument types of a parameter type for a body of `arity` arguments."""
    if parameter_type is None:
        if arity:
            raise FacadeTypeError(f"a body of {arity} parameters needs an argument")
        return []
    if arity == 0:
        raise FacadeTypeError(
            f"a body without parameters cannot take an argument of type {parameter_type}"
        )
    if arity > 1:
        if not isinstance(parameter_type, StructType) or len(parameter_type) != arity:
            raise FacadeTypeError(
                f"a body of {arity} parameters cannot take one argument of type {parameter_type}"
            )
        return list(parameter_type)
    return [parameter_type]


def _join(types: list[Type], names: list[str]) -> Optional[Type]:
    if not types:
        return None
    if len(types) == 1:
        return types[0]
    return StructType(list(zip(names, types)) if len(names) == len(types) else types)


class _FacadeComputation(Computation):
    """What both decorators share: declared or polymorphic parameter types."""

    def __init__(self, fn: Callable[..., Any], declared: Sequence[Any]) -> None:
        self._names = _positional_parameters(fn)
        self._declared = tuple(declared)
        self._parameter = _parameter_type(fn, declared)
        self._signatures: dict[Optional[Type], FunctionType] = {}
        self._adapters: dict[Any, Callable[..., Any]] = {}
        super().__init__(fn, self._declared_signature, getattr(fn, "__name__", "computation"))

    @property
    def arity(self) -> int:
        return len(self._names)

    @property
    def is_polymorphic(self) -> bool:
        return not self._declared and self.arity > 0

    def _declared_signature(self) -> FunctionType:
        if self.is_polymorphic:
            raise FacadeTypeError(
                f"{self.__name__} was declared without parameter types, so its signature depends on its "
                "arguments; declare the types in the decorator to read type_signature"
            )
        return self.signature_for(self._parameter)

    def signature_for(self, parameter_type: Optional[Type]) -> FunctionType:
        """The signature for arguments of `parameter_type` (checked against declared types)."""
        if self._declared:
            if (
                parameter_type is not None
                and self._parameter is not None
                and parameter_type != self._parameter
            ):
                if not is_assignable(self._parameter, parameter_type):
                    raise FacadeTypeError(
                        f"{self.__name__} expects {self._parameter}, got an argument of type {parameter_type}"
                    )
            parameter_type = self._parameter
        signature = self._signatures.get(parameter_type)
        if signature is None:
            signature = FunctionType(parameter_type, self._result_type(parameter_type))
            self._signatures[parameter_type] = signature
        return signature

    def _result_type(self, parameter_type: Optional[Type]) -> Type:
        raise NotImplementedError

    def adapted(self, zipped: int) -> Callable[..., Any]:
        """The body as a function of the arguments `federated_map` passes.

        `zipped` is the number of values zipped together by the map (0 for a single
        value). Adapters are cached so fedrun's per-function compilation cache hits.
        """
        key = (zipped, self.arity)
        adapter = self._adapters.get(key)
        if adapter is None:
            fn = self._fn
            if zipped and self.arity == 1:
                adapter = lambda *members: fn(tuple(members))  # noqa: E731
            elif not zipped and self.arity > 1:
                adapter = lambda struct: fn(*_members_of(struct))  # noqa: E731
            else:
                adapter = fn
            self._adapters[key] = adapter
        return adapter

    def _bind(self, args: tuple, kwargs: dict) -> list[Any]:
        if not kwargs:
            return list(args)
        return list(inspect.signature(self._fn).bind(*args, **kwargs).args)

    def _abstract_call(self, args: list[Any]) -> Value:
        arg_types = [values_.type_of(a) for a in args]
        signature = self.signature_for(_join(arg_types, self._names))
        return Value(type_signature=signature.result)


class FederatedComputation(_FacadeComputation):
    """A computation over placed values (TFF's `tff.federated_computation`)."""

    def _result_type(self, parameter_type: Optional[Type]) -> Type:
        params = [Value(type_signature=t) for t in _split(parameter_type, self.arity)]
        with values_.frame(tracing=True):
            return values_.type_of(self._fn(*params))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call_args = self._bind(args, kwargs)
        if values_.is_tracing() or values_.contains_abstract(call_args):
            return self._abstract_call(call_args)
        if values_.current_frame() is not None:
            return self._fn(*call_args)
        return self._call_from_python(call_args)

    def _call_from_python(self, args: list[Any]) -> Any:
        if self._declared:
            types: list[Optional[Type]] = list(_split(self._parameter, self.arity))
        else:
            types = [to_type(a) if not isinstance(a, (AtServer, AtClients)) else None for a in args]
        if len(types) != len(args):
            raise FacadeTypeError(f"{self.__name__} takes {len(types)} arguments, got {len(args)}")
        converted = to_values(args, types)
        num_clients = cohort_of(converted) or values_.default_num_clients()
        with values_.frame(tracing=False, num_clients=num_clients):
            return values_.to_python(self._fn(*converted))


def to_values(args: Sequence[Any], types: Sequence[Optional[Type]]) -> list[Any]:
    """Python arguments as `Value`s (placed) or tensors (unplaced) of their types."""
    converted: list[Any] = [None] * len(args)
    # Arguments placed all-equal at CLIENTS wait for the cohort size: (position, member type).
    pending: list[tuple[int, Type]] = []
    for i, (arg, t) in enumerate(zip(args, types)):
        if isinstance(arg, Value):
            converted[i] = arg
        elif isinstance(arg, (AtServer, AtClients)):
            converted[i] = Value(arg)
        elif isinstance(t, FederatedType):
            if t.placement == SERVER:
                converted[i] = Value(AtServer(convert(arg, t.member)))
            elif t.all_equal:
                pending.append((i, t.member))
            elif has_sequence(t.member):
                converted[i] = Value(
                    PerClient(tuple(convert(v, t.member) for v in arg)), type_signature=t
                )
            else:
                per_client = list(arg)
                converted[i] = Value(
                    AtClients.from_list([convert(v, t.member) for v in per_client])
                )
        elif t is None:
            converted[i] = arg
        else:
            converted[i] = convert(arg, t)
    count = cohort_of(converted) or values_.default_num_clients() or 1
    for i, member in pending:
        converted[i] = Value(AtClients(convert(args[i], member), count, all_equal=True))
    return converted


def cohort_of(args: Sequence[Any]) -> Optional[int]:
    """The cohort size of the client-placed arguments, if any."""
    counts = {
        a.placed.num_clients
        for a in args
        if isinstance(a, Value)
        and not a.is_abstract
        and isinstance(a.placed, (AtClients, PerClient))
    }
    if len(counts) > 1:
        raise FacadeValueError(
            f"client-placed arguments have different numbers of clients: {sorted(counts)}"
        )
    return counts.pop() if counts else None


class TensorFlowComputation(_FacadeComputation):
    """A computation over unplaced tensors (TFF's `tff.tf_computation`)."""

    def __init__(self, fn: Callable[..., Any], declared: Sequence[Any]) -> None:
        super().__init__(fn, declared)
        self._traceable: Optional[Any] = None

    def _result_type(self, parameter_type: Optional[Type]) -> Type:
        if self._traceable is None:
            self._traceable = tf.function(self._fn, autograph=True)
        specs = [to_spec(t) for t in _split(parameter_type, self.arity)]
        try:
            return to_type(self._traceable.get_concrete_function(*specs).structured_outputs)
        except (ValueError, UnliftableError):
            if any(isinstance(s, tf.data.DatasetSpec) for s in tf.nest.flatten(specs)):
                raise
        # tf.function refuses bodies that create variables (a Keras model, a random
        # Generator); TFF traces bodies into a graph, where they may.
        with tf.Graph().as_default():
            placeholders = tf.nest.map_structure(
                lambda s: tf.compat.v1.placeholder(s.dtype, s.shape), specs
            )
            return to_type(
                tf.nest.map_structure(
                    lambda t: tf.TensorSpec(t.shape, t.dtype), self._fn(*placeholders)
                )
            )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call_args = self._bind(args, kwargs)
        if not tf.executing_eagerly():
            # Called while TensorFlow traces another body: this body joins that graph.
            return self._fn(*call_args)
        if values_.is_tracing() or values_.contains_abstract(call_args):
            return self._abstract_call(call_args)
        if values_.current_frame() is not None:
            # Inside a federated computation Python constants still arrive as tensors.
            types = (
                _split(self._parameter, self.arity)
                if self._declared
                else [to_type(a) for a in call_args]
            )
            return self._fn(
                *[
                    a if isinstance(a, (tf.Tensor, tf.Variable, tf.data.Dataset)) else convert(a, t)
                    for a, t in zip(call_args, types)
                ]
            )
        if self._declared:
            types = _split(self._parameter, self.arity)
        else:
            # As in TFF, Python arguments reach the body as tensors of their types.
            types = [to_type(a) for a in call_args]
        call_args = [convert(a, t) for a, t in zip(call_args, types)]
        return values_.to_python(self._fn(*call_args))


def _members_of(struct: Any) -> list[Any]:
    if isinstance(struct, dict):
        return list(struct.values())
    return list(struct)


def _decorator(cls: type, args: tuple) -> Any:
    if args and callable(args[0]) and not isinstance(args[0], (type, Computation)):
        return cls(args[0], args[1:])

    def decorate(fn: Callable[..., Any]) -> Any:
        return cls(fn, args)

    return decorate


def federated_computation(*args: Any) -> Any:
    """TFF's `tff.federated_computation`, as a decorator (with or without parameter
    types) or called on a function: `federated_computation(fn, *types)`."""
    return _decorator(FederatedComputation, args)


def tf_computation(*args: Any) -> Any:
    """TFF's `tff.tf_computation`, as a decorator (with or without parameter types)
    or called on a function: `tf_computation(fn, *types)`."""
    return _decorator(TensorFlowComputation, args)


__all__ = [
    "FederatedComputation",
    "TensorFlowComputation",
    "cohort_of",
    "federated_computation",
    "tf_computation",
    "to_values",
]
