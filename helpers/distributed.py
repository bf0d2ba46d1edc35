"""Ranks that talk to each other: the communicators of Lab 6 (distributed training). No graded code.

    results = run_ranks(fn, 4, data, timeout=10)  # fn(comm, data) on ranks 0..3, threads of this process
    results = launch(fn, 2, data, timeout=60)     # the same fn in 2 real processes over gloo (not under nbgrader)
    comm = TorchComm()                            # in a script under torchrun, after init_process_group

Both communicators have one interface, named as in ``torch.distributed`` (in place where it is in place):
``comm.rank``, ``comm.world_size``, ``all_reduce(t, op="sum"|"mean"|"max")``, ``broadcast(t, src)``,
``all_gather(t) -> [one tensor per rank]``, ``reduce_scatter(t, op) -> this rank's piece``, ``send(t, dst)``,
``recv(t, src)``, ``sendrecv(t, dst, buffer, src)``, ``barrier()``. Rank ``r``'s piece of ``reduce_scatter``
is ``t.tensor_split(world_size)[r]`` (the pieces' sizes differ by at most one). ``all_gather`` needs the same
shape on every rank, as in torch. A ``send`` waits until its ``recv`` is posted, as gloo's does, so a ring of
sends deadlocks in both: a step of a ring sends and receives at once, with ``sendrecv``.

Counters: ``comm.stats[name] == {"calls": ..., "bytes": ...}`` for every call above, ``comm.bytes_sent`` their
sum, ``comm.reset_stats()``. "bytes" counts the **payload this rank hands to the call**, whatever algorithm
moves it: ``all_reduce``, ``all_gather``, ``reduce_scatter`` the whole tensor it passes; ``broadcast`` the
tensor on ``src``, 0 elsewhere; ``send``, ``sendrecv`` the tensor sent; ``recv``, ``barrier`` 0. Turning
payload into traffic on the wires needs a network model (e.g. what a ring all-reduce sends), which the lab states.

Threads (:func:`run_ranks`, :class:`ThreadComm`) are what graded tests use: the grading sandbox has no
network, so nothing here opens a socket. Reductions add the ranks' tensors **in rank order**
(``((t0 + t1) + t2) + ...``), so every rank gets the same bits on every run. A rank waiting longer than
``timeout`` seconds for the others, ranks calling different collectives or passing different shapes, or an
exception on one rank, stop every rank with a :class:`CommError` that names the ranks and what each was
doing; :func:`run_ranks` re-raises the first failure (a rank's own exception as :class:`RankError`). Nothing
is written to stderr. The threads share torch's random number generator (``torch.manual_seed`` too): draw
random values on one rank and broadcast them, or give each rank a ``torch.Generator``. gloo's and NCCL's sums
run in their own algorithm's order: the same bits on every rank, those of the rank-order sum with 2 ranks,
possibly not in the last bits with more.

Start method of :func:`launch`: ``fork``. A notebook's ``fn`` (and everything it uses) lives in ``__main__``,
which ``spawn`` and ``forkserver`` children cannot import, so they could not unpickle it; a forked child
inherits it. Fork is unsafe in one known way here: after the parent has run a parallel torch op, libgomp's
thread pool does not exist in the child, and the child's first parallel op waits for it for ever (measured:
forked after a 2-thread matmul, children doing a matmul hung until killed; with ``torch.set_num_threads(1)``
the same launch took 0.5 s). So every child runs on one thread from its first line
(``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``); ``tests/test_distributed.py`` launches after a
multi-threaded matmul. Other limits of fork: the children cannot use CUDA once the parent has, and on a machine
with a GPU, once the parent has run ``backward()``, torch's autograd refuses to run in a forked child (torch's
wiki page Autograd-and-Fork). There, or on Windows, define ``fn`` in a ``.py`` module and pass
``start="spawn"`` (slower: each child imports torch), or run a script with ``torchrun`` and :class:`TorchComm`.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import warnings
from datetime import timedelta
from pathlib import Path

import torch

from .env import under_nbgrader

OPS = ("sum", "mean", "max")
CALLS = ("all_reduce", "broadcast", "all_gather", "reduce_scatter", "send", "recv", "sendrecv", "barrier")
_BUSY = "is running its own code"  # what a rank is doing outside the communicator ("rank 1 <this>")


@torch.no_grad()
def seed_parameters(model, seed: int):
    """Draw ``model``'s parameters from ``torch.Generator().manual_seed(seed)`` (normal, std 1/sqrt(fan-in));
    returns ``model``. Ranks that are threads share torch's global generator, so ``torch.manual_seed`` on each
    rank races with the others: this gives each rank (or all of them) a start that is the same on every run."""
    generator = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        fan_in = p[0].numel() if p.dim() > 1 else p.numel()
        p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) / fan_in ** 0.5)
    return model


class CommError(RuntimeError):
    """A call could not complete: ranks disagree, one never came, or one failed; the message says which."""


class RankError(RuntimeError):
    """A rank's function raised: the message names the rank (the original exception is its ``__cause__``)."""


