"""helpers.distributed: the thread communicator (rank-order sums, errors that name ranks, no stderr), the same
interface over gloo processes, and the launcher (fork after a multi-threaded torch op, deadline, nbgrader)."""

import tempfile
import threading
import time

import pytest
import torch

from helpers.distributed import CALLS, CommError, RankError, TorchComm, launch, run_ranks


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the logs that a failed launch keeps


def _values(world_size, size=7, dtype=torch.float64):
    """Rank r's tensor: distinct per rank, with magnitudes far apart (so the order of a float sum matters)."""
    g = torch.Generator().manual_seed(world_size)
    return [(torch.randn(size, generator=g) * 10.0 ** (3 * r)).to(dtype) for r in range(world_size)]


def test_sums_in_rank_order_give_the_same_bits_everywhere():
    xs = _values(4, size=1000, dtype=torch.float32)

    def fn(comm):
        return comm.all_reduce(xs[comm.rank].clone()), comm.reduce_scatter(xs[comm.rank].clone())

    first, again = run_ranks(fn, 4), run_ranks(fn, 4)
    in_order = ((xs[0] + xs[1]) + xs[2]) + xs[3]
    assert not torch.equal(in_order, ((xs[3] + xs[2]) + xs[1]) + xs[0])  # the order shows in the bits
    for (total, _), (total_again, _) in zip(first, again):
        assert torch.equal(total, in_order) and torch.equal(total_again, in_order)
    assert torch.equal(torch.cat([piece for _, piece in first]), in_order)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_collectives_and_point_to_point(world_size):
    xs = _values(world_size)  # 7 elements: not divisible by 2, 3 or 4

    def fn(comm):
        r, n, x = comm.rank, comm.world_size, xs[comm.rank]
        out = {"sum": comm.all_reduce(x.clone()), "mean": comm.all_reduce(x.clone(), op="mean"),
               "max": comm.all_reduce(x.clone(), op="max"), "bcast": comm.broadcast(x.clone(), src=n - 1),
               "gather": comm.all_gather(x), "scatter": comm.reduce_scatter(x.clone())}
        if n > 1:
            out["ring"] = comm.sendrecv(x, (r + 1) % n, torch.empty(7, dtype=x.dtype), (r - 1) % n)
            if r == 0:
                comm.send(x, 1)
            elif r == 1:
                out["p2p"] = comm.recv(torch.empty(7, dtype=x.dtype), 0)
        comm.barrier()
        return out

    results = run_ranks(fn, world_size)
    total = sum(xs[1:], xs[0].clone())
    for r, out in enumerate(results):
        assert torch.equal(out["sum"], total) and torch.equal(out["mean"], total / world_size)
        assert torch.equal(out["max"], torch.stack(xs).amax(0)) and torch.equal(out["bcast"], xs[-1])
        assert all(torch.equal(a, b) for a, b in zip(out["gather"], xs))
        assert torch.equal(out["scatter"], total.tensor_split(world_size)[r])
        if world_size > 1:
            assert torch.equal(out["ring"], xs[(r - 1) % world_size])
    if world_size > 1:
        assert torch.equal(results[1]["p2p"], xs[0])


def test_counters_count_the_payload_each_rank_hands_over():
    def fn(comm):
        x = torch.zeros(10)  # 40 bytes
        comm.all_reduce(x), comm.all_reduce(x), comm.broadcast(x, src=1), comm.all_gather(x[:3])
        comm.reduce_scatter(x), comm.barrier()
        comm.sendrecv(x[:5], 1 - comm.rank, torch.empty(5), 1 - comm.rank)
        (comm.send(x, 1) if comm.rank == 0 else comm.recv(x, 0))
        return comm.stats, comm.bytes_sent

    (stats0, sent0), (stats1, sent1) = run_ranks(fn, 2)
    assert set(stats0) == set(CALLS)
    assert stats0["all_reduce"] == {"calls": 2, "bytes": 80} and stats0["all_gather"] == {"calls": 1, "bytes": 12}
    assert stats0["broadcast"] == {"calls": 1, "bytes": 0} and stats1["broadcast"] == {"calls": 1, "bytes": 40}
    assert stats0["reduce_scatter"]["bytes"] == 40 and stats0["barrier"] == {"calls": 1, "bytes": 0}
    assert stats0["sendrecv"] == {"calls": 1, "bytes": 20} and stats0["send"] == {"calls": 1, "bytes": 40}
    assert stats1["recv"] == {"calls": 1, "bytes": 0} and stats1["send"]["calls"] == 0
    assert sent0 == 80 + 12 + 40 + 20 + 40 and sent1 == 80 + 40 + 12 + 40 + 20


def test_different_collectives_name_each_rank_and_call():
    def fn(comm):
        comm.barrier()
        return comm.all_reduce(torch.ones(3)) if comm.rank != 1 else comm.broadcast(torch.ones(3), src=0)

    with pytest.raises(CommError, match=r"collective #2 does not match: ranks 0, 2 called all_reduce\(op='sum'\), "
                                        r"rank 1 called broadcast\(src=0\)"):
        run_ranks(fn, 3, timeout=10)


