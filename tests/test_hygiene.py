"""The op sandbox: process state an op changes is put back and named, what it prints is
kept, and os._exit from the op raises instead of ending the process."""

from __future__ import annotations

import os
import signal
import sys
import threading

import numpy as np
import pytest

from opcheck.hygiene import ExitCalled, op_sandbox, trapped_exit


def test_changed_state_is_restored_and_named(tmp_path):
    cwd, err = os.getcwd(), np.geterr()
    handler = signal.getsignal(signal.SIGUSR2)
    with op_sandbox(in_worker=False) as box:
        np.seterr(all="raise")
        np.set_printoptions(precision=2)
        os.chdir(tmp_path)
        os.environ["OPCHECK_HYGIENE_TEST"] = "1"
        signal.signal(signal.SIGUSR2, lambda *_: None)
        sys.path.append("/nowhere")
    assert np.geterr() == err and np.get_printoptions()["precision"] == 8
    assert os.getcwd() == cwd and "OPCHECK_HYGIENE_TEST" not in os.environ
    assert signal.getsignal(signal.SIGUSR2) == handler and "/nowhere" not in sys.path
    assert box.restored == ["numpy's error state (np.seterr)", "numpy's print options",
                            "the working directory", "the environment (OPCHECK_HYGIENE_TEST)",
                            "sys.path",
                            "the handler of SIGUSR2"]


def test_output_is_captured_from_python_and_the_file_descriptors():
    with op_sandbox(in_worker=False) as box:
        print("from print")
        os.write(1, b"from fd 1\n")
        os.write(2, b"from fd 2\n")
    assert box.output == "from print\nfrom fd 1\nfrom fd 2"
    assert any(note.startswith("output of the op") for note in box.notes())


def test_a_clean_op_leaves_no_notes():
    with op_sandbox(in_worker=False) as box:
        np.tanh(np.ones(3))
    assert box.notes() == []


def test_a_thread_left_running_is_reported():
    stop = threading.Event()
    with op_sandbox(in_worker=False) as box:
        threading.Thread(target=stop.wait, name="left-behind", daemon=True).start()
    stop.set()
    assert box.leftovers == ["1 thread (left-behind)"]


# (JAX, imported by other tests of the same process, warns on any fork: the child here
# only exits)
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_os_exit_raises_in_the_ops_thread_only():
    with trapped_exit(), pytest.raises(ExitCalled, match=r"os._exit\(3\) was called"):
        os._exit(3)
    assert os._exit.__module__ in ("posix", "nt", "os")  # the real one is back
    with trapped_exit():
        pid = os.fork()
        if pid == 0:  # a child the op forked exits for real under the trap it inherited
            os._exit(5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5
