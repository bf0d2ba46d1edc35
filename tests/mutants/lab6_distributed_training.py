"""Lab 6's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`."""

LAB = "lab6_distributed_training"
AUTOGRADED_POINTS = 93  # 88 + the 5-point bonus (the pipeline bubble); the other 12 of the 100 are written answers
BONUS_POINTS = 5        # Q16, the pipeline bubble
TAMPER = {"delete": "test_assign_buckets", "edit": "test_dgc"}
LOOP_ANSWER = "ring_all_reduce"  # every rank loops: nbgrader interrupts the cell, run_ranks stops the ranks
# the heavy given cells (seconds: one fast-profile run) that the mutant rounds leave out: no graded test needs
# them (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "96c0ecf9",  # 2.7 s  the VGG on four thread ranks against one process
    "f333a79a",  # 14.6 s the VGG trained with the five gradient exchanges
    "1612e4ae",  # 0.7 s  their table and figure (reads the cell above)
    "3d7b814c",  # 4.5 s  two gloo processes against DistributedDataParallel (skipped under nbgrader)
)

# graded answer -> the graded answers its test cell also calls
DEPENDS_ON = {
    "data_parallel": {"shard_indices"},
    "bucketed_all_reduce": {"assign_buckets", "data_parallel"},
    "sharded_adam": {"partition_parameters", "data_parallel"},
    "dgc": {"topk"},
}

TEST_OF = {
    "ring_all_reduce": "test_ring_all_reduce",
    "shard_indices": "test_shard_indices",
    "data_parallel": "test_data_parallel",
    "assign_buckets": "test_assign_buckets",
    "bucketed_all_reduce": "test_bucketed_all_reduce",
    "partition_parameters": "test_partition_parameters",
    "sharded_adam": "test_sharded_adam",
    "topk": "test_topk",
    "dgc": "test_dgc",
    "powersgd": "test_powersgd",
    "ef_sign": "test_ef_sign",
    "bubble_fraction": "test_bubble_fraction",
}

# MUTANTS: lab6_distributed_training.toml, beside this file