def _spec(tensor) -> str:
    return "no tensor" if tensor is None else f"{str(tensor.dtype).replace('torch.', '')} {list(tensor.shape)}"


def _ranks(ranks) -> str:
    ranks = list(ranks)
    return f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"


def _by_rank(values: dict, verb: str) -> str:
    """``{rank: value}`` -> 'ranks 0, 2 called X, rank 1 called Y' (ranks grouped by value)."""
    groups = collections.defaultdict(list)
    for rank in sorted(values):
        groups[values[rank]].append(rank)
    return ", ".join(f"{_ranks(ranks)} {verb} {value}" for value, ranks in groups.items())


class _Comm:
    """The interface of both communicators. Checks, ``op="mean"``, autograd and the counters are here; a
    backend moves the data (``_all_reduce`` with "sum" or "max" in place, ``_broadcast``, ``_all_gather``, ...)."""

    rank: int
    world_size: int

    def reset_stats(self) -> None:
        self.stats = {name: {"calls": 0, "bytes": 0} for name in CALLS}

    @property
    def bytes_sent(self) -> int:
        return sum(entry["bytes"] for entry in self.stats.values())

    def _count(self, name: str, tensor=None) -> None:
        self.stats[name]["calls"] += 1
        self.stats[name]["bytes"] += 0 if tensor is None else tensor.numel() * tensor.element_size()

    def _check(self, op=None, tensor=None, peers=False, **ranks) -> None:
        if op is not None and op not in OPS:
            raise ValueError(f"op={op!r} is not a reduction here: use one of {OPS}")
        if op == "mean" and not tensor.is_floating_point():
            raise TypeError(f"op='mean' needs a floating-point tensor, got {tensor.dtype}: use op='sum'")
        for what, rank in ranks.items():
            if not isinstance(rank, int) or not 0 <= rank < self.world_size:
                raise ValueError(f"{what}={rank!r} is not a rank: ranks are 0..{self.world_size - 1}")
            if peers and rank == self.rank:  # as in torch.distributed
                raise ValueError(f"{what}={rank}: rank {rank} cannot send to or receive from itself")

    @torch.no_grad()
    def all_reduce(self, tensor, op: str = "sum"):
        """Reduce ``tensor`` over the ranks, in place (``op``: "sum", "mean" = sum / world_size, "max")."""
        self._check(op, tensor)
        self._all_reduce(tensor, op)
        if op == "mean":
            tensor.div_(self.world_size)
        self._count("all_reduce", tensor)
        return tensor

    @torch.no_grad()
    def broadcast(self, tensor, src: int = 0):
        """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank (same shape and dtype everywhere)."""
        self._check(src=src)
        self._broadcast(tensor, src)
        self._count("broadcast", tensor if self.rank == src else None)
        return tensor

    @torch.no_grad()
    def all_gather(self, tensor) -> list:
        """Every rank's ``tensor`` (same shape everywhere), in rank order: new tensors."""
        parts = self._all_gather(tensor)
        self._count("all_gather", tensor)
        return parts

    @torch.no_grad()
    def reduce_scatter(self, tensor, op: str = "sum"):
        """This rank's piece, ``tensor_split(world_size)[rank]`` along dim 0, of ``tensor`` reduced over the
        ranks: a new tensor."""
        self._check(op, tensor)
        piece = self._reduce_scatter(tensor, op)
        self._count("reduce_scatter", tensor)
        return piece.div_(self.world_size) if op == "mean" else piece

    def barrier(self) -> None:
        """Wait until every rank has called ``barrier``."""
        self._barrier()
        self._count("barrier")

    @torch.no_grad()
    def send(self, tensor, dst: int) -> None:
        """Send ``tensor`` to rank ``dst``; returns once ``dst`` has received it."""
        self._check(peers=True, dst=dst)
        self._send(tensor, dst)
        self._count("send", tensor)

    @torch.no_grad()
    def recv(self, tensor, src: int):
        """Receive what rank ``src`` sends into ``tensor`` (same shape and dtype as the one sent)."""
        self._check(peers=True, src=src)
        self._recv(tensor, src)
        self._count("recv")
        return tensor

    @torch.no_grad()
    def sendrecv(self, tensor, dst: int, buffer, src: int):
        """Send ``tensor`` to ``dst`` and, at the same time, receive into ``buffer`` from ``src``; returns it."""
        self._check(peers=True, dst=dst, src=src)
        self._sendrecv(tensor, dst, buffer, src)
        self._count("sendrecv", tensor)
        return buffer


