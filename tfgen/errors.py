"""The error tfgen raises for input a user can fix.

:class:`InputError` is a ValueError (code catching ValueError keeps working);
the command-line front doors print it as one ``error:`` line, while any
other exception, Keras' and TensorFlow's own ValueErrors included, keeps its
traceback. Messages say what was wrong and what to do.
"""


class InputError(ValueError):
    """Bad input (a setting, a file, a folder, an argument) that the user can fix."""

    # Exception's own constructor: TensorFlow's AutoGraph then re-raises an
    # InputError met while tracing a tf.function as an InputError (it keeps
    # only exception types it knows to take a message), not as a StagingError.
    __init__ = Exception.__init__