def test_different_shapes_name_the_ranks_and_shapes():
    def fn(comm):
        return comm.all_reduce(torch.ones(4 + comm.rank))

    with pytest.raises(CommError, match=r"all_reduce #1: every rank must pass the same shape and dtype, but "
                                        r"rank 0 passed float32 \[4\], rank 1 passed float32 \[5\]"):
        run_ranks(fn, 2, timeout=10)

    def p2p(comm):
        return comm.send(torch.ones(3), 1) if comm.rank == 0 else comm.recv(torch.ones(2, dtype=torch.int64), 0)

    with pytest.raises(CommError, match=r"rank 1's recv from rank 0 expects int64 \[2\], but rank 0 sent float32 "
                                        r"\[3\]"):
        run_ranks(p2p, 2, timeout=10)


def test_a_rank_that_never_arrives_times_the_others_out_within_the_timeout():
    errors_seen = threading.Barrier(3, timeout=10)  # rank 2 stays away until both others have their error

    def fn(comm):
        if comm.rank == 2:
            return errors_seen.wait()
        start = time.monotonic()
        with pytest.raises(CommError) as error:
            comm.all_reduce(torch.ones(2))
        errors_seen.wait()
        return time.monotonic() - start, str(error.value)

    (waited0, message0), (waited1, message1), _ = run_ranks(fn, 3, timeout=0.3)
    assert 0.25 < waited0 < 2 and 0.25 < waited1 < 2
    assert message0 == message1 == ("rank 2 never reached all_reduce #1 within the timeout (0.3 s): "
                                    "it is running its own code")


def test_a_rank_that_returned_fails_the_others_at_once():
    def fn(comm):
        if comm.rank == 0:
            comm.all_reduce(torch.ones(2))

    start = time.monotonic()
    with pytest.raises(CommError, match="rank 1 never reached all_reduce #1: it has returned from its function"):
        run_ranks(fn, 2, timeout=30)
    assert time.monotonic() - start < 5


def test_an_exception_on_one_rank_releases_the_others(capfd):
    def fn(comm):
        if comm.rank == 1:
            raise ValueError("boom")
        comm.all_reduce(torch.ones(2))

    start = time.monotonic()
    with pytest.raises(RankError, match="rank 1 raised ValueError: boom") as error:
        run_ranks(fn, 3, timeout=30)
    assert time.monotonic() - start < 5 and isinstance(error.value.__cause__, ValueError)
    assert capfd.readouterr().err == ""


def test_a_ring_of_blocking_sends_deadlocks_and_says_what_to_use(capfd):
    def fn(comm):
        x = torch.ones(3)
        comm.send(x, (comm.rank + 1) % 3)
        comm.recv(x, (comm.rank - 1) % 3)

    with pytest.raises(CommError, match=r"never reached a recv from rank \d within the timeout \(0.2 s\): it is "
                                        r"waiting in send to rank \d.*send and receive at once with sendrecv"):
        run_ranks(fn, 3, timeout=0.2)
    assert capfd.readouterr().err == ""


def test_a_rank_stuck_outside_the_communicator_does_not_hold_run_ranks():
    def fn(comm):
        if comm.rank == 1:
            time.sleep(3)
        else:
            comm.barrier()

    start = time.monotonic()
    with pytest.raises(CommError, match="rank 1 never reached barrier #1.*rank 1 still running 0.2 s later"):
        run_ranks(fn, 2, timeout=0.2)
    assert time.monotonic() - start < 2


def _rank_threads():
    return [t for t in threading.enumerate() if t.name.startswith("rank ")]


def _wait_until_gone(seconds=5.0):
    deadline = time.monotonic() + seconds
    while _rank_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return _rank_threads()


def test_a_rank_that_loops_for_ever_is_stopped_and_costs_only_its_call():
    def fn(comm):
        if comm.rank == 0:
            while True:  # a student's loop that never ends, outside the communicator
                pass
        comm.all_reduce(torch.ones(2))

    with pytest.raises(CommError, match="rank 0 never reached all_reduce #1.*rank 0 still running"):
        run_ranks(fn, 2, timeout=0.3)
    assert not _wait_until_gone(), "the looping rank thread was left running"
    assert run_ranks(lambda comm: comm.rank, 2) == [0, 1]  # and the next call runs normally


def test_an_interrupted_run_stops_every_rank():
    import _thread

    def fn(comm):
        while True:  # every rank loops: nothing waits in the communicator, only an interrupt ends it
            pass

    timer = threading.Timer(0.5, _thread.interrupt_main)  # what the notebook's stop button (or nbgrader) does
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_ranks(fn, 3, timeout=60)
    timer.join()
    assert not _wait_until_gone(), "rank threads were left running after the interrupt"


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(RankError, match="rank 0 raised ValueError: op='avg' is not a reduction"):
        run_ranks(lambda comm: comm.all_reduce(torch.ones(1), op="avg"), 1)
    with pytest.raises(RankError, match="op='mean' needs a floating-point tensor"):
        run_ranks(lambda comm: comm.all_reduce(torch.ones(1, dtype=torch.int64), op="mean"), 2)
    with pytest.raises(RankError, match=r"src=2 is not a rank: ranks are 0..1"):
        run_ranks(lambda comm: comm.broadcast(torch.ones(1), src=2), 2)
    with pytest.raises(RuntimeError, match="TorchComm needs a process group"):
        TorchComm()


