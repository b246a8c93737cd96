"""Test plugin for tests/test_faults.py: one op per fault an op can inflict on the process
auditing it, among correct ops that notice any state a fault leaked into their process.

Every correct op (``ok.*``) first checks that it starts from a clean process state (numpy
error state and print options, working directory, environment, a signal handler, the
standard streams) and raises if not, so a leak from an earlier op in the same process
turns a correct op into an error. ``FAULT_HOME`` (set by the test) is the directory the
audit runs from. Nothing here runs at import time.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

import opcheck

X = {"x": opcheck.Tensor(shape=("N",))}
CORRECT = 16
#: Faults an in-process audit (``--jobs 1``) survives: the others end the process itself.
IN_PROCESS = ("keyboard_interrupt", "system_exit", "generator_exit", "backward_exit",
              "thread", "stdout", "stderr", "surrogate", "control_chars", "seterr", "chdir",
              "environ", "printoptions", "signal", "sys_stdout", "fork_child", "spawn",
              "os_exit_trapped", "hostile_name")
_THREADS = []
_DEFAULT_ERR = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}


def _clean():
    """Raise if an earlier op leaked process state into this one."""
    leaks = []
    if np.geterr() != _DEFAULT_ERR:
        leaks.append(f"numpy error state {np.geterr()}")
    if np.get_printoptions()["precision"] != 8:
        leaks.append("numpy print options")
    if "FAULT_HOME" in os.environ and os.getcwd() != os.environ["FAULT_HOME"]:
        leaks.append(f"working directory {os.getcwd()}")
    if "FAULT_LEAK" in os.environ:
        leaks.append("environment variable FAULT_LEAK")
    if signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL:
        leaks.append("SIGUSR1 handler")
    if sys.stdout is None or getattr(sys.stdout, "name", "") == os.devnull:
        leaks.append("sys.stdout")
    if leaks:
        raise RuntimeError("leaked process state: " + ", ".join(leaks))


def _tanh(x):
    _clean()
    return np.tanh(x)


def _tanh_backward(dout, out, x):
    return {"x": dout * (1.0 - out**2)}


def _sin(x):
    _clean()
    return np.sin(x)


def _sin_backward(dout, x):
    return {"x": dout * np.cos(x)}


def _fork_server():
    """The worker's parent, if it is multiprocessing's fork server (never a shell or pytest)."""
    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return None
    return ppid if b"forkserver" in cmdline else None


def _fault(kind):
    def forward(x):
        if kind == "keyboard_interrupt":
            raise KeyboardInterrupt
        if kind == "system_exit":
            sys.exit(0)
        if kind == "generator_exit":
            raise GeneratorExit
        if kind == "os_exit":  # past opcheck's os._exit trap: the process really ends
            import posix

            posix._exit(0)
        if kind == "os_exit_trapped":
            os._exit(0)
        if kind == "segfault":
            import ctypes

            ctypes.string_at(0)
        if kind == "abort":
            os.abort()
        if kind == "hang":
            while True:
                time.sleep(0.05)
        if kind == "thread" and not _THREADS:  # one per process, however often it is called
            _THREADS.append(threading.Thread(target=time.sleep, args=(3600,), name="fault-thread"))
            _THREADS[0].start()
        if kind == "stdout":
            print("fault: printed to stdout {not json")
            os.write(1, b"fault: raw bytes on fd 1\n")
        if kind == "stderr":
            print("fault: printed to stderr", file=sys.stderr)
        if kind == "surrogate":
            raise ValueError("lone surrogate \udc80 in a message")
        if kind == "control_chars":
            raise ValueError("\x1b]0;pwned\x07\x1b[2J\x00 bidi \u202egnp.exe\u202c end")
        if kind == "seterr":
            np.seterr(all="raise")
        if kind == "chdir":
            os.chdir("/")
        if kind == "environ":
            os.environ["FAULT_LEAK"] = "1"
        if kind == "printoptions":
            np.set_printoptions(precision=1)
        if kind == "signal":
            signal.signal(signal.SIGUSR1, lambda *_: None)
        if kind == "sys_stdout":
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        if kind == "fork_child" and os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
        if kind == "spawn":
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        if kind in ("kill_forkserver", "term_forkserver"):
            server = _fork_server()
            if server is not None:
                os.kill(server, signal.SIGKILL if kind == "kill_forkserver" else signal.SIGTERM)
                time.sleep(0.5)
        return np.tanh(x)

    return forward


def _plain_tanh(x):
    return np.tanh(x)


def _exit_backward(dout, out, x):
    sys.exit(0)


FAULTS = ("keyboard_interrupt", "system_exit", "generator_exit", "os_exit", "os_exit_trapped",
          "segfault", "abort", "hang", "thread", "stdout", "stderr", "surrogate",
          "control_chars", "seterr", "chdir", "environ", "printoptions", "signal",
          "sys_stdout", "fork_child", "spawn", "kill_forkserver", "term_forkserver")
HOSTILE_NAME = "fault.hostile_name\x1b]0;title\x07\x1b[2J\u202etxt"


def names(kind="all"):
    """Op names: ``ok`` (correct), ``fault`` (every fault), ``in_process``."""
    ok = [f"ok.{k:02d}" for k in range(CORRECT)]
    faults = [f"fault.{k}" for k in FAULTS] + ["fault.backward_exit", HOSTILE_NAME]
    if kind == "ok":
        return ok
    if kind == "fault":
        return faults
    if kind == "in_process":
        return [f"fault.{k}" for k in IN_PROCESS if k != "hostile_name"] + [HOSTILE_NAME]
    return ok + faults


@opcheck.hookimpl
def opcheck_ops():
    ops = []
    for k in range(CORRECT):
        forward, backward = (_tanh, _tanh_backward) if k % 2 else (_sin, _sin_backward)
        ops.append(opcheck.Op(name=f"ok.{k:02d}", forward=forward, backward=backward, inputs=X,
                              dims={"N": 2 + k % 3}))
    for kind in FAULTS:
        ops.append(opcheck.Op(name=f"fault.{kind}", forward=_fault(kind),
                              backward=_tanh_backward, inputs=X))
    ops.append(opcheck.Op(name="fault.backward_exit", forward=_plain_tanh, backward=_exit_backward,
                          inputs=X))
    ops.append(opcheck.Op(name=HOSTILE_NAME, forward=_plain_tanh, backward=_tanh_backward, inputs=X))
    return ops
