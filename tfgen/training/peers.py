"""A multi-worker run that loses a worker ends with one line that says so.

When a worker of a ``--strategy multiworker`` run stops (killed, preempted,
its machine gone), the collectives of the others fail: the chief, which runs
TensorFlow's coordination service, with "The following tasks are unhealthy
(stopped sending heartbeats): /job:worker/replica:0/task:1" once the
heartbeats time out (about 10 s); the others with "Connection reset by peer"
from ``/job:worker/replica:0/task:0``. Both reach Python as
``tf.errors.UnavailableError`` with a gRPC traceback; the other errors of
:data:`PEER_ERRORS` can come instead, depending on the moment.
:func:`lost_peers_reported` turns them into :class:`PeerLost`, an
:class:`~tfgen.errors.InputError` that the CLIs print as one ``error:`` line.
"""

from __future__ import annotations

import contextlib
import re

import tensorflow as tf

from tfgen.errors import InputError

PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
    tf.errors.InternalError,
)
# Words of TF's messages when a collective or a gRPC call lost its peer: an
# error of PEER_ERRORS without them has another cause and keeps its traceback.
_PEER_WORDS = re.compile(
    r"heartbeat|unhealthy|connection reset|socket closed|failed to connect|grpc|collective|coordination",
    re.IGNORECASE,
)
_TASK = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")


class PeerLost(InputError):
    """A worker of a multi-worker run was lost; starting every worker again resumes."""


def _own_task(resolver):
    return (resolver.task_type, int(resolver.task_id))


def _peer_named(message, resolver):
    """``worker 1 (127.0.0.1:2223)``: the first task of the cluster named in
    ``message`` other than this one, or ``a worker`` when none is."""
    own = _own_task(resolver)
    for job, index in _TASK.findall(message):
        if (job, int(index)) != own:
            try:
                address = resolver.cluster_spec().task_address(job, int(index))
            except ValueError:  # not a task of this cluster
                address = None
            return f"{job} {index}" + (f" ({address})" if address else "")
    return "a worker"


def lost_peer(error, strategy):
    """The :class:`PeerLost` that ``error`` means, or None when it means
    something else (not a multi-worker run, or not a lost peer)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None  # no cluster: this machine alone
    if not isinstance(error, PEER_ERRORS) or not _PEER_WORDS.search(str(error)):
        return None
    task_type, task_id = _own_task(resolver)
    return PeerLost(
        f"{task_type} {task_id} lost {_peer_named(str(error), resolver)} of the multi-worker run: it stopped, "
        "or the network between them failed. Start every worker again with the same command (and TF_CONFIG): "
        "training resumes from the last checkpoint."
    )


@contextlib.contextmanager
def lost_peers_reported(strategy):
    """Meanwhile, raise :class:`PeerLost` (from the original error) instead
    of the errors of a lost peer of ``strategy``'s cluster."""
    try:
        yield
    except PEER_ERRORS as error:
        lost = lost_peer(error, strategy)
        if lost is None:
            raise
        raise lost from error