class _World:
    """What the threads of one :func:`run_ranks` share: one lock, the open collectives, the messages in
    flight, what each rank is doing (for error messages) and the first failure (which stops every rank)."""

    def __init__(self, size: int, timeout: float):
        self.size, self.timeout = size, timeout
        self.cond = threading.Condition()
        self.slots, self.unread = {}, {}  # collective number -> {rank: (call, spec, tensor)}, readers left
        self.mail = collections.defaultdict(collections.deque)  # (src, dst) -> messages not yet received
        self.where, self.finished = [_BUSY] * size, 0
        self.failure, self.first = None, None  # the message every rank raises; (rank, exception) first raised

    def fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
        self.cond.notify_all()

    def wait(self, rank: int, doing: str, ready, awaited, what: str) -> None:
        """Rank ``rank`` waits (holding the lock) until ``ready()``; ``awaited()``: the ranks that must reach
        ``what`` first. Fails at once when one of those has returned, after ``timeout`` seconds otherwise."""
        deadline, self.where[rank] = time.monotonic() + self.timeout, f"is waiting in {doing}"
        while True:
            if self.failure is not None:
                raise CommError(self.failure)
            if ready():
                self.where[rank] = _BUSY
                return
            gone = [r for r in awaited() if self.where[r].startswith("has returned")]
            late = gone or (awaited() if time.monotonic() >= deadline else [])
            if not late:
                self.cond.wait(max(deadline - time.monotonic(), 0.001))
                continue
            hint = any(self.where[r].startswith("is waiting in send") for r in late)
            self.fail("; ".join(f"rank {r} never reached {what}"
                                + ("" if r in gone else f" within the timeout ({self.timeout:g} s)")
                                + f": it {self.where[r]}" for r in late)
                      + (". A send waits for its recv, as in torch.distributed: send and receive at once with "
                         "sendrecv" if hint else ""))


