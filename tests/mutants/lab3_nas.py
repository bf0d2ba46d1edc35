"""Lab 3's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`."""

LAB = "lab3_nas"
AUTOGRADED_POINTS = 95  # 85 + the 10-point bonus (the harder tier); the other 15 of the 100 are written answers
BONUS_POINTS = 10
TAMPER = {"delete": "test_crossover", "edit": "test_peak_memory"}
LOOP_ANSWER = None
# the heavy given cells (seconds: one fast-profile run, one thread) that the mutant rounds leave out: no
# graded test needs them (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "supernet-accuracy",  # 8 s the largest and smallest subnets measured
    "table-examples",     # 3 s a random subnet measured and drawn
    "0da6ee78",  # 3.6 s the main-tier subnet measured
    "0f257b0c",  # 7.9 s evolution against random search
    "82cc7450",  # 1.8 s the bonus-tier subnet measured
    "b2f6c8d4",  # 0.3 s  the figure of what the searches found
    "table-overview",  # 4.7 s the figure of 500 subnets of the table
    "b7e1c0a2",  # 0.1 s  the table's means per choice (reads the figure's subnets)
)

# graded answer -> the graded answers its test cell also calls (a mutant of one of those would
# make the test fail for another reason, so such mutants are never graded in the same notebook).
# The search answers run the whole pipeline, but their tests only check the architecture found
# (and their mutants fail whatever the other answers do).
DEPENDS_ON = {
    "evolution_search": {"random_searcher", "mutate_sample", "crossover_sample"},
    "main_search": {"peak_memory"},
    "bonus_search": {"peak_memory"},
}

# graded answer -> the test cell that grades it
TEST_OF = {
    "peak_memory": "test_peak_memory",
    "efficiency_predictor": "test_efficiency_predictor",
    "accuracy_predictor": "test_accuracy_predictor",
    "train_predictor": "test_train_predictor",
    "random_searcher": "test_random_searcher",
    "mutate_sample": "test_mutate",
    "crossover_sample": "test_crossover",
    "evolution_search": "test_evolution",
    "main_search": "test_main_search",
    "bonus_search": "test_bonus_search",
}


# MUTANTS: lab3_nas.toml, beside this file

# the constructor in mutate_sample's answer cell, kept by the alternative and by the blind answer below
_EVOLUTION_INIT = '''
class EvolutionSearcher(RandomSearcher):
    def __init__(self, efficiency_predictor, accuracy_predictor, population_size: int = 100,
                 max_time_budget: int = 30, parent_ratio: float = 0.25, mutation_ratio: float = 0.5,
                 mutate_prob: float = 0.1, max_tries: int = 1000, seed: int = 0):
        super().__init__(efficiency_predictor, accuracy_predictor, max_tries, seed)
        self.population_size, self.max_time_budget = population_size, max_time_budget
        self.n_parents = max(2, int(round(parent_ratio * population_size)))
        self.n_mutations = int(round(mutation_ratio * population_size))
        self.mutate_prob = mutate_prob
        if self.n_parents + self.n_mutations > population_size:
'''

