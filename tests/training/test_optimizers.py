"""FusedAdam makes Keras Adam's updates, in one kernel per variable."""

import textwrap

import keras
import numpy as np
import tensorflow as tf

from tests.scripts import run_result_script
from tfgen.training.optimizers import FusedAdam


def _train(optimizer_class, initial, gradients, **options):
    """Variables and optimizer state after applying ``gradients`` (a list of steps) in a tf.function."""
    variables = [keras.Variable(value) for value in initial]
    optimizer = optimizer_class(**options)

    @tf.function
    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    for grads in gradients:
        step([tf.constant(g) for g in grads])
    return [v.numpy() for v in variables] + [v.numpy() for v in optimizer.variables]


def test_fused_adam_makes_keras_adams_updates():
    rng = np.random.default_rng(0)
    shapes = [(3, 3, 4, 5), (7,), ()]
    initial = [rng.normal(size=s).astype("float32") for s in shapes]
    gradients = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(6)]
    options = dict(learning_rate=2e-3, beta_1=0.5, beta_2=0.99)
    fused = _train(FusedAdam, initial, gradients, **options)
    reference = _train(keras.optimizers.Adam, initial, gradients, **options)
    assert len(fused) == len(reference)  # the same state: iterations, lr, m and v per variable
    for ours, theirs, start in zip(fused, reference, initial + [None] * len(fused)):
        # Rounding differs (one kernel vs a chain of ops): within a few ulps.
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
        if start is not None:
            assert np.max(np.abs(ours - start)) > 1e-3  # the variables did move


def test_fused_adam_falls_back_to_keras_for_amsgrad():
    rng = np.random.default_rng(1)
    initial = [rng.normal(size=(4, 3)).astype("float32")]
    gradients = [[rng.normal(size=(4, 3)).astype("float32")] for _ in range(3)]
    fused = _train(FusedAdam, initial, gradients, amsgrad=True)
    reference = _train(keras.optimizers.Adam, initial, gradients, amsgrad=True)
    for ours, theirs in zip(fused, reference):
        np.testing.assert_array_equal(ours, theirs)


# A fresh process: the CPU must be split into two logical devices before
# TensorFlow initialises.
_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from tfgen.training.optimizers import FusedAdam

    rng = np.random.default_rng(2)
    initial = rng.normal(size=(5, 4)).astype("float32")
    per_replica = [rng.normal(size=(5, 4)).astype("float32") for _ in range(2)]

    def train(strategy, optimizer_class):
        with strategy.scope():
            variable = keras.Variable(initial)
            optimizer = optimizer_class(learning_rate=0.01)
            optimizer.build([variable])

        @tf.function
        def step(grads):
            def replica_step(grad):
                optimizer.apply_gradients([(grad, variable)])
            strategy.run(replica_step, args=(grads,))

        grads = strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant(per_replica[context.replica_id_in_sync_group]))
        for _ in range(3):
            step(grads)
        copies = [v.numpy() for v in strategy.experimental_local_results(variable.value)]
        return copies, strategy.num_replicas_in_sync

    fused, replicas = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), FusedAdam)
    keras_adam, _ = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), keras.optimizers.Adam)
    print("RESULT " + json.dumps({
        "replicas": replicas,
        "copies_agree": all(np.array_equal(c, fused[0]) for c in fused),
        "difference": float(np.max(np.abs(fused[0] - keras_adam[0]))),
        "moved": float(np.max(np.abs(fused[0] - initial))),
    }))
    """
)


def test_fused_adam_under_a_mirrored_strategy(tmp_path):
    result = run_result_script(_MIRRORED_SCRIPT, tmp_path)
    assert result["replicas"] == 2
    assert result["copies_agree"]  # every replica's copy got the same (all-reduced) update
    assert result["moved"] > 1e-3
    assert result["difference"] < 1e-6
