"""Two real ``train.py --strategy multiworker`` processes on 127.0.0.1.

Worker 0 is the chief (the cluster has no "chief" task): it alone writes the
run folder; worker 1 takes part in every step and checkpoint but writes its
checkpoints to a scratch folder that is removed at the end. Both must end
with the same weights. Each two-worker run takes about 15-25 s on 2 CPU
cores; the module runs two (a fresh run, then --override of it), then a
third whose worker 1 is killed (20-55 s: the chief notices after TF's
heartbeat timeout of about 10 s), and checks without processes which errors mean a lost peer.
"""

import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.scripts import REPO

TIMEOUT = 300
WEIGHTS_FILES = ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5")

# Runs train.py as __main__; at the end of training each worker (the chief
# too) also dumps the weights of its networks into $TFGEN_TEST_WEIGHTS_OUT.
# Nothing is imported that runs a TF op: MultiWorkerMirroredStrategy must be
# created first.
WRAPPER = textwrap.dedent(
    """
    import json
    import os
    import runpy
    import sys

    import numpy as np

    from tfgen.training.trainer import Trainer

    TRAIN = os.path.join(os.environ["PYTHONPATH"].split(os.pathsep)[0], "train.py")
    original = Trainer.write_final_outputs


    def write_final_outputs(self):
        original(self)  # the weights files (the chief only)
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        out = os.path.join(os.environ["TFGEN_TEST_WEIGHTS_OUT"], f"worker{index}")
        arrays, names = {}, []
        for network, model in self.final_weights().items():
            for i, v in enumerate(model.weights):
                arrays[f"{network}.{i:04d}"] = np.asarray(v.numpy())
                names.append([f"{network}.{i:04d}", v.path, bool(v.trainable)])
        np.savez(out + ".npz", **arrays)
        with open(out + ".json", "w") as f:
            json.dump(names, f)


    Trainer.write_final_outputs = write_final_outputs

    # With --override, the chief empties the run folder only after this
    # delay: the other worker must not read the old run meanwhile.
    if os.environ.get("TFGEN_TEST_CLEAR_DELAY"):
        import time

        import tfgen.training.trainer as trainer_module

        clear_run_folder = trainer_module.clear_run_folder

        def slow_clear_run_folder(*args, **kwargs):
            time.sleep(float(os.environ["TFGEN_TEST_CLEAR_DELAY"]))
            return clear_run_folder(*args, **kwargs)

        trainer_module.clear_run_folder = slow_clear_run_folder

    sys.argv = [TRAIN, *sys.argv[1:]]
    runpy.run_path(TRAIN, run_name="__main__")
    """
)

FLAGS = [
    "--strategy", "multiworker", "--steps", "4", "--checkpoint-every", "2", "--sample-every", "1000",
    "--ngf", "4", "--ndf", "4", "--batch-size", "4", "--resolution", "64", "--name", "mw", "--quiet",
]  # fmt: skip


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together, then freed)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def load_dump(prefix):
    """{weights file name: [(variable path, trainable, array)]} as the wrapper dumped them."""
    names = json.loads(prefix.with_suffix(".json").read_text())
    dump = {}
    with np.load(prefix.with_suffix(".npz")) as arrays:
        for key, path, trainable in names:
            dump.setdefault(key.rsplit(".", 1)[0], []).append((path, trainable, arrays[key]))
    return dump


@contextlib.contextmanager
def workers(tmp_path, *extra_flags, label="run", extra_env=None):
    """Start the two workers of a fresh cluster; yields ``(processes, logs,
    [TMPDIR of each worker])`` and kills those still running at the end.

    The weights dumps go to ``<tmp_path>/weights``, the run folder to
    ``<tmp_path>/runs``. ``extra_env`` adds to both workers' environment
    (None removes a variable).
    """
    wrapper = tmp_path / "worker.py"
    wrapper.write_text(WRAPPER)
    weights_out = tmp_path / "weights"
    weights_out.mkdir(exist_ok=True)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes, tmpdirs, logs = [], [], []
    try:
        for index in range(2):
            tmpdir = tmp_path / f"{label}_tmp{index}"
            tmpdir.mkdir()
            tmpdirs.append(tmpdir)
            logs.append(tmp_path / f"{label}_worker{index}.log")
            env = dict(
                os.environ,
                PYTHONPATH=REPO,
                TF_CPP_MIN_LOG_LEVEL="2",
                TMPDIR=str(tmpdir),
                TFGEN_TEST_WEIGHTS_OUT=str(weights_out),
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            )
            env.update(extra_env or {})
            env = {name: value for name, value in env.items() if value is not None}
            with open(logs[-1], "w") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, str(wrapper), *FLAGS, "--runs-dir", str(tmp_path / "runs"),
                         *extra_flags],
                        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )
                )  # fmt: skip
        yield processes, logs, tmpdirs
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def report_of(processes, logs):
    return "\n".join(
        f"--- worker {i}: exit {p.returncode}\n{log.read_text()[-4000:]}"
        for i, (p, log) in enumerate(zip(processes, logs))
    )