ALTERNATIVES = {
    "peak_memory": '''
def get_peak_activation_kb(subnet: SubNet) -> float:
    # list the tensors alive during every layer, then take the largest total
    r = subnet.resolution
    h = conv_out(r, subnet.stem_stride)
    c = subnet.stem[0].out_channels
    live = [[subnet.in_channels * r * r, c * h * h]]
    for b in subnet.blocks:
        x_in = b.in_channels * h * h
        keep = [x_in] if b.has_residual else []
        mid = b.mid_channels * h * h
        live.append([x_in, mid])
        h = (h - 1) // b.stride + 1
        dw = b.mid_channels * h * h
        live.append(keep + [mid, dw])
        live.append(keep + [dw, b.out_channels * h * h])
        c = b.out_channels
    hc = subnet.head[0].out_channels
    live += [[c * h * h, hc * h * h], [hc * h * h, hc], [hc, subnet.classifier.out_features]]
    return max(sum(t) for t in live) / 1024.0
''',
    "efficiency_predictor": '''
class AnalyticalEfficiencyPredictor:
    KEYS = ("macs", "peak_kb")

    def get_efficiency(self, arch: dict) -> dict:
        macs = count_macs(arch) * 1e-6
        return dict(macs=macs, peak_kb=get_peak_activation_kb(SubNet(arch)))

    def satisfy_constraint(self, efficiency: dict, constraint: dict) -> bool:
        for key in constraint:
            if key not in self.KEYS:
                raise ValueError("constraint key %r is not one of %s" % (key, self.KEYS))
        for key in constraint:
            if efficiency[key] > constraint[key]:
                return False
        return True
''',
    "accuracy_predictor": '''
class AccuracyPredictor(nn.Module):
    def __init__(self, arch_encoder: ArchEncoder, hidden_size: int = 400, n_layers: int = 3, base_acc: float = 0.0):
        super().__init__()
        self.arch_encoder = arch_encoder
        sizes = [arch_encoder.n_dim] + [hidden_size] * n_layers
        hidden = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.layers = nn.Sequential(*hidden, nn.Linear(sizes[-1], 1, bias=False))
        self.base_acc = nn.Parameter(torch.tensor(float(base_acc)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_acc + self.layers(x)[:, 0]

    @torch.no_grad()
    def predict_accuracy(self, archs: list) -> torch.Tensor:
        return self(self.arch_encoder.encode_batch(archs))
''',
    "train_predictor": '''
def train_accuracy_predictor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 100,
                             lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    criterion = nn.MSELoss(reduction="sum")
    losses = []
    model.train()
    for _ in range(epochs):
        epoch_loss = 0.0
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss = criterion(model(x[idx]), y[idx])
            (loss / len(idx)).backward()
            optimizer.step()
            epoch_loss += loss.item()
        losses.append(epoch_loss / len(x))
    model.eval()
    return losses
''',
    "random_searcher": '''
class RandomSearcher:
    def __init__(self, efficiency_predictor, accuracy_predictor, max_tries: int = 1000, seed: int = 0):
        self.efficiency_predictor = efficiency_predictor
        self.accuracy_predictor = accuracy_predictor
        self.max_tries = max_tries
        self.rng = random.Random(seed)
        self.n_queries = 0

    def satisfies(self, arch: dict, constraint: dict) -> bool:
        return self.efficiency_predictor.satisfy_constraint(self.efficiency_predictor.get_efficiency(arch), constraint)

    def random_valid_sample(self, constraint: dict) -> dict:
        tries = 0
        while tries < self.max_tries:
            tries += 1
            candidate = random_arch(self.rng)
            if self.satisfies(candidate, constraint):
                return candidate
        raise SamplingError("gave up after %d tries: nothing satisfied %s" % (tries, constraint))

    def run_search(self, constraint: dict, n_subnets: int = 100) -> tuple:
        pool = [self.random_valid_sample(constraint) for _ in range(n_subnets)]
        scores = self.accuracy_predictor.predict_accuracy(pool).tolist()
        self.n_queries += len(pool)
        best_score, best_arch = max(zip(scores, pool), key=lambda pair: pair[0])
        return best_score, best_arch
''',
    "mutate_sample": _EVOLUTION_INIT + '''            raise ValueError("parent_ratio + mutation_ratio must be <= 1")

    def mutate_sample(self, sample: dict, constraint: dict) -> dict:
        options = {"ks": KERNEL_SIZES, "e": EXPAND_RATIOS, "d": DEPTHS, "w": WIDTH_MULTS, "r": RESOLUTIONS}
        for _ in range(self.max_tries):
            child = {}
            for key, value in sample.items():
                if isinstance(value, list):
                    child[key] = [self.rng.choice(options[key]) if self.rng.random() < self.mutate_prob else v
                                  for v in value]
                else:
                    child[key] = self.rng.choice(options[key]) if self.rng.random() < self.mutate_prob else value
            if self.satisfies(child, constraint):
                return child
        raise SamplingError("mutation failed %d times for %s" % (self.max_tries, constraint))
''',
    "crossover_sample": '''
@add_to_class(EvolutionSearcher)
def crossover_sample(self, sample1: dict, sample2: dict, constraint: dict) -> dict:
    for _ in range(self.max_tries):
        child = {}
        for key in sample1:
            if isinstance(sample1[key], list):
                child[key] = [a if self.rng.random() < 0.5 else b for a, b in zip(sample1[key], sample2[key])]
            else:
                child[key] = sample1[key] if self.rng.random() < 0.5 else sample2[key]
        if self.satisfies(child, constraint):
            return child
    raise SamplingError("crossover failed %d times for %s" % (self.max_tries, constraint))
''',
    "evolution_search": '''
@add_to_class(EvolutionSearcher)
def run_search(self, constraint: dict, verbose: bool = False) -> tuple:
    population = [self.random_valid_sample(constraint) for _ in range(self.population_size)]
    best = (-float("inf"), None)
    for _ in range(self.max_time_budget):
        scores = self.accuracy_predictor.predict_accuracy(population).tolist()
        self.n_queries += len(scores)
        ranked = [arch for _, arch in sorted(zip(scores, population), key=lambda pair: -pair[0])]
        best = max(best, (max(scores), ranked[0]), key=lambda pair: pair[0])
        parents = ranked[:self.n_parents]
        children = []
        while len(children) < self.n_mutations:
            children.append(self.mutate_sample(self.rng.choice(parents), constraint))
        while len(parents) + len(children) < self.population_size:
            mother, father = self.rng.sample(parents, 2)
            children.append(self.crossover_sample(mother, father, constraint))
        population = parents + children
    return best
''',
    "main_search": '''
# seed 1 of the full-profile search (91.00 % measured on the full test set), written out
main_arch = dict(r=24, w=0.75, d=[2, 2, 3, 2], ks=[7, 5, 3, 5, 7, 3, 7, 7, 5, 3, 5, 5],
                 e=[6, 3, 3, 6, 4, 3, 4, 3, 6, 4, 3, 6])
''',
    "bonus_search": '''
# the seed-0 candidate of the full-profile bonus searches, written out
bonus_arch = dict(ks=[5, 5, 3, 5, 5, 5, 7, 7, 3, 3, 5, 5], e=[4, 3, 6, 3, 4, 4, 6, 4, 6, 4, 3, 6], d=[2, 3, 2, 1],
                  w=0.5, r=24)
''',
}

