"""Shared Keras layers.

Everything here uses ``keras.ops`` / ``keras.layers`` / ``keras.random`` only,
so the same layers run under the TensorFlow and the JAX backends. Images and
feature maps are NHWC.

Every layer builds its weights from ``input_shape`` in ``build`` so that models
made of them can be built without running a forward pass (``load_weights``
right after construction works).
"""

from __future__ import annotations

import contextlib
import functools
import math

import keras
from keras import ops

from tfgen.errors import InputError

# Official FastGAN init: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02).
CONV_INIT_STDDEV = 0.02


def conv_initializer():
    return keras.initializers.RandomNormal(mean=0.0, stddev=CONV_INIT_STDDEV)


def _l2_normalize(x, eps=1e-12):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + eps)


def _vector_times_matrix(vector, matrix):
    """``vector`` [k] times ``matrix`` [k, n] -> [n]."""
    return ops.matmul(ops.expand_dims(vector, 0), matrix)[0]


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
            raise InputError(f"padding must be 'same' or 'valid'. Received: padding={padding!r}")
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
                # v^T W rather than W^T v: no transposed copy of the kernel,
                # here or in the gradient (a 3x3x1024x1024 kernel is 38 MB).
                u = ops.stop_gradient(_l2_normalize(_vector_times_matrix(v, matrix)))
            self.u.assign(u)
            sigma = ops.sum(u * _vector_times_matrix(v, matrix))
        else:
            # With the converged u, sigma = ||W u||.
            sigma = ops.sqrt(ops.sum(ops.square(ops.matmul(matrix, u))))
        # One reciprocal and a multiply: cheaper than dividing every weight,
        # forward and in the gradient.
        return kernel * (1.0 / sigma)

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
    """Adds per-pixel Gaussian noise scaled by a learned weight (init 0).

    One noise map [B, H, W, 1] is drawn per call and shared by the channels.
    With ``per_channel=False`` (FastGAN) one scalar weight scales it; with
    ``per_channel=True`` (StyleGAN's B) each channel has its own scale [C].

    The noise comes from the layer's own ``SeedGenerator``. Its state is not
    part of ``.weights.h5``; ``tfgen.sampling.generate`` sets it from the
    generation seed so that generated images are reproducible.
    :func:`noise_source` replaces the draw (``tfgen.export`` makes the noise
    an input of the exported graph that way, with no random op in it).

    Args:
        seed: seed of the layer's noise stream (None: random).
        per_channel: False: one scalar scale; True: one scale per channel.
    """

    def __init__(self, *, seed=None, per_channel=False, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.per_channel = bool(per_channel)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # None: draw from seed_generator; else a function (layer, shape) -> noise
        # [B, H, W, 1], set only inside noise_source().
        self.source = None

    def build(self, input_shape):
        shape = (int(input_shape[-1]),) if self.per_channel else ()
        self.weight = self.add_weight(name="weight", shape=shape, initializer="zeros")

    def draw(self, shape):
        """The layer's own noise for a [B, H, W, 1] ``shape``: advances its SeedGenerator."""
        return keras.random.normal(shape, seed=self.seed_generator, dtype=self.compute_dtype)

    def call(self, inputs):
        shape = ops.shape(inputs)
        shape = (shape[0], shape[1], shape[2], 1)
        noise = self.draw(shape) if self.source is None else ops.cast(self.source(self, shape), self.compute_dtype)
        return inputs + self.weight * noise  # weight: [] or [C]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed, per_channel=self.per_channel)
        return config


def noise_layers(model):
    """The :class:`NoiseInjection` layers of ``model``, in Keras' layer order."""
    return [layer for layer in model._flatten_layers() if isinstance(layer, NoiseInjection)]


@contextlib.contextmanager
def noise_source(model, source):
    """Inside the block, every noise layer of ``model`` takes its noise from
    ``source(layer, shape)`` (``shape``: [B, H, W, 1], static or symbolic)
    instead of drawing it; on exit they draw again."""
    layers = noise_layers(model)
    for layer in layers:
        layer.source = source
    try:
        yield layers
    finally:
        for layer in layers:
            layer.source = None


def adaptive_avg_pool(x, size):
    """Average-pool a [B, H, W, C] map to [B, size, size, C] (H, W multiples of size)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if h == size and w == size:
        return x
    if h % size or w % size:
        raise InputError(f"adaptive_avg_pool needs H and W divisible by {size}. Received: {h}x{w}")
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
        # A frozen layer (trainable=False) runs in inference mode, as Keras' own does.
        if not training or not self.trainable or keras.backend.backend() != "tensorflow" or len(inputs.shape) != 4:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # the TensorFlow-only fast path

        x = tf.cast(inputs, "float32") if inputs.dtype == tf.bfloat16 and not _bfloat16_batch_norm_native() else inputs
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


@functools.cache
def _bfloat16_batch_norm_native():
    """Whether the fused batch norm takes bfloat16 directly. On the CPU
    (oneDNN) it does; the casts to float32 and back were 12% of a bfloat16
    FastGAN step's kernel time (docs/performance.md). The kernel still
    accumulates the statistics in float32. With a GPU visible the layer keeps the cast."""
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


def batch_norm(name):
    """BatchNorm matching PyTorch defaults (momentum 0.1, eps 1e-5) and FastGAN's init."""
    return BatchNorm(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, CONV_INIT_STDDEV),
        name=name,
    )


# ------------------------------------------------------------------ StyleGAN
# Layers of the style-based generator (Karras et al., CVPR 2019) and its
# discriminator. Normalisations compute in float32 under mixed precision.