def run_workers(tmp_path, *extra_flags, label="run", extra_env=None):
    """Run the two workers of a fresh cluster (:func:`workers`) to the end (or TIMEOUT).

    Returns ``(exit codes, report, [TMPDIR of each worker])``.
    """
    with workers(tmp_path, *extra_flags, label=label, extra_env=extra_env) as (processes, logs, tmpdirs):
        # Until both are done, one fails (its peer would then wait on the
        # collectives for ever) or the time is up.
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            codes = [process.poll() for process in processes]
            if all(code is not None for code in codes) or any(code for code in codes):
                break
            time.sleep(0.5)
    return [p.returncode for p in processes], report_of(processes, logs), tmpdirs


def check_run(tmp_path, codes, report, tmpdirs):
    """Both workers finished; the chief alone wrote the run folder; both
    hold the same weights, and the chief's files hold them."""
    assert codes == [0, 0], report
    runs_dir, weights_out = tmp_path / "runs", tmp_path / "weights"

    # The chief alone wrote a run folder, and a complete one.
    assert sorted(os.listdir(runs_dir)) == ["mw"], report
    run_dir = runs_dir / "mw"
    for name in ("config.json", *WEIGHTS_FILES):
        assert (run_dir / name).is_file(), (name, sorted(os.listdir(run_dir)))
    expected = {".lock", "config.json", "checkpoints", "samples", "logs", "finished.json", *WEIGHTS_FILES}
    assert set(os.listdir(run_dir)) <= expected, sorted(os.listdir(run_dir))
    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / "checkpoint").is_file()
    assert (checkpoints / "ckpt-4.index").is_file(), sorted(os.listdir(checkpoints))
    # Worker 1's scratch checkpoints were removed, and no worker left
    # anything in its temporary folder.
    assert not glob.glob(str(tmpdirs[1] / "tfgen_worker_ckpt_*"))
    assert [os.listdir(tmpdir) for tmpdir in tmpdirs] == [[], []]

    # Both workers trained to the end (the dumps) and hold the same networks.
    # BatchNorm moving statistics are the exception: each replica keeps its
    # own (see the trainer's module doc), and the files hold the chief's.
    chief, worker = load_dump(weights_out / "worker0"), load_dump(weights_out / "worker1")
    assert chief.keys() == worker.keys() == set(WEIGHTS_FILES)
    for filename in WEIGHTS_FILES:
        assert [path for path, _, _ in chief[filename]] == [path for path, _, _ in worker[filename]]
        pairs = zip(chief[filename], worker[filename])
        trainable = [(path, a, b) for (path, train, a), (_, _, b) in pairs if train]
        assert trainable
        for path, a, b in trainable:
            assert np.array_equal(a, b), f"{filename}: {path} differs between the workers"

    # The chief's weights files hold exactly what the chief trained.
    from tfgen.runs import load_run_config
    from tfgen.registry import get_family

    family, model_config, _ = load_run_config(run_dir / "config.json")
    builders = get_family(family)
    for filename in WEIGHTS_FILES:
        build = builders.build_discriminator if filename.startswith("discriminator") else builders.build_generator
        model = build(model_config)
        model.load_weights(str(run_dir / filename))
        assert len(model.weights) == len(chief[filename])
        for v, (path, _, a) in zip(model.weights, chief[filename]):
            assert np.array_equal(np.asarray(v.numpy()), a), f"{filename}: {path} is not the chief's"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A fresh two-worker run (shared by the tests: it is the slow part)."""
    tmp_path = tmp_path_factory.mktemp("multiworker")
    return tmp_path, run_workers(tmp_path)


def test_two_workers_train_together_and_only_the_chief_writes(first_run):
    tmp_path, (codes, report, tmpdirs) = first_run
    check_run(tmp_path, codes, report, tmpdirs)


def test_override_restarts_a_finished_run_on_both_workers(first_run, tmp_path):
    # Worker 1 must neither restore nor count as finished the run that the
    # chief is about to empty. It used to: it saw the old run as finished
    # and exited, failing the chief's first collective (or, without the
    # delay, now and then crashed reading checkpoints being deleted).
    first_tmp, (codes, report, _) = first_run
    assert codes == [0, 0], report
    shutil.copytree(first_tmp / "runs", tmp_path / "runs")
    check_run(tmp_path, *run_workers(tmp_path, "--override", extra_env={"TFGEN_TEST_CLEAR_DELAY": "3"}))


# As a user runs it: quiet start-up (train.py sets it, but the wrapper
# imports tfgen first) and TensorFlow's C++ log level left to the CLI (3).
AS_A_USER = {"TFGEN_QUIET_STARTUP": "1", "TF_CPP_MIN_LOG_LEVEL": None}


@pytest.mark.parametrize("lost", [1, pytest.param(0, marks=pytest.mark.slow)])
def test_a_lost_worker_ends_its_peer_with_one_line(tmp_path, lost):
    """A worker killed mid-run (1: the chief survives, after TF's heartbeat
    timeout of about 10 s; 0: the chief, with the coordination service):
    the other exits 2 with one line naming it and saying how to resume."""
    survivor = 1 - lost
    # Long enough that both are still training when one is killed.
    with workers(tmp_path, "--steps", "100000", extra_env=AS_A_USER) as (processes, logs, _):
        deadline = time.monotonic() + TIMEOUT
        first_checkpoint = tmp_path / "runs" / "mw" / "checkpoints" / "ckpt-2.index"
        while not first_checkpoint.exists() and not any(p.poll() is not None for p in processes):
            assert time.monotonic() < deadline, report_of(processes, logs)
            time.sleep(0.2)
        processes[lost].kill()
        processes[survivor].wait(timeout=TIMEOUT)
    output = logs[survivor].read_text()
    report = report_of(processes, logs)
    assert processes[survivor].returncode == 2, report
    assert "Traceback" not in output, report
    (line,) = output.splitlines()
    assert re.fullmatch(
        rf"error: worker {survivor} lost worker {lost} \(127\.0\.0\.1:\d+\) of the multi-worker run: it stopped, "
        r"or the network between them failed\. Start every worker again with the same command \(and TF_CONFIG\): "
        r"training resumes from the last checkpoint\.",
        line,
    ), report


# ------------------------------ which errors mean a lost peer (no processes)


class _Cluster:
    """What lost_peer reads of a strategy: its cluster resolver."""

    def __init__(self, index):
        self.cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}), task_type="worker", task_id=index
        )


# The first lines of what TF 2.21 raised in the two directions (the test above).
CHIEF_SEES = (
    "{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_/job:worker/replica:0/task:0/device:CPU:0}}"
    " Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are unhealthy "
    "(stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed."
)
WORKER_SEES = (
    "Graph execution error:\n\nDetected at node fused_adam_1/CollectiveReduceV2\nCollective ops is aborted by: "
    "recvmsg:Connection reset by peer\nAdditional GRPC error information from remote target "
    "/job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/CompleteInstance:"
)


@pytest.mark.parametrize(
    "index, message, lost",
    [(0, CHIEF_SEES, "worker 1 (127.0.0.1:2223)"), (1, WORKER_SEES, "worker 0 (127.0.0.1:2222)")],
)
def test_a_lost_peer_error_names_the_peer(index, message, lost):
    from tfgen.training.peers import PeerLost, lost_peers_reported

    with pytest.raises(PeerLost) as caught, lost_peers_reported(_Cluster(index)):
        raise tf.errors.UnavailableError(None, None, message)
    assert str(caught.value).startswith(f"worker {index} lost {lost} of the multi-worker run"), caught.value
    assert "\n" not in str(caught.value) and "resumes from the last checkpoint" in str(caught.value)
    assert isinstance(caught.value.__cause__, tf.errors.UnavailableError)  # kept for debugging


@pytest.mark.parametrize(
    "strategy, error",
    [
        (_Cluster(0), tf.errors.UnavailableError(None, None, "Device /device:GPU:0 is busy")),  # another cause
        (_Cluster(0), ValueError("Connection reset by peer")),  # not TF's
        (tf.distribute.get_strategy(), tf.errors.UnavailableError(None, None, WORKER_SEES)),  # no cluster
    ],
)
def test_other_errors_pass_through(strategy, error):
    from tfgen.training.peers import lost_peers_reported

    with pytest.raises(type(error)) as caught, lost_peers_reported(strategy):
        raise error
    assert caught.value is error