# correct answers that make a library warn (the warning is shown as [warning], never scored):
# grade_id -> (what warns, edits of the reference answer)
WARNS = {
    "train_predictor": ('torch warns "Converting a tensor with requires_grad=True to a scalar"',
                        [("total += loss.item() * len(idx)", "total += float(loss) * len(idx)")]),
}

# answers written by a helper who saw only the student notebook (/tmp/blind/lab3_nas, issue 13):
# grade_id -> (what it revealed, the answer exactly as written)
BLIND = {
    'peak_memory': (
        "nothing lost; counted the input at the subnet's resolution and noted that 'the resize is done in place' is the text's simplification (a resize to r = 32 grows the tensor): the text now says the input counts as the resized r x r image and the resize itself adds nothing",
        '''
def get_peak_activation_kb(subnet: SubNet) -> float:
    """Peak activation memory (kB, int8 activations, batch 1) of a subnet, layer by layer."""
    bytes_per_value = 1  # int8 activations
    peak = 0  # in values (= bytes)

    def run(in_values, out_values, kept=0):
        nonlocal peak
        peak = max(peak, in_values + out_values + kept)

    # stem: the resized image in, the stem's feature map out
    size = subnet.resolution
    c_stem = subnet.stem[0].out_channels
    out_size = conv_out(size, subnet.stem_stride)
    run(subnet.in_channels * size * size, c_stem * out_size * out_size)
    size = out_size

    for block in subnet.blocks:
        in_values = block.in_channels * size * size
        out_size = conv_out(size, block.stride)
        # the block's input stays in memory until the residual addition (for the expand layer it is the input)
        kept = in_values if block.has_residual else 0
        mid_in = block.mid_channels * size * size
        mid_out = block.mid_channels * out_size * out_size
        run(in_values, mid_in)                                          # 1x1 expand
        run(mid_in, mid_out, kept)                                      # kxk depthwise
        run(mid_out, block.out_channels * out_size * out_size, kept)    # 1x1 project
        size = out_size

    c_last = subnet.blocks[-1].out_channels if len(subnet.blocks) else c_stem
    c_head = subnet.head[0].out_channels
    run(c_last * size * size, c_head * size * size)                    # head 1x1 conv
    run(c_head * size * size, c_head)                                   # global average pool
    run(c_head, subnet.classifier.out_features)                         # classifier
    return peak * bytes_per_value / 1024
'''),
    'efficiency_predictor': (
        'nothing: the same reading as the reference (unknown keys checked first, all of them named)',
        '''
class AnalyticalEfficiencyPredictor:
    """MACs (millions) and peak activation memory (kB) of a subnet, from its architecture alone."""

    KEYS = ("macs", "peak_kb")

    def get_efficiency(self, arch: dict) -> dict:
        subnet = SubNet(arch)
        return {"macs": count_macs(subnet) / 1e6, "peak_kb": get_peak_activation_kb(subnet)}

    def satisfy_constraint(self, efficiency: dict, constraint: dict) -> bool:
        unknown = sorted(set(constraint) - set(self.KEYS))
        if unknown:
            raise ValueError(f"unknown constraint key(s) {unknown}: a constraint may only name {self.KEYS}")
        return all(efficiency[key] <= limit for key, limit in constraint.items())
'''),
    'accuracy_predictor': (
        'nothing lost; the text left n_layers = 0 open (a final Linear(hidden_size, 1) cannot take n_dim inputs): the text now says n_layers >= 1',
        '''
class AccuracyPredictor(nn.Module):
    def __init__(self, arch_encoder: ArchEncoder, hidden_size: int = 400, n_layers: int = 3, base_acc: float = 0.0):
        super().__init__()
        self.arch_encoder = arch_encoder
        layers, n_in = [], arch_encoder.n_dim
        for _ in range(n_layers):
            layers += [nn.Linear(n_in, hidden_size), nn.ReLU()]
            n_in = hidden_size
        layers.append(nn.Linear(n_in, 1, bias=False))
        self.layers = nn.Sequential(*layers)
        self.base_acc = nn.Parameter(torch.tensor(float(base_acc)), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1) + self.base_acc

    @torch.no_grad()
    def predict_accuracy(self, archs: list) -> torch.Tensor:
        """Predicted accuracy of each architecture in ``archs``, as a 1-D tensor."""
        return self(self.arch_encoder.encode_batch(archs))
'''),
    'train_predictor': (
        'nothing lost; loss taken before each step, weighted by batch size, as the text (now stating lr = 0 gives the MSE over all samples) says',
        '''
def train_accuracy_predictor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 100,
                             lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            pred = model(xb)
            loss = F.mse_loss(pred.reshape(yb.shape), yb.to(pred.dtype))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    model.eval()
    return losses
'''),
    'random_searcher': (
        'nothing: the same reading; keeps full marks under the new check that queries add up over two searches',
        '''
class RandomSearcher:
    def __init__(self, efficiency_predictor, accuracy_predictor, max_tries: int = 1000, seed: int = 0):
        self.efficiency_predictor = efficiency_predictor
        self.accuracy_predictor = accuracy_predictor
        self.max_tries = max_tries
        self.rng = random.Random(seed)
        self.n_queries = 0  # architectures scored by the accuracy predictor so far

    def satisfies(self, arch: dict, constraint: dict) -> bool:
        return self.efficiency_predictor.satisfy_constraint(self.efficiency_predictor.get_efficiency(arch), constraint)

    def random_valid_sample(self, constraint: dict) -> dict:
        for _ in range(self.max_tries):
            arch = random_arch(self.rng)
            if self.satisfies(arch, constraint):
                return arch
        raise SamplingError(f"no random architecture satisfied the constraint {constraint} "
                            f"in {self.max_tries} tries")

    def run_search(self, constraint: dict, n_subnets: int = 100) -> tuple:
        samples = [self.random_valid_sample(constraint) for _ in range(n_subnets)]
        accuracy = torch.as_tensor(self.accuracy_predictor.predict_accuracy(samples)).flatten()
        self.n_queries += len(samples)
        best = int(torch.argmax(accuracy))
        return float(accuracy[best]), samples[best]
'''),
    'mutate_sample': (
        "the ambiguity the issue found: may a re-draw give back the old value? It read yes (uniform over all choices) and showed the visible 'at least 20 of 40 changed' check sat 2.2 standard deviations below that reading's mean (about a 1-2 % chance of failing a correct answer): the text now states the rule (self.rng.choice over all choices, the old value included), the visible check uses 100 children and 45 changes (4.6 sd), the hidden test bounds the changed share at 0.2 +- 0.05 per entry",
        _EVOLUTION_INIT + '''            raise ValueError(f"parent_ratio + mutation_ratio must be <= 1 (population {population_size}: "
                             f"{self.n_parents} parents + {self.n_mutations} mutations)")

    def mutate_sample(self, sample: dict, constraint: dict) -> dict:
        for _ in range(self.max_tries):
            child = copy.deepcopy(sample)  # never change the parent
            for key, choices in (("ks", KERNEL_SIZES), ("e", EXPAND_RATIOS), ("d", DEPTHS)):
                child[key] = list(child[key])
                for i in range(len(child[key])):
                    if self.rng.random() < self.mutate_prob:
                        child[key][i] = self.rng.choice(choices)
            for key, choices in (("w", WIDTH_MULTS), ("r", RESOLUTIONS)):
                if self.rng.random() < self.mutate_prob:
                    child[key] = self.rng.choice(choices)
            if self.satisfies(child, constraint):
                return child
        raise SamplingError(f"no mutation of the parent satisfied the constraint {constraint} "
                            f"in {self.max_tries} tries")
'''),
    'crossover_sample': (
        'nothing: gene by gene, 50/50, from self.rng; keeps full marks under the new per-gene and self.rng checks',
        '''
@add_to_class(EvolutionSearcher)
def crossover_sample(self, sample1: dict, sample2: dict, constraint: dict) -> dict:
    for _ in range(self.max_tries):
        child = {}
        for key in ("ks", "e", "d"):
            child[key] = [self.rng.choice((g1, g2)) for g1, g2 in zip(sample1[key], sample2[key])]
        for key in ("w", "r"):
            child[key] = self.rng.choice((sample1[key], sample2[key]))
        if self.satisfies(child, constraint):
            return child
    raise SamplingError(f"no crossover of the two parents satisfied the constraint {constraint} "
                        f"in {self.max_tries} tries")
'''),
    'evolution_search': (
        "nothing lost; 'two random parents' left open whether they may be the same (it drew two distinct ones) and whether the population after the last generation is built (it is not): the text now says either is fine, and the new parents-kept / best-over-all-generations checks accept both",
        '''
@add_to_class(EvolutionSearcher)
def run_search(self, constraint: dict, verbose: bool = False) -> tuple:
    population = [self.random_valid_sample(constraint) for _ in range(self.population_size)]
    best_acc, best_arch = -math.inf, None
    for generation in range(self.max_time_budget):
        accuracy = torch.as_tensor(self.accuracy_predictor.predict_accuracy(population)).flatten()
        self.n_queries += len(population)
        scores = accuracy.tolist()
        order = sorted(range(len(population)), key=lambda i: -scores[i])  # best first, ties by position
        parents = [population[i] for i in order[:self.n_parents]]
        if scores[order[0]] > best_acc:
            best_acc, best_arch = float(scores[order[0]]), copy.deepcopy(population[order[0]])
        if verbose:
            print(f"generation {generation + 1}/{self.max_time_budget}: best predicted {best_acc:.2f} %, "
                  f"population mean {sum(scores) / len(scores):.2f} %")
        if generation == self.max_time_budget - 1:
            break  # the next population would never be scored
        children = [self.mutate_sample(self.rng.choice(parents), constraint) for _ in range(self.n_mutations)]
        while len(parents) + len(children) < self.population_size:
            mother, father = self.rng.sample(parents, 2)
            children.append(self.crossover_sample(mother, father, constraint))
        population = parents + children
    return best_acc, best_arch
'''),
    'main_search': (
        'written for the old text (a search run in the graded notebook, fast profile: 91.10 % measured on the 1,000 fast test images); the text now asks for the architecture as a literal found in the full profile, so this answer no longer tests the new text (a second blind pass is needed); it still keeps full marks because the fast search happens to clear the threshold',
        '''
main_searcher = EvolutionSearcher(efficiency_predictor, predictor, **SEARCH)
main_predicted, main_arch = main_searcher.run_search(MAIN_CONSTRAINT)
print(f"main tier: predicted {main_predicted:.2f} % after {main_searcher.n_queries} predictor queries; {main_arch}")
'''),
    'bonus_search': (
        'a profile-dependent search choosing on the validation images (as the text asks); it showed that a search in the graded notebook is what grading reruns in the fast profile: the text now asks for a literal here too. Written for the old text, so it no longer tests the new one',
        '''
# Several evolution runs under the harder constraint (different seeds, a larger mutation probability than
# the default so that small populations still explore); the candidates are compared by their *measured*
# accuracy on the validation images, never on the test images.
BONUS_SEARCH = by_profile(fast=dict(population_size=20, max_time_budget=10, mutate_prob=0.2),
                          full=dict(population_size=100, max_time_budget=40, mutate_prob=0.1))
BONUS_SEEDS = by_profile(fast=2, full=5)
bonus_candidates = []
for seed in range(BONUS_SEEDS):
    bonus_searcher = EvolutionSearcher(efficiency_predictor, predictor, seed=seed, **BONUS_SEARCH)
    predicted, arch = bonus_searcher.run_search(BONUS_CONSTRAINT)
    val_accuracy = measure_accuracy(supernet, arch, calib_images, val_images, val_labels)
    bonus_candidates.append((val_accuracy, predicted, seed, arch))
    print(f"seed {seed}: predicted {predicted:.2f} %, validation {val_accuracy:.2f} %, "
          f"{efficiency_predictor.get_efficiency(arch)}")
bonus_val, bonus_predicted, bonus_seed, bonus_arch = max(bonus_candidates, key=lambda c: (c[0], c[1]))
print(f"chosen: seed {bonus_seed} (validation {bonus_val:.2f} %, predicted {bonus_predicted:.2f} %): {bonus_arch}")
'''),
}