ALTERNATIVES = {
    "ring_all_reduce": '''def ring_all_reduce(comm, tensor: torch.Tensor) -> torch.Tensor:
    n = comm.world_size
    if n == 1:
        return tensor
    flat = tensor.view(-1)
    bounds = [0]
    for i in range(n):  # chunk sizes as tensor_split gives them: the first size % n are one longer
        bounds.append(bounds[-1] + flat.numel() // n + (1 if i < flat.numel() % n else 0))
    piece = lambda c: flat[bounds[c % n]:bounds[c % n + 1]]
    for phase in ("reduce", "gather"):
        for step in range(n - 1):
            if phase == "reduce":
                out_chunk, in_chunk = comm.rank - step, comm.rank - step - 1
            else:
                out_chunk, in_chunk = comm.rank + 1 - step, comm.rank - step
            incoming = piece(in_chunk).clone()
            comm.sendrecv(piece(out_chunk).clone(), (comm.rank + 1) % n, incoming, (comm.rank - 1) % n)
            if phase == "reduce":
                piece(in_chunk).add_(incoming)
            else:
                piece(in_chunk).copy_(incoming)
    return tensor
''',
    "shard_indices": '''def shard_indices(num_samples, world_size, rank, epoch, seed=0):
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    perm = torch.randperm(num_samples, generator=g).tolist()
    return torch.tensor([perm[i] for i in range(rank, num_samples, world_size)], dtype=torch.long)
''',
    "data_parallel": '''def broadcast_parameters(model, comm, src=0):
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            comm.broadcast(t, src)


def average_gradients(model, comm):
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is None:
                continue
            comm.all_reduce(p.grad, op="mean")
''',
    "assign_buckets": '''def assign_buckets(sizes, bucket_cap):
    order = list(range(len(sizes)))[::-1]
    buckets = []
    while order:
        bucket, total = [], 0
        while order and total < bucket_cap:
            i = order.pop(0)
            bucket.append(i)
            total += sizes[i]
        buckets.append(bucket)
    return buckets
''',
    "bucketed_all_reduce": '''class BucketedAllReduce:
    def __init__(self, model, comm, bucket_cap=25 * 2 ** 20):
        self.comm = comm
        self.params = [p for p in model.parameters() if p.requires_grad]
        sizes = [p.numel() * p.element_size() for p in self.params]
        self.buckets = [[self.params[i] for i in bucket] for bucket in assign_buckets(sizes, bucket_cap)]
        self.pending = [set(range(len(b))) for b in self.buckets]
        self.where = {}
        for b, bucket in enumerate(self.buckets):
            for j, p in enumerate(bucket):
                self.where[id(p)] = (b, j)
                p.register_post_accumulate_grad_hook(self.hook)
        self.done = set()

    def hook(self, p):
        b, j = self.where[id(p)]
        self.pending[b].discard(j)
        if not self.pending[b]:
            with torch.no_grad():
                grads = [q.grad for q in self.buckets[b]]
                flat = torch.cat([g.flatten() for g in grads])
                self.comm.all_reduce(flat, op="mean")
                offset = 0
                for g in grads:
                    g.copy_(flat[offset:offset + g.numel()].reshape(g.shape))
                    offset += g.numel()
            self.done.add(b)

    def wait(self):
        missing = len(self.buckets) - len(self.done)
        self.pending = [set(range(len(b))) for b in self.buckets]
        self.done = set()
        if missing:
            raise RuntimeError(f"{missing} buckets were not all-reduced")
''',
    "partition_parameters": '''def partition_parameters(sizes, world_size):
    import heapq
    heap = [(0, r) for r in range(world_size)]
    owners = []
    for size in sizes:
        load, rank = heapq.heappop(heap)
        owners.append(rank)
        heapq.heappush(heap, (load + size, rank))
    return owners
''',
    "sharded_adam": '''class ShardedAdam:
    def __init__(self, params, comm, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.comm = comm
        self.params = list(params)
        self.owners = partition_parameters([p.numel() for p in self.params], comm.world_size)
        self.owned = [i for i, o in enumerate(self.owners) if o == comm.rank]
        self.optimizer = (torch.optim.Adam([self.params[i] for i in self.owned], lr=lr, betas=betas, eps=eps)
                          if self.owned else None)

    def step(self):
        if self.optimizer:
            self.optimizer.step()
        with torch.no_grad():
            for i, p in enumerate(self.params):
                self.comm.broadcast(p, self.owners[i])

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_numel(self):
        if not self.optimizer:
            return 0
        total = 0
        for p in [self.params[i] for i in self.owned]:
            state = self.optimizer.state.get(p, {})
            total += sum(state[k].numel() for k in ("exp_avg", "exp_avg_sq") if k in state)
        return total
''',
    "topk": '''def topk_compress(tensor, density):
    n = tensor.numel()
    k = max(1, round(density * n))
    order = torch.argsort(tensor.flatten().abs(), descending=True)
    indices = order[:k]
    return tensor.flatten()[indices].clone(), indices


def topk_decompress(values, indices, shape):
    out = torch.zeros(shape, dtype=values.dtype)
    out.view(-1).scatter_(0, indices, values)
    return out
''',
    "dgc": '''def dgc_density(epoch, final_density):
    density = 1.0
    for _ in range(epoch + 1):
        density /= 4
    return density if density > final_density else final_density


class DGC:
    def __init__(self, momentum=0.9, mask_momentum=True):
        self.momentum, self.mask_momentum = momentum, mask_momentum
        self.u = None
        self.v = None

    def compress(self, grad, density):
        with torch.no_grad():
            g = grad.flatten()
            self.u = g.clone() if self.u is None else self.momentum * self.u + g
            self.v = self.u.clone() if self.v is None else self.v + self.u
            values, indices = topk_compress(self.v, density)
            keep = torch.ones_like(self.v, dtype=torch.bool)
            keep[indices] = False
            self.v = self.v * keep
            if self.mask_momentum:
                self.u = self.u * keep
            return values, indices
''',
    "powersgd": '''class PowerSGD:
    def __init__(self, r=1, seed=0):
        self.r, self.seed = r, seed
        self.q = None
        self.error = None

    def reduce(self, comm, grad):
        with torch.no_grad():
            n = grad.shape[0]
            matrix = grad.reshape(n, -1).clone()
            if self.q is None:
                self.q = torch.randn(matrix.shape[1], self.r, generator=torch.Generator().manual_seed(self.seed))
                self.error = torch.zeros_like(matrix)
            matrix += self.error
            p = matrix @ self.q
            comm.all_reduce(p)
            p /= comm.world_size
            for i in range(self.r):  # Gram-Schmidt
                for j in range(i):
                    p[:, i] -= (p[:, j] @ p[:, i]) * p[:, j]
                p[:, i] /= p[:, i].norm()
            q = matrix.t() @ p
            comm.all_reduce(q)
            self.q = q / comm.world_size
            approx = p @ self.q.t()
            self.error = matrix - approx
            return approx.reshape(grad.shape)
''',
    "ef_sign": '''def ef_sign_compress(grad, error):
    corrected = grad + error
    scale = corrected.norm(p=1) / corrected.numel()
    compressed = scale * corrected.sign()
    return compressed, corrected - compressed
''',
    "bubble_fraction": '''def bubble_fraction(stages, micro_batches):
    total_slots = micro_batches + stages - 1
    idle_slots = total_slots - micro_batches
    return idle_slots / total_slots
''',
}


