"""warmbox's Python runner.

The agent starts this script before any job arrives, so a job pays no interpreter start-up.
It waits for exactly one job, runs it as `__main__` from main.py in its working directory, and reports.
The process that reports is this one, the program's main process: a child the program forks
ends as a child of `python3 main.py` would, and never reports.

A job that opens a session (`"session": true`) is its first cell: after its report the runner
stays, and runs each further cell the agent frames on the job channel in the same `__main__`,
as a REPL does, reporting each with the value of its last expression. A session ends when a
cell exits (sys.exit, os._exit) or the agent kills the runner; SIGINT between cells is ignored,
and in a cell raises KeyboardInterrupt there, which ends the cell, not the session.

File descriptors, set up by the agent (their numbers come in the layout, see Arguments):
  0, 1     the program's stdin and stdout
  job      its length in bytes as a decimal line, then the job as JSON, closed by the agent
           after writing: {"code": str, "rlimits": {...}, "env": {...}, "files": [...], "data": any},
           with "session": true and "preload": [...] for a session's first cell; then, for a
           session, each cell framed the same way: {"code": str, "stdin": str, "data": any}
  result   the ready line once the interpreter is up, then for a job (and for each cell) the
           report: one JSON line each, in the order the layout's reportLines gives
           (contract/runner.ts says what each holds)
  stderr   the program's stderr (moved to 2 here; the agent gives python-shell no stderr,
           because python-shell keeps every byte of it in memory)

Arguments: the layout and framing as JSON (contract/layout.ts: the file descriptors above, the
ready line, the report's lines, the names of the errors the runner reports, main.py's name,
matplotlib's cache), then the modules to import before "ready"
(`preload`), so that jobs pay nothing for them.

The result travels on a channel of its own, apart from stdout and stderr, so nothing the program prints can
corrupt it. Neither the code nor the data goes through argv or the environment.
"""

import atexit
import binascii
import builtins
import importlib
import io
import fcntl
import gc
import json
import linecache
import os
import resource
import signal
import stat
import sys
import termios
import time
import traceback
import types

# Imported now, while the container waits, so that jobs using them start at once.
import collections  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import itertools  # noqa: F401
import math  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401

# The container's layout and the channels' framing, as the agent passes them in its first
# argument (contract/layout.ts, the one place they are written).
LAYOUT = json.loads(sys.argv[1])
JOB_FD = LAYOUT["jobFd"]
RESULT_FD = LAYOUT["resultFd"]
STDERR_FD = LAYOUT["stderrFd"]
READY_LINE = LAYOUT["readyLine"].encode("ascii")
# The report's lines, by name, in the order they are written (contract/runner.ts).
REPORT_LINES = LAYOUT["reportLines"]
# What the runner calls the failures it reports itself: `result`, `data`, `files`, `preload`.
ERROR_TYPES = LAYOUT["errorTypes"]
# The code is also written here, in the working directory, as `python3 main.py` would find
# it: multiprocessing's spawn re-imports it from __main__.__file__, and inspect reads it.
MAIN_FILE_NAME = LAYOUT["mainFileName"]
# JavaScript numbers hold integers exactly up to 2**53; a JSON text with a run of 16 digits
# or more may hold a larger one, and is then checked value by value. The run is looked for
# with bytes.translate and `in`, which take milliseconds on 10 MB where a regex takes 150.
JS_SAFE_INTEGER = 2**53 - 1
DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
LONG_DIGIT_RUN = b"0" * 16
# A large result is encoded, checked and written this many characters at a time.
SLICE_CHARS = 1 << 20


# A program's figures beyond this many are left out of the result.
MAX_FIGURES = 32
# A cell value's repr and HTML are cut to this many characters.
MAX_VALUE_CHARS = 256 * 1024
# After a cell, how long the runner waits for the agent to have read the cell's output from
# its pipes before it reports (the report must come after the output it ends).
OUTPUT_READ_WAIT_S = 5.0
# matplotlib's font list, built at image build where matplotlib is installed (Dockerfile.agent).
MATPLOTLIB_CACHE = LAYOUT["matplotlibCacheDir"]