class ThreadComm(_Comm):
    """Rank ``rank`` of a :func:`run_ranks` world (ranks are threads; see the module docstring)."""

    def __init__(self, world: _World, rank: int):
        self._world, self.rank, self.world_size, self._calls = world, rank, world.size, 0
        self.reset_stats()

    def _collective(self, name: str, call: str, tensor, share: bool = True) -> list:
        """Hand a copy of ``tensor`` to this rank's next collective; every rank's copy, in rank order."""
        w, mine = self._world, tensor.clone() if share and tensor is not None else None
        with w.cond:
            self._calls += 1
            n, what = self._calls, f"{name} #{self._calls}"
            slot = w.slots.setdefault(n, {})
            slot[self.rank] = (call, _spec(tensor), mine)
            w.cond.notify_all()
            if len(slot) == w.size:  # the last to arrive checks that the calls match (one message, every rank)
                if len({call for call, _, _ in slot.values()}) > 1:
                    w.fail(f"collective #{n} does not match: " + _by_rank({r: e[0] for r, e in slot.items()},
                                                                          "called"))
                elif len({spec for _, spec, _ in slot.values()}) > 1:
                    w.fail(f"{what}: every rank must pass the same shape and dtype, but "
                           + _by_rank({r: e[1] for r, e in slot.items()}, "passed"))
            w.wait(self.rank, what, lambda: len(slot) == w.size, lambda: sorted(set(range(w.size)) - set(slot)),
                   what)
            w.unread[n] = w.unread.get(n, w.size) - 1
            if w.unread[n] == 0:
                del w.slots[n], w.unread[n]
        return [slot[r][2] for r in range(w.size)]

    @staticmethod
    def _reduce(parts: list, op: str):
        out = parts[0].clone()
        for part in parts[1:]:  # in rank order: the same additions, so the same bits, on every rank
            out = torch.maximum(out, part) if op == "max" else out.add_(part)
        return out  # "mean": _Comm divides

    def _all_reduce(self, tensor, op):
        tensor.copy_(self._reduce(self._collective("all_reduce", f"all_reduce(op={op!r})", tensor), op))

    def _broadcast(self, tensor, src):
        parts = self._collective("broadcast", f"broadcast(src={src})", tensor, share=self.rank == src)
        tensor.copy_(parts[src])

    def _all_gather(self, tensor):
        return [part.clone() for part in self._collective("all_gather", "all_gather()", tensor)]  # own copies

    def _reduce_scatter(self, tensor, op):
        parts = self._collective("reduce_scatter", f"reduce_scatter(op={op!r})", tensor)
        return self._reduce([part.tensor_split(self.world_size)[self.rank] for part in parts], op)

    def _barrier(self):
        self._collective("barrier", "barrier()", None)

    def _post(self, tensor, dst: int) -> dict:
        message = {"tensor": tensor.clone(), "taken": False}
        with self._world.cond:
            self._world.mail[(self.rank, dst)].append(message)
            self._world.cond.notify_all()
        return message

    def _delivered(self, message: dict, dst: int) -> None:
        with self._world.cond:
            self._world.wait(self.rank, f"send to rank {dst}", lambda: message["taken"], lambda: [dst],
                             f"a recv from rank {self.rank}")

    def _recv(self, tensor, src: int) -> None:
        w, box = self._world, self._world.mail[(src, self.rank)]
        with w.cond:
            w.wait(self.rank, f"recv from rank {src}", lambda: bool(box), lambda: [src], f"a send to rank {self.rank}")
            message = box.popleft()
            if _spec(message["tensor"]) != _spec(tensor):
                w.fail(f"rank {self.rank}'s recv from rank {src} expects {_spec(tensor)}, but rank {src} sent "
                       f"{_spec(message['tensor'])}")
                raise CommError(w.failure)
            tensor.copy_(message["tensor"])
            message["taken"] = True
            w.cond.notify_all()

    def _send(self, tensor, dst):
        self._delivered(self._post(tensor, dst), dst)

    def _sendrecv(self, tensor, dst, buffer, src):
        message = self._post(tensor, dst)
        self._recv(buffer, src)
        self._delivered(message, dst)


class RankStopped(BaseException):
    """Raised inside a rank thread that :func:`run_ranks` gave up on (it never returned), to end it."""


def _stop(threads) -> None:
    """End rank threads that are still running (a loop that never ends would otherwise keep running, and
    slow down everything after it): raise :class:`RankStopped` in each, at its next Python instruction."""
    for thread in threads:
        if thread.is_alive() and thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(RankStopped))


