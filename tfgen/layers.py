"""Shared Keras layers.

Everything here uses ``keras.ops`` / ``keras.layers`` / ``keras.random`` only,
so the same layers run under the TensorFlow and the JAX backends. Images and
feature maps are NHWC.

Every layer builds its weights from ``input_shape`` in ``build`` so that models
made of them can be built without running a forward pass (``load_weights``
right after construction works).
"""

from __future__ import annotations

import keras
from keras import ops

# Official FastGAN init: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02).
CONV_INIT_STDDEV = 0.02


def conv_initializer():
    return keras.initializers.RandomNormal(mean=0.0, stddev=CONV_INIT_STDDEV)


def _l2_normalize(x, eps=1e-12):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + eps)


@keras.saving.register_keras_serializable("tfgen")
class SpectralConv2D(keras.layers.Layer):
    """2-D convolution whose kernel is divided by its largest singular value.

    Follows ``torch.nn.utils.spectral_norm`` (Miyato et al., ICLR 2018), not
    ``keras.layers.SpectralNormalization``: the raw kernel is the trainable
    variable, sigma is re-estimated on every training call with one power
    iteration, and gradients flow through sigma (with ``u``/``v`` held
    constant). Keras' wrapper instead overwrites the kernel with W/sigma,
    which changes what the optimizer and the EMA see.

    Args:
        filters: output channels.
        kernel_size: square kernel side.
        strides: square stride.
        padding: "same" (PyTorch padding k//2 for odd k, 1 for k=4 s=2) or
            "valid".
        use_bias: FastGAN's convolutions have no bias.
    """

    def __init__(
        self,
        *,
        filters,
        kernel_size,
        strides=1,
        padding="same",
        use_bias=False,
        power_iterations=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid'. Received: padding={padding!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        k = self.kernel_size
        self._add_weights(kernel_shape=(k, k, int(input_shape[-1]), self.filters))

    def _add_weights(self, *, kernel_shape):
        """The raw kernel, the optional bias and the power-iteration vector u."""
        # Kept in float32 (autocast=False): sigma is estimated in float32 and
        # only the normalised kernel is cast to the compute dtype.
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, initializer=conv_initializer(), autocast=False
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", autocast=False)
            if self.use_bias
            else None
        )
        # Left singular vector estimate, one entry per output channel.
        self.u = self.add_weight(
            name="sn_u",
            shape=(self.filters,),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    def normalized_kernel(self, training=False):
        kernel = ops.convert_to_tensor(self.kernel)
        matrix = ops.reshape(kernel, (-1, self.filters))  # [k*k*in, out]
        u = ops.stop_gradient(ops.convert_to_tensor(self.u))
        if training:
            for _ in range(self.power_iterations):
                v = ops.stop_gradient(_l2_normalize(ops.matmul(matrix, u)))
                u = ops.stop_gradient(_l2_normalize(ops.matmul(ops.transpose(matrix), v)))
            self.u.assign(u)
            sigma = ops.sum(u * ops.matmul(ops.transpose(matrix), v))
        else:
            # With the converged u, sigma = ||W u||.
            sigma = ops.sqrt(ops.sum(ops.square(ops.matmul(matrix, u))))
        return kernel / sigma

    def call(self, inputs, training=False):
        kernel = ops.cast(self.normalized_kernel(training=training), self.compute_dtype)
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding=self.padding)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        if self.padding == "same":
            size = lambda n: None if n is None else -(-n // self.strides)  # noqa: E731
        else:
            size = lambda n: None if n is None else (n - self.kernel_size) // self.strides + 1  # noqa: E731
        return (b, size(h), size(w), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            use_bias=self.use_bias,
            power_iterations=self.power_iterations,
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class SpectralLatentProjection(SpectralConv2D):
    """z [B, nz] -> [B, 4, 4, filters]: a 4x4 transposed conv on a 1x1 input.

    ``ConvTranspose2d(nz, C, 4, 1, 0)`` applied to a 1x1 map is exactly a
    matrix product with a [nz, 4*4*C] kernel, which is what this computes.
    Spectral norm uses the [nz*16, C] reshape, the transpose of PyTorch's
    ``dim=1`` matrix, so sigma is the same.
    """

    def __init__(self, *, filters, **kwargs):
        kwargs.pop("kernel_size", None)
        kwargs.pop("padding", None)
        kwargs.pop("strides", None)
        super().__init__(filters=filters, kernel_size=4, padding="valid", **kwargs)

    def build(self, input_shape):
        self._add_weights(kernel_shape=(int(input_shape[-1]), 4, 4, self.filters))

    def call(self, inputs, training=False):
        kernel = ops.cast(self.normalized_kernel(training=training), self.compute_dtype)
        latent_dim = kernel.shape[0]
        flat = ops.matmul(inputs, ops.reshape(kernel, (latent_dim, -1)))
        return ops.reshape(flat, (-1, 4, 4, self.filters))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 4, 4, self.filters)

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_size", "strides", "padding", "use_bias"):
            config.pop(key)
        return config


@keras.saving.register_keras_serializable("tfgen")
class GLU(keras.layers.Layer):
    """Gated linear unit over channels: first half * sigmoid(second half)."""

    def call(self, inputs):
        a, b = ops.split(inputs, 2, axis=-1)
        return a * ops.sigmoid(b)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)