STYLE_EPSILON = 1e-8  # AdaIN / pixel norm / minibatch stddev epsilon (StyleGAN's)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU


def _check_activation(activation):
    if activation not in (None, "lrelu"):
        raise InputError(f"activation must be None or 'lrelu'. Received: activation={activation!r}")
    return activation


def scaled_lrelu(x):
    """StyleGAN's activation: leaky ReLU (slope 0.2) times sqrt(2)."""
    return ops.leaky_relu(x, negative_slope=LRELU_SLOPE) * ops.cast(LRELU_GAIN, x.dtype)


@keras.saving.register_keras_serializable("tfgen")
class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with the equalized learning rate (Karras et al., 2018).

    The kernel is stored as N(0, 1/lr_multiplier) and scaled at run time by
    ``gain * lr_multiplier / sqrt(fan_in)``; the bias is stored from
    ``bias_init`` and scaled by ``lr_multiplier`` (StyleGAN2-ADA's
    convention: the initial effective bias is ``bias_init * lr_multiplier``).
    Adam's steps are scale-free, so every weight then learns at the same
    speed, ``lr_multiplier`` times the optimiser's rate.

    Args:
        units: output features.
        lr_multiplier: learning-rate multiplier (StyleGAN's mapping: 0.01).
        bias_init: initial value of the stored bias.
        gain: extra factor on the run-time weight scale.
        activation: None (linear) or "lrelu" (leaky ReLU 0.2 times sqrt(2)).
    """

    def __init__(self, *, units, lr_multiplier=1.0, bias_init=0.0, gain=1.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        if units < 1 or lr_multiplier <= 0:
            raise InputError(
                "units must be >= 1 and lr_multiplier > 0. "
                f"Received: units={units}, lr_multiplier={lr_multiplier}"
            )
        self.units = int(units)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.gain = float(gain)
        self.activation = _check_activation(activation)

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.weight_scale = self.gain * self.lr_multiplier / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier),
            autocast=False,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer=keras.initializers.Constant(self.bias_init), autocast=False
        )

    def call(self, inputs):
        kernel = ops.cast(self.kernel * self.weight_scale, self.compute_dtype)  # [in, units]
        bias = ops.cast(self.bias * self.lr_multiplier, self.compute_dtype)
        x = ops.matmul(inputs, kernel) + bias
        return scaled_lrelu(x) if self.activation == "lrelu" else x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            lr_multiplier=self.lr_multiplier,
            bias_init=self.bias_init,
            gain=self.gain,
            activation=self.activation,
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class EqualizedConv2D(keras.layers.Layer):
    """Stride-1 "same" convolution with the equalized learning rate.

    The kernel is stored as N(0, 1) and scaled at run time by
    ``gain / sqrt(kernel_size**2 * in_channels)``; the bias starts at 0.

    Args:
        filters: output channels.
        kernel_size: square kernel side (odd: 1 or 3).
        gain: extra factor on the run-time weight scale.
        use_bias: add a learned per-channel bias.
        activation: None (linear) or "lrelu" (leaky ReLU 0.2 times sqrt(2)).
    """

    def __init__(self, *, filters, kernel_size, gain=1.0, use_bias=True, activation=None, **kwargs):
        super().__init__(**kwargs)
        if filters < 1 or kernel_size < 1:
            raise InputError(
                f"filters and kernel_size must be >= 1. Received: filters={filters}, kernel_size={kernel_size}"
            )
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.use_bias = bool(use_bias)
        self.activation = _check_activation(activation)

    def build(self, input_shape):
        k, in_channels = self.kernel_size, int(input_shape[-1])
        self.weight_scale = self.gain / math.sqrt(k * k * in_channels)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, k, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            autocast=False,
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", autocast=False)
            if self.use_bias
            else None
        )

    def call(self, inputs):
        kernel = ops.cast(self.kernel * self.weight_scale, self.compute_dtype)
        x = ops.conv(inputs, kernel, strides=1, padding="same")  # [B, H, W, filters]
        if self.bias is not None:
            x = x + ops.cast(self.bias, self.compute_dtype)
        return scaled_lrelu(x) if self.activation == "lrelu" else x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            gain=self.gain,
            use_bias=self.use_bias,
            activation=self.activation,
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class AdaIN(keras.layers.Layer):
    """Adaptive instance normalisation: ``AdaIN()([x, style])``.

    x [B, H, W, C] is normalised per sample and channel over (H, W), then
    ``(1 + scale) * x_norm + bias`` with ``scale, bias = split(style, 2)``,
    style [B, 2C]. The "+1" (StyleGAN's) makes a zero style the identity
    after normalisation. Computed in float32 under mixed precision.

    Args:
        epsilon: added to the variance.
    """

    def __init__(self, *, epsilon=STYLE_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x, style = inputs
        dtype = x.dtype
        x = ops.cast(x, "float32")
        scale, bias = ops.split(ops.cast(style, "float32"), 2, axis=-1)  # [B, C] each
        mean = ops.mean(x, axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
        var = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        x = (x - mean) * ops.rsqrt(var + self.epsilon)
        x = (1.0 + scale[:, None, None, :]) * x + bias[:, None, None, :]
        return ops.cast(x, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable("tfgen")
class PixelNorm(keras.layers.Layer):
    """``x / sqrt(mean(x**2, axis=-1) + epsilon)``: StyleGAN's normalisation of z.

    Args:
        epsilon: added to the mean square.
    """

    def __init__(self, *, epsilon=STYLE_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        x = x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)
        return ops.cast(x, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