def run_ranks(fn, world_size: int, *args, timeout: float = 30.0) -> list:
    """``[fn(comm, *args) for each rank]``, the ranks run at once as threads of this process (no sockets).

    A rank's exception is re-raised here (as :class:`RankError` naming it, or the :class:`CommError` it
    caused); the other ranks are released. ``timeout``: the longest a rank waits for the others in one call.
    Ranks still running when this gives up (or is interrupted) are stopped, so a rank that loops for ever
    costs only the cell that ran it."""
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    world, results = _World(world_size, timeout), [None] * world_size

    def body(rank: int) -> None:
        try:
            results[rank], state = fn(ThreadComm(world, rank), *args), "has returned from its function"
        except BaseException as exc:  # caught here, so threading prints nothing to stderr
            state = f"has raised {type(exc).__name__}"
            with world.cond:
                world.first = world.first or (rank, exc)
                world.fail(f"rank {rank} raised {type(exc).__name__}: {exc}")
        with world.cond:
            world.where[rank], world.finished = state, world.finished + 1
            world.cond.notify_all()

    threads = [threading.Thread(target=body, args=(rank,), name=f"rank {rank}", daemon=True)
               for rank in range(world_size)]
    for thread in threads:
        thread.start()
    with world.cond:
        try:
            give_up = None  # once a rank has raised, the others get `timeout` seconds to stop
            while world.finished < world_size and (give_up is None or time.monotonic() < give_up):
                if world.first is not None and give_up is None:
                    give_up = time.monotonic() + timeout
                world.cond.wait(0.5 if give_up is None else max(give_up - time.monotonic(), 0.001))
        except BaseException:  # e.g. the notebook's interrupt button or nbgrader's cell timeout
            world.fail("run_ranks was interrupted")
            _stop([t for r, t in enumerate(threads) if not world.where[r].startswith("has ")])
            raise
        stuck = [r for r in range(world_size) if not world.where[r].startswith("has ")]
    _stop([threads[r] for r in stuck])
    if world.first is None:
        return results
    rank, exc = world.first
    note = (f"; {_ranks(stuck)} still running {timeout:g} s later, outside the communicator (a loop that never "
            "ends?)" if stuck else "")
    if isinstance(exc, CommError):
        if not stuck:
            raise exc  # its traceback shows the call that failed
        raise CommError(f"{exc}{note}") from exc
    raise RankError(f"rank {rank} raised {type(exc).__name__}: {exc}{note}") from exc


class TorchComm(_Comm):
    """The same interface over an initialised ``torch.distributed`` process group (gloo; NCCL for CUDA
    tensors), with the same counters: code written for :class:`ThreadComm` runs unchanged."""

    def __init__(self):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("TorchComm needs a process group: call torch.distributed.init_process_group(...) "
                               "first (launch and torchrun scripts do), or use run_ranks for threads")
        self._dist, self.rank, self.world_size = dist, dist.get_rank(), dist.get_world_size()
        self.reset_stats()

    def _op(self, op: str):
        return self._dist.ReduceOp.MAX if op == "max" else self._dist.ReduceOp.SUM  # "mean": _Comm divides

    @staticmethod
    def _in_place(tensor, call) -> None:
        """``call(buffer)`` on ``tensor`` or, if it is not contiguous (torch.distributed needs that), a copy."""
        buffer = tensor if tensor.is_contiguous() else tensor.contiguous()
        call(buffer)
        if buffer is not tensor:
            tensor.copy_(buffer)

    def _all_reduce(self, tensor, op):
        self._in_place(tensor, lambda b: self._dist.all_reduce(b, op=self._op(op)))

    def _broadcast(self, tensor, src):
        self._in_place(tensor, lambda b: self._dist.broadcast(b, src))

    def _all_gather(self, tensor):
        parts = [torch.empty_like(tensor, memory_format=torch.contiguous_format) for _ in range(self.world_size)]
        self._dist.all_gather(parts, tensor.contiguous())
        return parts

    def _reduce_scatter(self, tensor, op):
        pieces = [piece.contiguous() for piece in tensor.tensor_split(self.world_size)]
        out = torch.empty_like(pieces[self.rank])
        self._dist.reduce_scatter(out, pieces, op=self._op(op))
        return out

    def _barrier(self):
        self._dist.barrier()

    def _send(self, tensor, dst):
        self._dist.send(tensor.contiguous(), dst)

    def _recv(self, tensor, src):
        self._in_place(tensor, lambda b: self._dist.recv(b, src))

    def _sendrecv(self, tensor, dst, buffer, src):
        d, outgoing = self._dist, tensor.contiguous()

        def exchange(incoming):  # both posted before either waits: no deadlock in a ring
            for work in d.batch_isend_irecv([d.P2POp(d.isend, outgoing, dst), d.P2POp(d.irecv, incoming, src)]):
                work.wait()
        self._in_place(buffer, exchange)