@keras.saving.register_keras_serializable("tfgen")
class NoiseInjection(keras.layers.Layer):
    """Adds per-pixel Gaussian noise scaled by a learned scalar (init 0).

    The noise comes from the layer's own ``SeedGenerator``. Its state is not
    part of ``.weights.h5``; ``tfgen.sampling.generate`` sets it from the
    generation seed so that generated images are reproducible.
    """

    def __init__(self, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.weight = self.add_weight(name="weight", shape=(), initializer="zeros")

    def call(self, inputs):
        shape = ops.shape(inputs)
        noise = keras.random.normal(
            (shape[0], shape[1], shape[2], 1), seed=self.seed_generator, dtype=self.compute_dtype
        )
        return inputs + self.weight * noise

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


def adaptive_avg_pool(x, size):
    """Average-pool a [B, H, W, C] map to [B, size, size, C] (H, W multiples of size)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if h == size and w == size:
        return x
    if h % size or w % size:
        raise ValueError(f"adaptive_avg_pool needs H and W divisible by {size}. Received: {h}x{w}")
    x = ops.reshape(x, (-1, size, h // size, size, w // size, c))
    return ops.mean(x, axis=(2, 4))


@keras.saving.register_keras_serializable("tfgen")
class SkipLayerExcitation(keras.layers.Layer):
    """FastGAN's Skip-Layer Excitation (SLE).

    A channel gate computed from one feature map (``source``) multiplies
    another, usually of a different resolution (``target``):
    pool(source, 4x4) -> conv4x4 valid -> Swish -> conv1x1 -> sigmoid.
    Call as ``sle([source, target])``.
    """

    def __init__(self, *, target_channels, **kwargs):
        super().__init__(**kwargs)
        self.target_channels = int(target_channels)
        self.conv_pool = SpectralConv2D(filters=target_channels, kernel_size=4, padding="valid", name="conv4x4")
        self.conv_gate = SpectralConv2D(filters=target_channels, kernel_size=1, padding="valid", name="conv1x1")

    def build(self, input_shape):
        source_shape, _ = input_shape
        self.conv_pool.build((None, 4, 4, source_shape[-1]))
        self.conv_gate.build((None, 1, 1, self.target_channels))

    def gate(self, source, training=False):
        x = adaptive_avg_pool(source, 4)
        x = self.conv_pool(x, training=training)  # [B, 1, 1, C]
        x = ops.silu(x)
        return ops.sigmoid(self.conv_gate(x, training=training))

    def call(self, inputs, training=False):
        source, target = inputs
        return target * self.gate(source, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        config = super().get_config()
        config.update(target_channels=self.target_channels)
        return config


@keras.saving.register_keras_serializable("tfgen")
class BatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization over the last axis with a fused TensorFlow fast path.

    Under the TensorFlow backend, training calls use one fused kernel
    (``FusedBatchNormV3``): about 2.7x faster than Keras' composite ops on a
    256 px feature map (forward + backward) and it keeps far fewer
    intermediates for the backward pass. The moving statistics get the
    unbiased batch variance, as in PyTorch. Other backends, and inference
    calls, use Keras' own implementation, so the layer still runs under JAX.
    """

    def call(self, inputs, training=None, mask=None):
        if not training or keras.backend.backend() != "tensorflow" or len(inputs.shape) != 4:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # the TensorFlow-only fast path

        x = tf.cast(inputs, "float32") if inputs.dtype == tf.bfloat16 else inputs
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x,
            tf.cast(self.gamma, "float32"),
            tf.cast(self.beta, "float32"),
            epsilon=self.epsilon,
            is_training=True,
        )
        momentum = self.momentum
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = tf.cast(batch, moving.dtype)
            moving.assign(moving * momentum + batch * (1.0 - momentum))
        return tf.cast(outputs, inputs.dtype)


def batch_norm(name):
    """BatchNorm matching PyTorch defaults (momentum 0.1, eps 1e-5) and FastGAN's init."""
    return BatchNorm(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, CONV_INIT_STDDEV),
        name=name,
    )
