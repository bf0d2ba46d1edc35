"""Catalogue of common student mistakes in Lab 3 (each must lose points) and of correct but
differently written answers (each must keep full marks).

A mutant is ``(name, [(old, new), ...])``: text replacements applied to the reference answer, so a
mutant always starts from the current solution and breaks loudly if the solution changes.
"""

LAB = "lab3_nas"
AUTOGRADED_POINTS = 95  # 85 + the 10-point bonus (the harder tier); the other 15 of the 100 are written answers
BONUS_POINTS = 10
# the tampered submission deletes one test cell and empties (and re-points) another
TAMPER = {"delete": "test_crossover", "edit": "test_peak_memory"}
# the answer given an infinite loop (checks the per-cell timeout); None: covered by another lab
LOOP_ANSWER = None

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

_SATISFIES = "if self.satisfies(child, constraint):"

MUTANTS = {
    "peak_memory": [
        ("the residual input is not kept", [("held = block_input if block.has_residual else 0", "held = 0")]),
        ("stride ignored (output as large as the input)", [("size = conv_out(size, block.stride)", "size = size")]),
        ("float32 activations (4 bytes each)", [("return peak / 1024", "return 4 * peak / 1024")]),
    ],
    "efficiency_predictor": [
        ("a misspelt key is silently ignored", [("        if unknown:\n            raise ValueError(",
                                                 "        if False:\n            raise ValueError(")]),
        ("limits are exclusive (<)", [("efficiency[key] <= limit", "efficiency[key] < limit")]),
        ("MACs not in millions", [("count_macs(subnet) / 1e6", "count_macs(subnet)")]),
    ],
    "accuracy_predictor": [
        ("no ReLU between the layers", [("layers += [nn.Linear(width, hidden_size), nn.ReLU()]",
                                         "layers += [nn.Linear(width, hidden_size)]")]),
        ("base_acc not added", [("return self.layers(x).squeeze(-1) + self.base_acc",
                                 "return self.layers(x).squeeze(-1)")]),
        ("one hidden layer too many", [("for _ in range(n_layers):", "for _ in range(n_layers + 1):")]),
    ],
    "train_predictor": [
        ("no optimizer step", [("            optimizer.step()\n", "")]),
        ("gradients never zeroed", [("            optimizer.zero_grad(set_to_none=True)\n", "")]),
        ("only the first batch of each epoch", [("for start in range(0, len(x), batch_size):",
                                                 "for start in range(0, batch_size, batch_size):")]),
    ],
    "random_searcher": [
        ("the constraint is ignored", [("if self.satisfies(arch, constraint):", "if True:")]),
        ("the global random module instead of self.rng", [("arch = random_arch(self.rng)", "arch = random_arch()")]),
        ("returns the worst subnet", [("best = int(accuracies.argmax())", "best = int(accuracies.argmin())")]),
    ],
    "mutate_sample": [
        ("the parent is mutated in place", [("child = copy.deepcopy(sample)", "child = sample")]),
        ("width and resolution never mutate", [('for key, choices in (("w", WIDTH_MULTS), ("r", RESOLUTIONS)):',
                                                "for key, choices in ():")]),
        ("the constraint is ignored", [(_SATISFIES, "if True:")]),
    ],
    "crossover_sample": [
        ("every gene from the first parent", [("[self.rng.choice(pair) for pair in zip(sample1[key], sample2[key])]",
                                               "list(sample1[key])")]),
        ("width and resolution from the first parent", [("child[key] = self.rng.choice([sample1[key], sample2[key]])",
                                                         "child[key] = sample1[key]")]),
        ("the constraint is ignored", [(_SATISFIES, "if True:")]),
    ],
    "evolution_search": [
        ("the worst subnets become parents", [("accuracies.argsort(descending=True)", "accuracies.argsort()")]),
        ("queries not counted", [("        self.n_queries += len(population)\n", "")]),
        ("no crossover children: the population shrinks", [
            ("for _ in range(self.population_size - self.n_parents - self.n_mutations)]", "for _ in range(0)]")]),
    ],
    "main_search": [
        ("the result unpacked the wrong way round", [("main_predicted, main_arch = searcher.run_search(MAIN_CONSTRAINT)",
                                                      "main_arch, main_predicted = searcher.run_search(MAIN_CONSTRAINT)")]),
        ("a misspelt constraint key", [("searcher.run_search(MAIN_CONSTRAINT)",
                                        'searcher.run_search({"macs": 4, "peak_KB": 30})')]),
        ("the largest subnet", [("main_predicted, main_arch = searcher.run_search(MAIN_CONSTRAINT)",
                                 "main_predicted, main_arch = 0.0, largest_arch()")]),
    ],
    "bonus_search": [
        ("the smallest subnet (fits, not accurate enough)", [
            ("bonus_predicted, bonus_arch = max(", "bonus_predicted, bonus_arch = 0.0, smallest_arch()\nmax(")]),
        ("searched under the main constraint", [("run_search(BONUS_CONSTRAINT)", "run_search(MAIN_CONSTRAINT)")]),
        ("the main tier's answer", [("bonus_predicted, bonus_arch = max(", "bonus_predicted, bonus_arch = 0.0, main_arch\nmax(")]),
    ],
}

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
    "mutate_sample": '''
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
            raise ValueError("parent_ratio + mutation_ratio must be <= 1")

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
main_searcher = EvolutionSearcher(efficiency_predictor, predictor, seed=1, **SEARCH)
main_predicted, main_arch = main_searcher.run_search(dict(MAIN_CONSTRAINT))
''',
    "bonus_search": '''
results = [EvolutionSearcher(efficiency_predictor, predictor, seed=s, **SEARCH).run_search(dict(BONUS_CONSTRAINT))
           for s in (0, 1, 2)]
bonus_arch = sorted(results, key=lambda r: r[0])[-1][1]
''',
}