def _child(fn, args, rank: int, world_size: int, port: int, timeout: float, log_path: str, conn) -> None:
    """One rank of :func:`launch`: its output to its log, one thread, a gloo group, ``fn``, the reply."""
    log = open(log_path, "w", buffering=1)
    os.dup2(log.fileno(), 1)  # C++ output (gloo, torch warnings) too
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log  # a notebook's streams belong to the parent's kernel
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    torch.set_num_threads(1)  # before any parallel op: the parent's OpenMP threads were not forked with it
    import torch.distributed as dist

    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=timeout))
        result = fn(TorchComm(), *args)
        if dist.is_initialized():
            dist.barrier()  # nobody leaves while another still needs it
            dist.destroy_process_group()
        reply = pickle.dumps(("ok", result))
    except BaseException as exc:
        traceback.print_exc()
        reply = pickle.dumps(("error", f"raised {type(exc).__name__}: {exc}"))
    log.flush()
    conn.send_bytes(reply)


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").rstrip() if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def launch(fn, world_size: int, *args, timeout: float = 120.0, start: str = "fork", echo: bool = True) -> list:
    """``[fn(TorchComm(), *args) for each rank]``, each rank a real process in a gloo group on 127.0.0.1.

    Each child's stdout and stderr go to a log file; ``echo`` prints the logs (to stdout) after a run. At
    the ``timeout`` (seconds, the whole run) every child is killed, and the error shows the end of the logs
    of the ranks that did not finish. ``start``: see the module docstring. Not under nbgrader (no sockets)."""
    if under_nbgrader():
        raise RuntimeError("launch starts processes that talk over sockets, which the grading sandbox does not "
                           "have: run ranks as threads under nbgrader: use run_ranks(fn, world_size, ...)")
    if start not in multiprocessing.get_all_start_methods():
        raise RuntimeError(f"this system cannot start processes with {start!r}: use run_ranks, or define fn in a "
                           ".py module and pass start='spawn'")
    with socket.socket() as probe:  # a free port for rank 0's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs, context = Path(tempfile.mkdtemp(prefix="launch-")), multiprocessing.get_context(start)
    procs, pipes = [], []
    with warnings.catch_warnings():  # Python 3.12 and later warn when a multi-threaded process (any kernel) forks
        warnings.simplefilter("ignore", DeprecationWarning)
        for rank in range(world_size):
            receive, send = context.Pipe(duplex=False)
            procs.append(context.Process(target=_child, args=(  # not daemonic: a rank may start workers
                fn, args, rank, world_size, port, timeout, str(logs / f"rank{rank}.log"), send)))
            procs[-1].start()
            send.close()  # closed here before the next fork: a child that dies shows as the end of its pipe
            pipes.append(receive)
    results, pending, deadline = {}, dict(enumerate(pipes)), time.monotonic() + timeout
    try:
        while pending:
            ready = multiprocessing.connection.wait(list(pending.values()), max(deadline - time.monotonic(), 0))
            if not ready:
                raise CommError(f"launch: {_ranks(pending)} did not finish within {timeout:g} s and every rank "
                                f"was killed. Logs in {logs}; their ends:\n" + "\n".join(
                                    f"--- rank {r} ---\n{_tail(logs / f'rank{r}.log')}" for r in pending))
            for conn in ready:
                rank = pipes.index(conn)
                try:
                    status, value = pickle.loads(conn.recv_bytes())
                except EOFError:
                    procs[rank].join(5)
                    status, value = "error", f"died without a reply (exit code {procs[rank].exitcode})" + (
                        "; with start='spawn', fn must be importable and a script needs `if __name__ == "
                        "'__main__':` (what the child wrote before its log opened went to stderr)" if start == "spawn"
                        else "")
                if status != "ok":
                    raise RankError(f"launch: rank {rank} {value} (every rank was killed). The end of its log "
                                    f"{logs / f'rank{rank}.log'}:\n{_tail(logs / f'rank{rank}.log')}")
                results[rank] = value
                del pending[rank]
    finally:
        for proc in procs:
            proc.kill()
            proc.join()
    if echo:
        for rank in range(world_size):
            text = (logs / f"rank{rank}.log").read_text(errors="replace").rstrip()
            if text:
                print(f"--- rank {rank} ---\n{text}")
    shutil.rmtree(logs, ignore_errors=True)  # kept when a run fails: the error names them
    return [results[r] for r in range(world_size)]