def widen_pipes():
    # Pipes hold 64 KiB by default: a 10 MB job or result would cross in some 160 round trips
    # between the two processes. 1 MiB is the most an unprivileged process may ask for.
    for fd in (0, 1, 2, JOB_FD, RESULT_FD):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass


def prefer_me_when_out_of_memory():
    # The container's memory limit covers the agent too: when it is hit, the kernel must kill
    # the program (and its children, which inherit this), never the agent that reports it.
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def read_job(channel):
    """The next job's (or cell's) bytes, read into one buffer of the size the agent announced.

    Data of 10 MB would otherwise be held twice, as the chunks read and as their join, and
    every fresh page of memory costs a fault charged to the container's cgroup.
    """
    header = bytearray()
    while not header.endswith(b"\n"):
        byte = channel.read(1)
        if not byte:
            raise EOFError("the job channel closed before the job's length")
        header += byte
    job = bytearray(int(header))
    view = memoryview(job)
    filled = 0
    while filled < len(job):
        read = channel.readinto(view[filled:])
        if not read:
            raise EOFError("the job channel closed inside the job")
        filled += read
    return job


def seed_matplotlib_cache():
    """Copies the image's matplotlib font list into HOME, sparing the first import 150 ms."""
    try:
        names = [name for name in os.listdir(MATPLOTLIB_CACHE) if name.startswith("fontlist-")]
    except OSError:
        return  # no matplotlib in this image
    target = os.path.join(os.path.expanduser("~"), ".cache", "matplotlib")
    os.makedirs(target, exist_ok=True)
    for name in names:
        with open(os.path.join(MATPLOTLIB_CACHE, name), "rb") as source, open(os.path.join(target, name), "wb") as copy:
            copy.write(source.read())


class PreloadError(Exception):
    """A module of `preload` that could not be imported."""


def preload(names):
    """Imports `preload` modules, and does once what their first use costs.

    Raises PreloadError, naming the module, for one that cannot be imported.
    """
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: B036 - whatever the import raised, the preload fails
            raise PreloadError(f"cannot import {name}: {type(exc).__name__}: {exc}") from None
    # The first figure a process draws loads fonts and Agg: 30 ms and more of a chart job.
    if "matplotlib.pyplot" in sys.modules:
        pyplot = sys.modules["matplotlib.pyplot"]
        figure = pyplot.figure()
        figure.gca().plot([0, 1], [0, 1], label="warm")
        figure.gca().legend()
        figure.savefig(io.BytesIO(), format="png")
        pyplot.close(figure)
    # pandas imports its CSV parser, groupby machinery and plotting on first use.
    if "pandas" in sys.modules:
        frame = sys.modules["pandas"].read_csv(io.StringIO("k,v\na,1\nb,2\n"))
        sums = frame.groupby("k")["v"].sum()
        if "matplotlib.pyplot" in sys.modules:
            pyplot = sys.modules["matplotlib.pyplot"]
            sums.plot.bar()
            pyplot.gcf().savefig(io.BytesIO(), format="png")
            pyplot.close("all")
    # Hundreds of thousands of objects now live for good: the collector need not walk them in
    # every full collection the job triggers (gc.freeze, as pre-forking servers do).
    if names:
        gc.collect()
        gc.freeze()


def write_files(files):
    """Writes the job's files under the working directory; their paths were checked by the host."""
    for file in files:
        directory = os.path.dirname(file["path"])
        if directory:
            os.makedirs(directory, exist_ok=True)
        content = file["content"]
        data = binascii.a2b_base64(content) if file["encoding"] == "base64" else content.encode("utf-8", "surrogatepass")
        with open(file["path"], "xb") as f:
            f.write(data)