# written from the student notebook alone (labs/), by a fresh helper that saw no reference answer or test
BLIND = {
    'ring_all_reduce': (
        "clear; asked what a non-contiguous tensor should do (it sums a contiguous copy and copies back) and whether empty chunks still get a sendrecv (yes: the text's 2(N-1) calls); the text now says the tensor is contiguous and empty chunks are sent too",
        'def ring_all_reduce(comm, tensor: torch.Tensor) -> torch.Tensor:\n    """Sum ``tensor`` over all ranks, in place, with a ring all-reduce; returns ``tensor``.\n\n    Only ``comm.sendrecv`` moves data: rank r sends to rank (r + 1) % N and receives from rank (r - 1) % N."""\n    n, r = comm.world_size, comm.rank\n    if n == 1:\n        return tensor\n    # the text asks for a contiguous tensor; a non-contiguous one is reduced in a contiguous copy\n    work = tensor if tensor.is_contiguous() else tensor.contiguous()\n    chunks = work.view(-1).tensor_split(n)  # views: updating a chunk updates the tensor\n    right, left = (r + 1) % n, (r - 1) % n\n    # reduce-scatter: after N - 1 steps, chunk (r + 1) % N holds the full sum\n    for t in range(n - 1):\n        send, recv = (r - t) % n, (r - t - 1) % n\n        buffer = torch.empty_like(chunks[recv])\n        comm.sendrecv(chunks[send], right, buffer, left)\n        chunks[recv].add_(buffer)\n    # all-gather: the summed chunks travel round the ring and replace the partial ones\n    for t in range(n - 1):\n        send, recv = (r + 1 - t) % n, (r - t) % n\n        buffer = torch.empty_like(chunks[recv])\n        comm.sendrecv(chunks[send], right, buffer, left)\n        chunks[recv].copy_(buffer)\n    if work is not tensor:\n        tensor.copy_(work)\n    return tensor\n'),
    'shard_indices': (
        'clear (the permutation and the stride are written out)',
        'def shard_indices(num_samples: int, world_size: int, rank: int, epoch: int, seed: int = 0) -> torch.Tensor:\n    """The indices of the samples rank ``rank`` trains on in ``epoch`` (an int64 tensor)."""\n    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed + epoch))\n    return order[rank::world_size].to(torch.int64)\n'),
    'data_parallel': (
        "clear; chose parameters then buffers, integer buffers included ('every buffer'); average with op='mean'",
        '@torch.no_grad()\ndef broadcast_parameters(model: nn.Module, comm, src: int = 0) -> None:\n    """Give every rank rank ``src``\'s parameters and buffers, in place."""\n    for p in model.parameters():\n        comm.broadcast(p.data, src)\n    for b in model.buffers():\n        comm.broadcast(b, src)\n\n\n@torch.no_grad()\ndef average_gradients(model: nn.Module, comm) -> None:\n    """Replace every parameter\'s ``.grad`` by its average over the ranks, in place."""\n    for p in model.parameters():\n        if p.grad is not None:\n            comm.all_reduce(p.grad, op="mean")\n'),
    'assign_buckets': (
        'clear; an empty list gives []',
        'def assign_buckets(sizes: list, bucket_cap: int) -> list:\n    """Group parameters into gradient buckets, in reverse order; ``sizes[i]``: parameter i\'s gradient bytes.\n\n    Returns a list of buckets, each a list of parameter indices in the order they were added."""\n    buckets, current, filled = [], [], 0\n    for i in reversed(range(len(sizes))):\n        current.append(i)\n        filled += sizes[i]\n        if filled >= bucket_cap:\n            buckets.append(current)\n            current, filled = [], 0\n    if current:\n        buckets.append(current)\n    return buckets\n'),
    'bucketed_all_reduce': (
        'the least specified: asked whether buckets must go out in order (they need not: every rank runs the same graph), in which order wait() resets and raises, and what name the hook gets (free); the text now says a bucket goes out as soon as it is complete and that wait() resets also when it raises',
        'class BucketedAllReduce:\n    """Averages the gradients of ``model`` over the ranks during backward, one bucket at a time."""\n\n    def __init__(self, model: nn.Module, comm, bucket_cap: int = 25 * 2 ** 20):\n        self.comm = comm\n        self.params = [p for p in model.parameters() if p.requires_grad]\n        sizes = [p.numel() * p.element_size() for p in self.params]\n        self.buckets = [[self.params[i] for i in bucket] for bucket in assign_buckets(sizes, bucket_cap)]\n        self.bucket_of = {id(p): b for b, bucket in enumerate(self.buckets) for p in bucket}\n        self.ready = [0] * len(self.buckets)  # gradients ready in each bucket, this backward\n        self.reduced = 0                      # buckets all-reduced in this backward\n        self.handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self.params]\n\n    @torch.no_grad()\n    def _hook(self, p: torch.Tensor) -> None:\n        """Called once per backward, after ``p.grad`` is accumulated: all-reduces ``p``\'s bucket once it is full."""\n        b = self.bucket_of[id(p)]\n        self.ready[b] += 1\n        if self.ready[b] == len(self.buckets[b]):\n            self._reduce(self.buckets[b])\n            self.reduced += 1\n\n    @torch.no_grad()\n    def _reduce(self, bucket: list) -> None:\n        flat = torch.cat([p.grad.reshape(-1) for p in bucket])\n        self.comm.all_reduce(flat)\n        flat.div_(self.comm.world_size)\n        offset = 0\n        for p in bucket:\n            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))\n            offset += p.numel()\n\n    def wait(self) -> None:\n        """Call after ``loss.backward()``: checks that every bucket was averaged, and gets ready for the next one."""\n        missing = [b for b, count in enumerate(self.ready) if count != len(self.buckets[b])]\n        reduced = self.reduced\n        self.ready, self.reduced = [0] * len(self.buckets), 0\n        if missing or reduced != len(self.buckets):\n            raise RuntimeError(f"buckets {missing} were not all-reduced in this backward "\n                               f"({reduced} of {len(self.buckets)} were): did every parameter get a gradient?")\n'),
    'partition_parameters': (
        'clear',
        'def partition_parameters(sizes: list, world_size: int) -> list:\n    """The owner rank of each parameter: ``owners[i]`` for the parameter of ``sizes[i]`` elements."""\n    loads, owners = [0] * world_size, []\n    for size in sizes:\n        owner = min(range(world_size), key=lambda r: loads[r])  # min keeps the first (lowest) rank on a tie\n        owners.append(owner)\n        loads[owner] += size\n    return owners\n'),
    'sharded_adam': (
        'clear; noted that state_numel() is 0 before the first step (Adam allocates its state lazily): the text now says it counts after a step',
        'class ShardedAdam:\n    """ZeRO stage 1: Adam whose state is split over the ranks. Call ``step()`` after the gradients were averaged."""\n\n    def __init__(self, params, comm, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):\n        self.comm = comm\n        self.params = list(params)\n        self.owners = partition_parameters([p.numel() for p in self.params], comm.world_size)\n        owned = [p for p, owner in zip(self.params, self.owners) if owner == comm.rank]\n        self.optimizer = torch.optim.Adam(owned, lr=lr, betas=betas, eps=eps) if owned else None\n\n    @torch.no_grad()\n    def step(self) -> None:\n        if self.optimizer is not None:\n            self.optimizer.step()\n        for p, owner in zip(self.params, self.owners):\n            self.comm.broadcast(p.data, owner)\n\n    def zero_grad(self) -> None:\n        for p in self.params:\n            p.grad = None\n\n    def state_numel(self) -> int:\n        """Elements of optimizer state held by this rank (Adam: exp_avg and exp_avg_sq per owned parameter)."""\n        if self.optimizer is None:\n            return 0\n        return sum(value.numel() for state in self.optimizer.state.values() for value in state.values()\n                   if torch.is_tensor(value) and value.dim() >= 1)\n'),
    'topk': (
        "asked about density > 1 and empty tensors (it clamps k to n); the text now says 0 < density <= 1; kept Python's round (halves to even) as written",
        'def topk_compress(tensor: torch.Tensor, density: float) -> tuple:\n    """(values, indices): the k = max(1, round(density * n)) entries of largest magnitude of the flattened tensor."""\n    flat = tensor.reshape(-1)\n    n = flat.numel()\n    k = min(n, max(1, round(density * n)))\n    indices = flat.abs().topk(k).indices\n    return flat[indices], indices  # advanced indexing: a copy, the input is not touched\n\n\ndef topk_decompress(values: torch.Tensor, indices: torch.Tensor, shape) -> torch.Tensor:\n    """The dense tensor of ``shape`` that holds ``values`` at the flat ``indices`` and zeros elsewhere."""\n    dense = torch.zeros(shape, dtype=values.dtype, device=values.device)\n    dense.view(-1)[indices] = values\n    return dense\n'),
    'dgc': (
        "clear; u and v take the gradient's dtype; values copied before v is zeroed",
        'def dgc_density(epoch: int, final_density: float) -> float:\n    """Sparsity warm-up: density 1/4, 1/16, 1/64, ... in epochs 0, 1, 2, ..., never below ``final_density``."""\n    return max(0.25 ** (epoch + 1), final_density)\n\n\nclass DGC:\n    """Deep Gradient Compression of one tensor\'s gradients (Lin et al., 2018), on one rank."""\n\n    def __init__(self, momentum: float = 0.9, mask_momentum: bool = True):\n        self.momentum, self.mask_momentum = momentum, mask_momentum\n        self.u = None  # the momentum (velocity), accumulated locally\n        self.v = None  # what was accumulated but not sent yet\n\n    @torch.no_grad()\n    def compress(self, grad: torch.Tensor, density: float) -> tuple:\n        """(values, indices) of the flattened accumulation to send this step."""\n        g = grad.reshape(-1)\n        if self.u is None:\n            self.u, self.v = torch.zeros_like(g), torch.zeros_like(g)\n        self.u.mul_(self.momentum).add_(g)  # momentum correction: accumulate the velocity\n        self.v.add_(self.u)\n        values, indices = topk_compress(self.v, density)\n        self.v[indices] = 0\n        if self.mask_momentum:\n            self.u[indices] = 0  # momentum factor masking\n        return values, indices\n'),
    'powersgd': (
        "asked about r > min(n, m) (DDP's hook clamps) and the dtype of the first Q (drawn in float32 as written, cast to the gradient's); the text now says r <= min(n, m)",
        'class PowerSGD:\n    """PowerSGD (Vogels et al., 2019) of one gradient matrix, rank ``r``, with error feedback, on one rank."""\n\n    def __init__(self, r: int = 1, seed: int = 0):\n        self.r, self.seed = r, seed\n        self.q = None      # (m, r): reused from step to step (warm start)\n        self.error = None  # (n, m): what compression lost, added to the next gradient\n\n    @torch.no_grad()\n    def reduce(self, comm, grad: torch.Tensor) -> torch.Tensor:\n        """The rank-r approximation of the ranks\' average gradient (the shape of ``grad``)."""\n        matrix = grad.reshape(grad.shape[0], -1)\n        n, m = matrix.shape\n        if self.q is None:\n            self.q = torch.randn(m, self.r, generator=torch.Generator().manual_seed(self.seed)).to(matrix)\n            self.error = torch.zeros_like(matrix)\n        matrix = matrix + self.error          # error feedback (a new tensor: grad is not modified)\n        p = matrix @ self.q\n        comm.all_reduce(p, op="mean")\n        p = torch.linalg.qr(p).Q              # orthonormal columns\n        q = matrix.T @ p\n        comm.all_reduce(q, op="mean")\n        approximation = p @ q.T\n        self.error = matrix - approximation\n        self.q = q                            # warm start\n        return approximation.reshape(grad.shape)\n'),
    'ef_sign': (
        'clear',
        '@torch.no_grad()\ndef ef_sign_compress(grad: torch.Tensor, error: torch.Tensor) -> tuple:\n    """(compressed, new_error): scaled-sign compression with error feedback (EF-signSGD)."""\n    p = grad + error\n    compressed = p.abs().mean() * torch.sign(p)\n    return compressed, p - compressed\n'),
    'bubble_fraction': (
        'clear (the formula is given)',
        'def bubble_fraction(stages: int, micro_batches: int) -> float:\n    """The share of a GPipe step that each stage spends idle."""\n    return (stages - 1) / (micro_batches + stages - 1)\n'),
}