def _every_call(comm, xs):
    """Rank results and counters of every call, for comparing threads with gloo processes."""
    torch.randn(300, 300) @ torch.randn(300, 300), torch.randn(2_000_000).exp_()  # parallel ops: must not hang
    r, n, x = comm.rank, comm.world_size, xs[comm.rank]
    out = [comm.all_reduce(x.clone()), comm.all_reduce(x.clone(), op="mean"), comm.all_reduce(x.clone(), op="max"),
           comm.broadcast(x.clone(), src=1), *comm.all_gather(x), comm.reduce_scatter(x.clone()),
           comm.reduce_scatter(x.clone(), op="mean"), comm.sendrecv(x, (r + 1) % n, torch.empty_like(x), (r - 1) % n)]
    comm.barrier()
    if r == 0:
        comm.send(x[:3], 1)
    else:
        out.append(comm.recv(torch.empty(3), 0))
    wide = torch.stack([x, -x], dim=1)  # its columns are not contiguous (torch.distributed needs a copy)
    comm.all_reduce(wide[:, 1])
    out.append(wide)
    layer = torch.nn.Linear(7, 2)  # parameters (requires_grad) in place: a broadcast, then a collective in backward
    with torch.no_grad():
        for i, param in enumerate(layer.parameters()):  # rank 1's values, the same in threads and in processes
            param.copy_(torch.linspace(-1, 1, param.numel()).view_as(param) * (i + 1)) if r == 1 else param.zero_()
    for param in layer.parameters():
        comm.broadcast(param, src=1)
    layer.weight.register_hook(lambda grad: comm.all_reduce(grad.clone(), op="mean"))
    layer(x[None]).square().sum().backward()
    return [*out, layer.weight.detach(), layer.bias.detach(), layer.weight.grad], comm.stats


def test_threads_and_gloo_processes_agree_bit_for_bit(capfd):
    xs = _values(2, size=7, dtype=torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:  # the dangerous case for fork: the parent's OpenMP thread pool is running
        a = torch.randn(1500, 1500)
        (a @ a).sum(), torch.randn(2_000_000).exp_().sum()
        processes = launch(_every_call, 2, xs, timeout=30, echo=False)
    finally:
        torch.set_num_threads(threads)
    for (out_t, stats_t), (out_p, stats_p) in zip(run_ranks(_every_call, 2, xs), processes):
        assert stats_t == stats_p
        assert len(out_t) == len(out_p) and all(torch.equal(a, b) for a, b in zip(out_t, out_p))
    assert capfd.readouterr().err == ""


@pytest.mark.slow  # about 8 s on 2 cores: each spawned child imports torch
def test_launch_can_spawn_an_importable_function():
    xs = _values(2, size=7, dtype=torch.float32)
    processes = launch(_every_call, 2, xs, timeout=60, echo=False, start="spawn")
    for (out_t, stats_t), (out_p, stats_p) in zip(run_ranks(_every_call, 2, xs), processes):
        assert stats_t == stats_p and all(torch.equal(a, b) for a, b in zip(out_t, out_p))


def _hangs(comm):
    print(f"rank {comm.rank} starts", flush=True)
    if comm.rank == 1:
        time.sleep(60)
    comm.barrier()


def _raises(comm):
    if comm.rank == 0:
        raise ValueError("bad shard")
    comm.barrier()


def test_launch_kills_a_hanging_rank_at_the_deadline(capfd):
    start = time.monotonic()
    with pytest.raises(CommError, match=r"(?s)ranks 0, 1 did not finish within 3 s.*--- rank 1 ---\nrank 1 starts"):
        launch(_hangs, 2, timeout=3)
    assert time.monotonic() - start < 10
    assert capfd.readouterr().err == ""


def test_launch_shows_the_failing_rank_and_its_log(capfd):
    with pytest.raises(RankError, match=r"(?s)rank 0 raised ValueError: bad shard.*Traceback.*_raises"):
        launch(_raises, 2, timeout=30)
    assert capfd.readouterr().err == ""


def test_launch_echoes_the_logs_to_stdout(capfd):
    assert launch(lambda comm: print("hello from", comm.rank) or comm.rank, 2, timeout=30) == [0, 1]
    out, err = capfd.readouterr()
    assert "--- rank 1 ---\nhello from 1" in out and err == ""


def test_launch_refuses_under_nbgrader(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match="run ranks as threads under nbgrader: use run_ranks"):
        launch(_raises, 2)