def collect_figures():
    """PNGs of the program's matplotlib figures: those shown, then those still open."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    backend = sys.modules.get("warmbox_figures")
    if pyplot is None or backend is None:
        return []  # no pyplot, or the program chose another backend
    figures = list(backend.shown)
    try:
        numbers = pyplot.get_fignums()
    except Exception:  # noqa: BLE001 - the program may have broken pyplot; it has no figures then
        numbers = []
    for number in numbers:
        if len(figures) >= MAX_FIGURES:
            break
        try:
            figures.append(backend.png_of(pyplot.figure(number)))
        except Exception as exc:  # noqa: BLE001 - one figure that cannot be drawn does not end the report
            sys.stderr.write(f"warmbox: figure {number} could not be drawn: {type(exc).__name__}: {exc}\n")
    return figures[:MAX_FIGURES]


def set_rlimits(rlimits):
    # Soft and hard alike: an unprivileged program can lower a hard limit, never raise it.
    for name, value in (
        (resource.RLIMIT_FSIZE, rlimits["fileSizeBytes"]),
        (resource.RLIMIT_NOFILE, rlimits["openFiles"]),
        (resource.RLIMIT_STACK, rlimits["stackBytes"]),
        # Only under gVisor, whose kernel is the sandbox's own: there the host's pids cgroup
        # holds gVisor, not the program, and this uid's processes are the program's alone.
        # Under runc the container's pids cgroup is the limit, and RLIMIT_NPROC would count
        # every process of this uid on the host.
        (resource.RLIMIT_NPROC, rlimits.get("processes")),
    ):
        if value is not None:
            resource.setrlimit(name, (value, value))


def unsafe_integer(value):
    """The first integer in `value` that a JavaScript number cannot hold exactly, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if abs(item) > JS_SAFE_INTEGER:
                return item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def describe(exc, tb):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
    }