# Second blind pass (issue 13): written from the student notebook as rewritten, by a helper who saw
# nothing else. It replaces the first pass for these answers; the first-pass answers stay in
# BLIND_SUPERSEDED for the record (written against the old text, not graded).
BLIND_SUPERSEDED = {gid: BLIND[gid] for gid in ('peak_memory', 'efficiency_predictor', 'accuracy_predictor', 'train_predictor', 'random_searcher', 'mutate_sample', 'crossover_sample', 'evolution_search', 'main_search', 'bonus_search') if gid in BLIND}
BLIND.update({
    'peak_memory': (
        'second pass: the block input counted once more for the depthwise and project layers of a residual block; a plain float of bytes / 1024; nothing open',
        'def get_peak_activation_kb(subnet: SubNet) -> float:\n    """Peak activation memory (kB, int8 activations, batch 1) of a subnet, layer by layer."""\n    # every activation is int8 (1 byte per value), batch 1: a tensor of C x H x W values takes C*H*W bytes\n    peak = 0\n    size = subnet.resolution\n    x = subnet.in_channels * size * size                   # the resized input image\n    stem_size = conv_out(size, subnet.stem_stride)\n    y = subnet.stem[0].out_channels * stem_size * stem_size\n    peak = max(peak, x + y)                                # stem conv: input + output\n    size, x = stem_size, y\n    for block in subnet.blocks:\n        out_size = conv_out(size, block.stride)\n        mid_in = block.mid_channels * size * size          # expand output\n        mid_out = block.mid_channels * out_size * out_size  # depthwise output\n        out = block.out_channels * out_size * out_size     # project output\n        kept = x if block.has_residual else 0              # the block input, kept for the addition\n        peak = max(peak, x + mid_in,                       # expand (its input is the block input: once)\n                   mid_in + mid_out + kept,                # depthwise\n                   mid_out + out + kept)                   # project\n        size, x = out_size, out\n    head = subnet.head[0].out_channels\n    peak = max(peak, x + head * size * size)               # head conv (1x1)\n    peak = max(peak, head * size * size + head)            # global average pool\n    peak = max(peak, head + subnet.classifier.out_features)  # classifier\n    return peak / 1024\n'),
    'efficiency_predictor': (
        'second pass: unknown keys raise ValueError listing them (sorted) before any limit is checked',
        'class AnalyticalEfficiencyPredictor:\n    """MACs (millions) and peak activation memory (kB) of a subnet, from its architecture alone."""\n\n    KEYS = ("macs", "peak_kb")\n\n    def get_efficiency(self, arch: dict) -> dict:\n        return {"macs": count_macs(arch) / 1e6, "peak_kb": get_peak_activation_kb(SubNet(arch))}\n\n    def satisfy_constraint(self, efficiency: dict, constraint: dict) -> bool:\n        unknown = sorted(key for key in constraint if key not in self.KEYS)\n        if unknown:\n            raise ValueError(f"unknown constraint key(s) {unknown}: the keys are {self.KEYS}")\n        return all(efficiency[key] <= limit for key, limit in constraint.items())\n'),
    'accuracy_predictor': (
        'second pass: n_layers x (Linear, ReLU) then Linear(hidden, 1, bias=False), squeeze(-1) + base_acc',
        'class AccuracyPredictor(nn.Module):\n    def __init__(self, arch_encoder: ArchEncoder, hidden_size: int = 400, n_layers: int = 3, base_acc: float = 0.0):\n        super().__init__()\n        self.arch_encoder = arch_encoder\n        layers, n_in = [], arch_encoder.n_dim\n        for _ in range(n_layers):\n            layers += [nn.Linear(n_in, hidden_size), nn.ReLU()]\n            n_in = hidden_size\n        layers.append(nn.Linear(hidden_size, 1, bias=False))\n        self.layers = nn.Sequential(*layers)\n        self.base_acc = nn.Parameter(torch.tensor(float(base_acc)), requires_grad=False)\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return self.layers(x).squeeze(-1) + self.base_acc\n\n    @torch.no_grad()\n    def predict_accuracy(self, archs: list) -> torch.Tensor:\n        """Predicted accuracy of each architecture in ``archs``, as a 1-D tensor."""\n        return self(self.arch_encoder.encode_batch(archs))\n'),
    'train_predictor': (
        'second pass on the rewritten text (reshuffle every epoch, size-weighted epoch loss): zero_grad before backward, y cast to float32',
        'def train_accuracy_predictor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 100,\n                             lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> list:\n    generator = torch.Generator().manual_seed(seed)\n    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)\n    losses = []\n    model.train()\n    for _ in range(epochs):\n        order = torch.randperm(len(x), generator=generator)\n        total = 0.0\n        for start in range(0, len(x), batch_size):\n            idx = order[start:start + batch_size]\n            loss = F.mse_loss(model(x[idx]), y[idx].to(torch.float32))\n            optimizer.zero_grad()\n            loss.backward()\n            optimizer.step()\n            total += loss.item() * len(idx)\n        losses.append(total / len(x))\n    model.eval()\n    return losses\n'),
    'random_searcher': (
        'second pass: first valid draw within max_tries else SamplingError; ties go to the first maximum',
        'class RandomSearcher:\n    def __init__(self, efficiency_predictor, accuracy_predictor, max_tries: int = 1000, seed: int = 0):\n        self.efficiency_predictor = efficiency_predictor\n        self.accuracy_predictor = accuracy_predictor\n        self.max_tries = max_tries\n        self.rng = random.Random(seed)\n        self.n_queries = 0  # architectures scored by the accuracy predictor so far\n\n    def satisfies(self, arch: dict, constraint: dict) -> bool:\n        return self.efficiency_predictor.satisfy_constraint(self.efficiency_predictor.get_efficiency(arch), constraint)\n\n    def random_valid_sample(self, constraint: dict) -> dict:\n        for _ in range(self.max_tries):\n            arch = random_arch(self.rng)\n            if self.satisfies(arch, constraint):\n                return arch\n        raise SamplingError(f"no random architecture satisfied the constraint {constraint} "\n                            f"in {self.max_tries} tries")\n\n    def run_search(self, constraint: dict, n_subnets: int = 100) -> tuple:\n        samples = [self.random_valid_sample(constraint) for _ in range(n_subnets)]\n        accuracy = self.accuracy_predictor.predict_accuracy(samples)\n        self.n_queries += len(samples)\n        best = int(torch.as_tensor(accuracy).argmax())\n        return float(accuracy[best]), samples[best]\n'),
    'mutate_sample': (
        'second pass on the rewritten text (re-draw over all choices, one draw per entry): a failed child is re-mutated from the parent; the draw order is its own reading',
        'class EvolutionSearcher(RandomSearcher):\n    def __init__(self, efficiency_predictor, accuracy_predictor, population_size: int = 100,\n                 max_time_budget: int = 30, parent_ratio: float = 0.25, mutation_ratio: float = 0.5,\n                 mutate_prob: float = 0.1, max_tries: int = 1000, seed: int = 0):\n        super().__init__(efficiency_predictor, accuracy_predictor, max_tries, seed)\n        self.population_size, self.max_time_budget = population_size, max_time_budget\n        self.n_parents = max(2, int(round(parent_ratio * population_size)))\n        self.n_mutations = int(round(mutation_ratio * population_size))\n        self.mutate_prob = mutate_prob\n        if self.n_parents + self.n_mutations > population_size:\n            raise ValueError(f"parent_ratio + mutation_ratio must be <= 1 (population {population_size}: "\n                             f"{self.n_parents} parents + {self.n_mutations} mutations)")\n\n    def mutate_sample(self, sample: dict, constraint: dict) -> dict:\n        lists = (("ks", KERNEL_SIZES), ("e", EXPAND_RATIOS), ("d", DEPTHS))\n        scalars = (("w", WIDTH_MULTS), ("r", RESOLUTIONS))\n        for _ in range(self.max_tries):\n            child = copy.deepcopy(sample)\n            for key, choices in lists:\n                for i in range(len(child[key])):\n                    if self.rng.random() < self.mutate_prob:\n                        child[key][i] = self.rng.choice(choices)\n            for key, choices in scalars:\n                if self.rng.random() < self.mutate_prob:\n                    child[key] = self.rng.choice(choices)\n            if self.satisfies(child, constraint):\n                return child\n        raise SamplingError(f"no mutation satisfied the constraint {constraint} in {self.max_tries} tries")\n'),
    'crossover_sample': (
        "second pass: per gene rng.choice of the two parents' genes (self.rng), new lists",
        '@add_to_class(EvolutionSearcher)\ndef crossover_sample(self, sample1: dict, sample2: dict, constraint: dict) -> dict:\n    for _ in range(self.max_tries):\n        child = {}\n        for key in ("ks", "e", "d"):\n            child[key] = [self.rng.choice((g1, g2)) for g1, g2 in zip(sample1[key], sample2[key])]\n        for key in ("w", "r"):\n            child[key] = self.rng.choice((sample1[key], sample2[key]))\n        if self.satisfies(child, constraint):\n            return child\n    raise SamplingError(f"no crossover satisfied the constraint {constraint} in {self.max_tries} tries")\n'),
    'evolution_search': (
        'second pass on the rewritten text (parents kept, queries added up): crossover parents drawn independently (may coincide); no population built after the last generation',
        '@add_to_class(EvolutionSearcher)\ndef run_search(self, constraint: dict, verbose: bool = False) -> tuple:\n    population = [self.random_valid_sample(constraint) for _ in range(self.population_size)]\n    best_acc, best_arch = -math.inf, None\n    for generation in range(self.max_time_budget):\n        scores = [float(s) for s in self.accuracy_predictor.predict_accuracy(population)]\n        self.n_queries += len(population)\n        ranked = sorted(range(len(population)), key=lambda i: scores[i], reverse=True)  # stable: ties keep order\n        parents = [population[i] for i in ranked[:self.n_parents]]\n        if scores[ranked[0]] > best_acc:\n            best_acc, best_arch = scores[ranked[0]], copy.deepcopy(population[ranked[0]])\n        if verbose:\n            print(f"generation {generation + 1}/{self.max_time_budget}: best of the generation "\n                  f"{scores[ranked[0]]:.3f}, best so far {best_acc:.3f}")\n        if generation == self.max_time_budget - 1:\n            break  # the next population would never be scored\n        children = [self.mutate_sample(self.rng.choice(parents), constraint) for _ in range(self.n_mutations)]\n        n_crossovers = self.population_size - len(parents) - len(children)\n        children += [self.crossover_sample(self.rng.choice(parents), self.rng.choice(parents), constraint)\n                     for _ in range(n_crossovers)]\n        population = parents + children\n    return best_acc, best_arch\n'),
    'main_search': (
        'second pass: searched in the full profile and wrote the architecture as a literal; 90.92 % full, 90.40 % on the fast test images (threshold 90.0): it passes by 0.4 pt although the text quoted 91.7 % for the reference there. Changed because of it: the fast threshold is now 89.5 % (a point below the full-profile target, about one standard error of 1,000 images below this answer) and the text says a subnet lands a point or so away on the fast images and tells students to check the fast accuracy the next cell prints',
        '# Found in the full profile (LABS_PROFILE=full: population 100, 30 generations, seed 0, mutate_prob 0.1):\n#   searcher = EvolutionSearcher(efficiency_predictor, predictor, **SEARCH)\n#   best_predicted, best_arch = searcher.run_search(MAIN_CONSTRAINT)\n# predicted 91.78 %, 3.89 MMACs, 29.25 kB; measured 90.92 % on the 10,000 test images (91.24 % validation).\n# Written as a literal dict: grading reruns this notebook in the fast profile, whose search is far smaller.\nmain_arch = {"ks": [7, 7, 3, 7, 7, 3, 7, 7, 7, 3, 7, 3], "e": [6, 4, 6, 3, 4, 3, 4, 4, 3, 4, 3, 6],\n             "d": [2, 2, 2, 2], "w": 0.75, "r": 24}\n'),
    'bonus_search': (
        'second pass: three full-profile searches, chosen on validation accuracy, written as a literal; 89.50 % on the fast test images (threshold 89.0)',
        '# Found in the full profile (population 100, 30 generations) under BONUS_CONSTRAINT, three runs:\n#   for seed, mutate_prob in ((0, 0.1), (1, 0.1), (2, 0.2)):\n#       searcher = EvolutionSearcher(efficiency_predictor, predictor, mutate_prob=mutate_prob, seed=seed, **SEARCH)\n#       best_predicted, best_arch = searcher.run_search(BONUS_CONSTRAINT)\n# and the winner chosen by its measured accuracy on the *validation* images (val_images, val_labels):\n#   seed 0: predicted 90.64 %, validation 90.38 %  <- chosen (1.480 MMACs, 15.75 kB)\n#   seed 1: predicted 90.58 %, validation 90.32 %\n#   seed 2 (mutate_prob 0.2): predicted 90.68 %, validation 90.26 %\n# The chosen one measured 89.93 % on the 10,000 test images (measured once, after choosing).\nbonus_arch = {"ks": [7, 3, 7, 5, 7, 7, 7, 7, 3, 7, 5, 3], "e": [4, 3, 3, 3, 4, 6, 4, 4, 3, 4, 4, 6],\n              "d": [2, 2, 3, 1], "w": 0.5, "r": 24}\n'),
})
