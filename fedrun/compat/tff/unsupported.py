"""TFF names fedrun cannot honour, each failing with the fedrun way instead.

fedrun runs every computation eagerly in the calling Python process, so TFF's
execution contexts, executors, remote workers and program platform have no
counterpart; the errors say what to do instead.
"""

from __future__ import annotations

from typing import Mapping

from fedrun.compat.tff.errors import UnsupportedError

_GUIDE = "see docs/migrating-from-tff.md"


_IN_PROCESS = (
    "fedrun runs computations in this Python process; there is no execution context to set, so remove "
    "this call. To spread client work over cores or machines, choose a fedrun runtime "
    "(`runtime: {type: ...}` in the config, or `runtime=` of fedrun's learning builders)"
)

TOP_LEVEL: Mapping[str, str] = {
    "framework": "TFF's framework internals (executors, compiler, contexts) have no fedrun counterpart; "
    + _IN_PROCESS,
    "program": "TFF's program platform is not provided; fedrun's training loop (`python -m fedrun`) writes metrics.jsonl, "
    "TensorBoard logs and checkpoints in the run directory",
    "analytics": "federated analytics is not provided by fedrun",
    "set_remote_python_execution_context": _IN_PROCESS,
    "federated_aggregate": "use tff.federated_sum / tff.federated_mean, or an aggregation factory (tff.aggregators)",
    "federated_collect": "fedrun collects client values only inside aggregators that need them (fedrun.core.intrinsics.collect)",
    "federated_secure_sum": "use tff.federated_secure_sum_bitwidth, or tff.aggregators.SecureSumFactory for bounded float sums",
    "federated_secure_select": "not provided; give each client its data directly",
    "federated_secure_modular_sum": "use tff.federated_secure_sum_bitwidth (a sum modulo 2**bits)",
    "federated_weighted_mean": "use tff.federated_mean(value, weight)",
    "sequence_map": "sequences are consumed by fedrun's local trainer; write per-client work on tensors",
    "sequence_sum": "sequences are consumed by fedrun's local trainer; write per-client work on tensors",
}

LEARNING: Mapping[str, str] = {
    "build_federated_averaging_process": "use tff.learning.algorithms.build_weighted_fed_avg (model_aggregator= replaces "
    "model_update_aggregation_factory=)",
    "build_federated_evaluation": "use tff.learning.algorithms.build_fed_eval",
    "from_keras_model": "use tff.learning.models.from_keras_model",
    "ddp_secure_aggregator": "pass tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(...) as model_aggregator",
}

LEARNING_MODELS: Mapping[str, str] = {
    "model_from_functional": "fedrun trains its FunctionalModel directly; pass it from model_fn",
    "save_functional_model": "fedrun does not serialize models; save the Keras model (ModelWeights.assign_weights_to, then keras_model.save)",
    "load_functional_model": "fedrun does not serialize models; rebuild the model with from_keras_model",
    "ReconstructionModel": "federated reconstruction is not provided by fedrun",
}

LEARNING_ALGORITHMS: Mapping[str, str] = {
    "build_fed_sgd": "use fedrun.learning.algorithms.fedsgd.build_fed_sgd (config algorithm: {type: fedsgd})",
    "build_weighted_fed_prox": "use fedrun.learning.algorithms.fedprox.build_fed_prox (config algorithm: {type: fedprox, mu: ...})",
    "build_unweighted_fed_prox": "use fedrun.learning.algorithms.fedprox.build_fed_prox (config algorithm: {type: fedprox, mu: ...})",
    "build_weighted_mime_lite": "use fedrun's mime_lite algorithm (config algorithm: {type: mime_lite})",
    "build_unweighted_mime_lite": "use fedrun's mime_lite algorithm (config algorithm: {type: mime_lite})",
    "build_personalization_eval_computation": "use fedrun's personalization block (config personalization: {...})",
    "build_fed_recon": "federated reconstruction is not provided by fedrun",
    "build_fed_kmeans": "federated k-means is not provided by fedrun",
}

LEARNING_TEMPLATES: Mapping[str, str] = {
    "model_delta_client_work": "write the client work as a tff.learning.templates.ClientWorkProcess and compose it "
    "with tff.learning.templates.compose_learning_process, or use fedrun's own blocks (fedrun.learning.client_work, "
    "fedrun.learning.process.compose_learning_process); the facade's builders return composed processes",
}

SIMULATION: Mapping[str, str] = {
    "run_training_process": "fedrun's training loop (`python -m fedrun`) runs rounds, evaluation and checkpoints",
    "baselines": "fedrun's experiments (experiments/README.md) reproduce the baseline tasks",
}

SIMULATION_DATASETS: Mapping[str, str] = {
    "stackoverflow": "not provided by fedrun",
    "cifar100": "not provided by fedrun",
    "gldv2": "not provided by fedrun",
    "inaturalist": "not provided by fedrun",
}

AGGREGATORS: Mapping[str, str] = {
    "UnweightedMeanFactory": "use tff.aggregators.MeanFactory with build_unweighted_fed_avg",
    "SecureModularSumFactory": "use tff.federated_secure_sum_bitwidth",
    "DiscreteFourierTransformFactory": "not provided by fedrun",
    "HadamardTransformFactory": "not provided by fedrun",
    "concat_factory": "not provided by fedrun; fedrun's factories take whole nests",
}


BACKENDS: Mapping[str, str] = {
    "mlir": _IN_PROCESS,
    "test": _IN_PROCESS,
    "xla": _IN_PROCESS,
    "create_async_local_cpp_execution_context": _IN_PROCESS,
    "create_sync_local_cpp_execution_context": _IN_PROCESS,
    "set_remote_async_python_execution_context": _IN_PROCESS,
    "set_localhost_cpp_execution_context": _IN_PROCESS,
}

TENSORFLOW: Mapping[str, str] = {
    "transform_args": "write the conversion inside the computation's body",
    "transform_result": "write the conversion inside the computation's body",
    "replace_intrinsics_with_bodies": "fedrun runs intrinsics directly; there is no compiler pass to apply",
}

TYPES: Mapping[str, str] = {
    "serialize_type": "fedrun does not serialize computations or their types",
    "deserialize_type": "fedrun does not serialize computations or their types",
}


def error(module: str, name: str, table: Mapping[str, str]) -> Exception:
    """The error for `module.name`: `UnsupportedError` if TFF has the name, else AttributeError."""
    if name in table:
        return UnsupportedError(
            f"{module}.{name} is not supported by fedrun: {table[name]} ({_GUIDE})"
        )
    return AttributeError(
        f"{module} has no attribute {name!r} (the names fedrun provides are listed in docs/migrating-from-tff.md)"
    )


__all__ = [
    "AGGREGATORS",
    "BACKENDS",
    "LEARNING",
    "LEARNING_ALGORITHMS",
    "LEARNING_MODELS",
    "LEARNING_TEMPLATES",
    "SIMULATION",
    "SIMULATION_DATASETS",
    "TENSORFLOW",
    "TOP_LEVEL",
    "TYPES",
    "UnsupportedError",
    "error",
]