def exit_code_of(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def runner_error(kind, message):
    """An error the runner found, not one the program raised: it has no traceback."""
    return {"type": kind, "message": message, "traceback": ""}


def no_result(error):
    """The report's error and result lines where there is no result: the error, then null."""
    return {"error": [error_line(error)], "result": [b"null\n"]}


def encode_report(namespace, error):
    """The report's error and result lines, as pieces of bytes: the error (or null), then `result`.

    A large result is encoded and checked in slices rather than whole, so that it is held once
    (as json.dumps made it), not as three or four copies of its size.
    """
    try:
        # ASCII only: a lone surrogate in a str (legal in Python) still crosses as valid JSON.
        result = json_of(namespace.get("result"))
    except UnsafeIntegerError as exc:
        return no_result(error or runner_error(ERROR_TYPES["result"], f"result {exc}"))
    except (TypeError, ValueError, RecursionError) as exc:
        return no_result(error or runner_error(ERROR_TYPES["result"], f"result is not JSON-serialisable: {exc}"))
    return {"error": [error_line(error)], "result": itertools.chain(ascii_slices(result), [b"\n"])}


def ascii_slices(text):
    for i in range(0, len(text), SLICE_CHARS):
        yield text[i : i + SLICE_CHARS].encode("ascii")


def has_long_digit_run(text):
    # Slices overlap by the run's length less one, so a run across two slices is seen too.
    step = SLICE_CHARS - len(LONG_DIGIT_RUN) + 1
    return any(LONG_DIGIT_RUN in text[i : i + SLICE_CHARS].encode("ascii").translate(DIGITS_ONLY) for i in range(0, len(text), step))


def error_line(error):
    return json.dumps(error).encode("ascii") + b"\n"


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main_module(code, data):
    """The program's `__main__`: a real module in sys.modules, backed by main.py on disk.

    Functions and classes the code defines then pickle by reference (multiprocessing, concurrent.futures,
    pickle itself), and a spawned child finds the code where `python3 main.py` would have it.
    """
    path = os.path.join(os.getcwd(), MAIN_FILE_NAME)
    try:
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(code)
    except OSError:
        pass  # a working directory too small for the code: it still runs, from memory
    linecache.cache[path] = (len(code), None, code.splitlines(True), path)
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = builtins
    module.data = data
    sys.modules["__main__"] = module
    sys.argv[:] = [path]
    # As for `python3 main.py`: modules beside the code can be imported.
    sys.path.insert(0, os.getcwd())
    return module


def close_fds(*fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass  # the program closed it


def close_all_but(keep):
    # 0 to 2 first: a program that used every descriptor it may have leaves room to list the rest.
    close_fds(0, 1, 2)
    try:
        # os.listdir's own descriptor is listed too, and closed by the time it is reached.
        close_fds(*(int(name) for name in os.listdir("/proc/self/fd") if int(name) != keep))
    except OSError:
        # No room even so (the program lowered its own limit): every number up to the limit.
        os.closerange(3, keep)
        os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def report_lines(report, figures, value, ending):
    """The whole report's pieces, its lines in REPORT_LINES' order: the error and result lines
    (`report`), the figures, the value, and how it ended."""
    lines = {
        **report,
        "figures": [json.dumps([binascii.b2a_base64(png, newline=False).decode("ascii") for png in figures]).encode("ascii") + b"\n"],
        "value": [(value or "null").encode("ascii") + b"\n"],
        "ending": [json.dumps(ending).encode("ascii") + b"\n"],
    }
    return itertools.chain.from_iterable(lines[name] for name in REPORT_LINES)


def finish(report, exit_code, by_signal=None, figures=(), value=None):
    """Reports, then stops until the agent ends this process.

    The report is the agent's signal that the job is over: it answers without waiting for
    this process to be torn down, which takes longer than the job itself. So the report comes
    after everything Python's own exit would run first (non-daemon threads, atexit handlers),
    and the interpreter never runs its finalisation: it stops, and the agent kills it once it
    has answered. Continued by anything else, it ends with os._exit, as a forked child would.
    """
    ending = {"signal": by_signal.name} if by_signal else {"exit": exit_code}
    # The program's output ends first, so that it has ended by the time the agent reads the
    # report, which the agent answers once it has all of the output: every descriptor goes
    # but the result channel, any copy of stdout the program made (os.dup) with them, since
    # this process stops rather than exits (below) and would hold it open.
    close_all_but(RESULT_FD)
    # One piece at a time: a large result's slices are made as they are written.
    for piece in report_lines(report, figures, value, ending):
        write_all(RESULT_FD, piece)
    close_fds(RESULT_FD)
    if by_signal:
        # As python3 does for an uncaught KeyboardInterrupt: end by the signal itself.
        signal.signal(by_signal, signal.SIG_DFL)
        os.kill(os.getpid(), by_signal)
    # Stopped, not ended: the agent answers first and ends this process after (see
    # PythonRunner#supervise), which keeps its teardown off the job's path.
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(exit_code)


# The runner's channels a forked child closes: the result channel, and a session's job channel.
# (A job's is closed before the code runs, and its number may be the program's by then.)
FORSAKEN_FDS = [RESULT_FD]


def forsake_channels():
    """In a child the program forks: the runner's channels are the main process's alone.

    A child of `python3 main.py` never reports, whatever it does; closing the channels here
    (os.register_at_fork runs this in every child os.fork, pty.fork or multiprocessing makes)
    means it cannot, even by mistake, nor take a session's next cell, and the result channel
    closes when the main process ends.
    """
    close_fds(*FORSAKEN_FDS)


def end_as_child(exit_code, by_signal):
    """A forked child that fell off the end of the code, raised or exited: ends as a child of
    `python3 main.py` would (its threads joined, atexit run, its streams flushed), reporting nothing."""
    join_threads()
    atexit._run_exitfuncs()
    flush_streams()
    if by_signal:
        signal.signal(by_signal, signal.SIG_DFL)
        os.kill(os.getpid(), by_signal)
    os._exit(exit_code)


def join_threads():
    """Waits for the program's non-daemon threads, as the interpreter's exit does (a program
    that never imported threading has none)."""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()


def flush_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # the program closed it


def unread_bytes(fd):
    """Bytes written to `fd` that its reader (the agent) has not read yet.

    The agent's stdio "pipes" are Unix socket pairs (libuv makes them so): there, what the
    peer has not read yet is still charged to this end's send queue (SIOCOUTQ). On a real
    pipe, it is what the pipe holds (FIONREAD, on either end).
    """
    try:
        request = termios.TIOCOUTQ if stat.S_ISSOCK(os.fstat(fd).st_mode) else termios.FIONREAD
        return int.from_bytes(fcntl.ioctl(fd, request, b"\0\0\0\0"), sys.byteorder)
    except OSError:
        return 0  # the program closed it, or made it something else


def wait_for_output_read():
    """Waits until the agent has read all the cell's output, so that its report follows it.

    The output and the report travel on different pipes: the report, written once these are
    empty, reaches the agent after the last byte of output did.
    """
    flush_streams()
    deadline = time.monotonic() + OUTPUT_READ_WAIT_S
    while (unread_bytes(1) or unread_bytes(2)) and time.monotonic() < deadline:
        time.sleep(0.0002)


def split_last_expression(code, filename):
    """The cell compiled: its statements, and its last one apart when it is an expression,
    whose value the cell then shows, as a REPL or Jupyter does."""
    import ast  # only sessions need it: 8 ms of every container's start, were it imported ahead

    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    return compile(tree, filename, "exec"), (compile(last, filename, "eval") if last else None)


class UnsafeIntegerError(ValueError):
    """A value holds an integer that a JavaScript number cannot hold exactly."""


def json_of(value):
    """`value` as JSON text; raises as json.dumps does, or UnsafeIntegerError."""
    text = json.dumps(value, allow_nan=False)
    if has_long_digit_run(text):
        big = unsafe_integer(value)
        if big is not None:
            digits = str(big)
            shown = digits if len(digits) <= 40 else digits[:20] + "..." + digits[-10:]
            raise UnsafeIntegerError(f"holds the integer {shown}, which a JavaScript number cannot hold exactly; send it as a string")
    return text


def cut(text):
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


def display_of(value):
    """The value line of a cell: JSON where the value has it, its repr always, and what a page
    renders where the value offers it: HTML (a pandas DataFrame) or a PNG (a matplotlib figure,
    or anything with IPython's `_repr_png_`). None when there is nothing to show."""
    if value is None:
        return None
    shown = {}
    try:
        shown["repr"] = cut(repr(value))
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ is the program's; the cell still reports
        shown["repr"] = f"<repr failed: {type(exc).__name__}: {exc}>"
    html = getattr(value, "_repr_html_", None)
    if callable(html) and not isinstance(value, type):
        try:
            text = html()
            if isinstance(text, str):
                shown["html"] = cut(text)
        except Exception:  # noqa: BLE001 - no HTML, then
            pass
    png = png_of_value(value)
    if png is not None:
        shown["png"] = binascii.b2a_base64(png, newline=False).decode("ascii")
    line = json.dumps(shown)
    try:
        return line[:-1] + ',"json":' + json_of(value) + "}"
    except (TypeError, ValueError, RecursionError):
        return line


def png_of_value(value):
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is not None and isinstance(value, figure_module.Figure):
        backend = sys.modules.get("warmbox_figures")
        try:
            if backend is not None:
                return backend.png_of(value)
            buffer = io.BytesIO()
            value.savefig(buffer, format="png")
            return buffer.getvalue()
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn shows as its repr
            return None
    png = getattr(value, "_repr_png_", None)
    if callable(png) and not isinstance(value, type):
        try:
            data = png()
            return data if isinstance(data, bytes) else None
        except Exception:  # noqa: BLE001
            return None
    return None


def close_figures():
    """After a cell: its figures were reported, and the next cell starts with none open."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    backend = sys.modules.get("warmbox_figures")
    if backend is not None:
        backend.shown.clear()
    if pyplot is not None:
        try:
            pyplot.close("all")
        except Exception:  # noqa: BLE001 - the program broke pyplot
            pass


class Cells:
    """A session's cells, run one after another in the same `__main__`."""

    def __init__(self, namespace, main_pid):
        self.namespace = namespace
        self.main_pid = main_pid
        self.count = 0
        self.running = False
        # SIGINT is the agent's interrupt: a KeyboardInterrupt in a running cell, nothing between cells.
        signal.signal(signal.SIGINT, self.on_interrupt)

    def on_interrupt(self, signum, frame):
        if self.running:
            raise KeyboardInterrupt

    def run(self, code, stdin, first=False):
        """Runs one cell and reports it; ends the process if the cell exited."""
        self.count += 1
        filename = self.namespace["__file__"] if first else f"<cell {self.count}>"
        if not first:
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8", "surrogatepass")), encoding="utf-8")
        error = None
        value = None
        exit_code = None
        try:
            self.running = True
            statements, last = split_last_expression(code, filename)
            exec(statements, self.namespace)
            if last is not None:
                value = eval(last, self.namespace)
            self.running = False
        except SystemExit as exc:
            self.running = False
            exit_code = exit_code_of(exc)
        except BaseException as exc:  # noqa: B036 - KeyboardInterrupt is the interrupt; the session goes on
            self.running = False
            tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
            error = describe(exc, tb)
            sys.stderr.write(error["traceback"])
        if os.getpid() != self.main_pid:
            end_as_child(exit_code or (1 if error else 0), None)
        if value is not None:
            self.namespace["_"] = value
        figures = collect_figures()
        close_figures()
        try:
            shown = display_of(value)
        except Exception:  # noqa: BLE001 - whatever the value does, the cell reports
            shown = None
        if exit_code is not None:
            join_threads()
            atexit._run_exitfuncs()
            flush_streams()
            finish(encode_report(self.namespace, error), exit_code, figures=figures, value=shown)
        wait_for_output_read()
        for piece in report_lines(encode_report(self.namespace, error), figures, shown, {"open": True}):
            write_all(RESULT_FD, piece)

    def serve(self, channel):
        """Runs each cell the agent sends, until the channel closes or a cell exits."""
        while True:
            try:
                cell = json.loads(read_job(channel))
            except EOFError:
                os._exit(0)
            data = cell.get("data")
            if data is not None or "data" not in self.namespace:
                self.namespace["data"] = data
            self.run(cell["code"].removeprefix("\ufeff"), cell.get("stdin") or "")


def main():
    os.dup2(STDERR_FD, 2)
    os.close(STDERR_FD)
    os.set_inheritable(RESULT_FD, False)
    os.set_inheritable(JOB_FD, False)
    widen_pipes()
    prefer_me_when_out_of_memory()
    seed_matplotlib_cache()
    try:
        preload(sys.argv[2:])
    except PreloadError as exc:
        # On stderr, which the agent hands to the host: the container does not start.
        sys.stderr.write(f"preload: {exc}\n")
        sys.stderr.flush()
        os._exit(1)
    main_pid = os.getpid()
    os.register_at_fork(after_in_child=forsake_channels)
    write_all(RESULT_FD, READY_LINE)

    channel = os.fdopen(JOB_FD, "rb", buffering=0)
    raw = read_job(channel)
    try:
        job = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # Data nested deeper than Python's recursion limit is the only way here.
        message = f"data could not be loaded in Python: {type(exc).__name__}: {exc}"
        finish(no_result(runner_error(ERROR_TYPES["data"], message)), 1)
    del raw
    session = job.get("session", False)
    if session:
        FORSAKEN_FDS.append(JOB_FD)
    else:
        channel.close()
    # A byte-order mark, as editors on Windows and browsers' uploads leave, is not code.
    code = job["code"].removeprefix("\ufeff")
    try:
        write_files(job.get("files") or [])
    except (OSError, ValueError) as exc:
        message = f"the job's files could not be written: {type(exc).__name__}: {exc}"
        finish(no_result(runner_error(ERROR_TYPES["files"], message)), 1)
    set_rlimits(job["rlimits"])
    os.environ.update(job.get("env") or {})
    module = main_module(code, job["data"])
    namespace = module.__dict__
    if session:
        try:
            preload(job.get("preload") or [])
        except PreloadError as exc:
            finish(no_result(runner_error(ERROR_TYPES["preload"], str(exc))), 1)
        del job
        cells = Cells(namespace, main_pid)
        cells.run(code, "", first=True)
        cells.serve(channel)
    del job

    exit_code = 0
    error = None
    by_signal = None
    try:
        exec(compile(code, module.__file__, "exec"), namespace)
    except SystemExit as exc:
        exit_code = exit_code_of(exc)
    except BaseException as exc:  # noqa: B036 - KeyboardInterrupt and the like are the program's too
        # Drop this frame, so the traceback shows only the program's own.
        error = describe(exc, exc.__traceback__.tb_next)
        sys.stderr.write(error["traceback"])
        exit_code = 1
        if isinstance(exc, KeyboardInterrupt):
            by_signal = signal.SIGINT

    if os.getpid() != main_pid:
        end_as_child(exit_code, by_signal)

    join_threads()
    # Before the atexit handlers, among which is matplotlib's that closes every figure.
    figures = collect_figures()
    atexit._run_exitfuncs()
    flush_streams()
    finish(encode_report(namespace, error), exit_code, by_signal, figures)


main()
