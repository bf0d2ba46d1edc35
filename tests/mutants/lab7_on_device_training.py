"""Lab 7's mistakes (each must lose points) and other correct answers (each keeps full marks); what
each constant holds: :class:`grading.catalogue.Catalogue`."""

LAB = "lab7_on_device_training"
AUTOGRADED_POINTS = 99  # 94 + the 5-point bonus (checkpointing's peak); the other 6 of the 100 are written answers
BONUS_POINTS = 5        # Q12, checkpoint_peak
TAMPER = {"delete": "test_plan_sparse_update", "edit": "test_nf4"}
LOOP_ANSWER = "plan_sparse_update"
# the heavy given cells (seconds: one fast-profile run under nbgrader) that the mutant rounds leave out: every
# graded test brings its own small inputs (the trimmed reference keeps full marks, tests/test_grading.py)
TRIMMED_CELLS = (
    "a7000012",  # 0.2 s the VGG's training memory, three ways
    "a7000026",  # 0.6 s  the lean VGG (reads the cell above)
    "a7000031",  # 3.3 s four update schemes trained
    "a7000044",  # 0.6 s the half-width VGG, alone and distilled
    "a7000051",  # 2.3 s loading SmolLM2, its perplexity, full fine-tuning's activations
    "a7000056",  # 0.3 s  LoRA on it next to peft's
    "a7000057",  # 0.6 s  LoRA fine-tuning
    "a7000072",  # 1.1 s  QLoRA fine-tuning
    "a7000074",  # 0.2 s  the LLM's training memory
    "a7000078",  # 0.0 s  where to checkpoint (reads the cell above)
)

# graded answer -> the graded answers its test cell also calls
DEPENDS_ON = {
    "qlora": {"lora", "nf4"},
}

TEST_OF = {
    "parameter_memory": "test_parameter_memory",
    "activation_memory": "test_activation_memory",
    "lean_layers": "test_lean_layers",
    "plan_sparse_update": "test_plan_sparse_update",
    "distillation_loss": "test_distillation_loss",
    "lora": "test_lora",
    "nf4": "test_nf4",
    "double_quant": "test_double_quant",
    "qlora": "test_qlora",
    "checkpoint_peak": "test_checkpoint_peak",
}

# MUTANTS: lab7_on_device_training.toml, beside this file

ALTERNATIVES = {
    "parameter_memory": '''
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}


def parameter_memory(model, optimizer="adam"):
    try:
        states = OPTIMIZER_STATES[optimizer]
    except KeyError:
        raise ValueError(optimizer) from None
    out = {"weights": 0, "gradients": 0, "optimizer": 0}
    for name, p in model.named_parameters():  # named_parameters() also yields a shared one once
        size = p.nelement() * torch.finfo(p.dtype).bits // 8
        out["weights"] += size
        if p.requires_grad:
            out["gradients"] += size
            out["optimizer"] += states * size
    return out
''',
    "activation_memory": '''
def activation_memory(model, input_shape, batch_size):
    saved = {}  # id of a tensor (as the forward pass makes them) -> bytes
    trains = [any(p.requires_grad for p in layer.parameters()) for layer in model.backbone]
    x = torch.zeros(batch_size, *input_shape)
    tensor_id, next_id = 0, 1
    for i, layer in enumerate(model.backbone):
        if not isinstance(layer, (nn.Conv2d, nn.ReLU, nn.MaxPool2d)):
            raise ValueError(type(layer).__name__)
        live = any(trains[:i + 1])
        with torch.no_grad():
            y = layer(x.clone())
        if isinstance(layer, nn.Conv2d):
            if live:
                saved[tensor_id] = x.numel() * 4
            tensor_id, next_id = next_id, next_id + 1
        elif isinstance(layer, nn.ReLU):
            if live:
                saved[tensor_id] = y.numel() * 4  # in place: the same tensor as its input
        else:
            if live:
                saved[tensor_id] = x.numel() * 4
                saved[("indices", i)] = y.numel() * 8
            tensor_id, next_id = next_id, next_id + 1
        x = y
    if model.classifier.weight.requires_grad:
        saved["features"] = x.shape[0] * x.shape[1] * 4
    return sum(saved.values())
''',
    "lean_layers": '''
class LeanReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(pack_bits(x.gt(0)))
        ctx.shape = tuple(x.shape)
        return torch.where(x > 0, x, torch.zeros_like(x))

    @staticmethod
    def backward(ctx, grad_output):
        bits, = ctx.saved_tensors
        keep = unpack_bits(bits, ctx.shape)
        return grad_output.masked_fill(~keep, 0)


class BiasOnlyConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(weight)
        ctx.meta = (x.shape, stride, padding)
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    @staticmethod
    def backward(ctx, grad_output):
        weight, = ctx.saved_tensors
        shape, stride, padding = ctx.meta
        grad_x = torch.nn.grad.conv2d_input(shape, weight, grad_output, stride=stride, padding=padding) \\
            if ctx.needs_input_grad[0] else None
        grad_bias = grad_output.transpose(0, 1).reshape(grad_output.shape[1], -1).sum(1)
        return grad_x, None, grad_bias, None, None
''',
    "plan_sparse_update": '''
def plan_sparse_update(layers, memory_of, budget):
    layers = list(layers)
    if not memory_of([]) <= budget:
        raise ValueError("over budget")
    fits = [k for k in range(len(layers) + 1) if memory_of(layers[len(layers) - k:]) <= budget]
    k = max(fits)
    return layers[len(layers) - k:]
''',
    "distillation_loss": '''
def distillation_loss(student_logits, teacher_logits, labels, temperature=4.0, alpha=0.9):
    with torch.no_grad():
        p_teacher = torch.softmax(teacher_logits / temperature, dim=1)
        log_p_teacher = torch.log_softmax(teacher_logits / temperature, dim=1)
    log_p_student = torch.log_softmax(student_logits / temperature, dim=1)
    kl = (p_teacher * (log_p_teacher - log_p_student)).sum(dim=1).mean()
    hard = F.nll_loss(torch.log_softmax(student_logits, dim=1), labels)
    return alpha * temperature ** 2 * kl + (1 - alpha) * hard
''',
    "lora": '''
class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        for p in base.parameters():
            p.requires_grad = False
        self.base = base
        self.scaling = alpha / r
        a = torch.empty(r, base.in_features, dtype=base.weight.dtype, device=base.weight.device)
        nn.init.kaiming_uniform_(a, a=5 ** 0.5)
        self.lora_A = nn.Parameter(a)
        self.lora_B = nn.Parameter(base.weight.new_zeros(base.out_features, r))

    def forward(self, x):
        return F.linear(x, self.base.weight, self.base.bias) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling

    @torch.no_grad()
    def merge(self):
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                        dtype=self.base.weight.dtype, device=self.base.weight.device)
        out.weight.copy_(torch.addmm(self.base.weight, self.lora_B, self.lora_A, alpha=self.scaling))
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out


def add_lora(model, targets, r=8, alpha=16, layer=LoRALinear):
    for p in model.parameters():
        p.requires_grad_(False)
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets]
    if not names:
        raise ValueError(f"nothing matches {targets}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer(getattr(parent, child), r, alpha))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
''',
    "nf4": '''
def nf4_quantize(weight, block_size=64):
    w = weight.detach().float().flatten()
    if w.numel() % block_size != 0:
        raise ValueError("not a multiple of the block size")
    w = w.view(-1, block_size)
    absmax = w.abs().max(dim=1).values
    safe = absmax.clone()
    safe[safe == 0] = 1.0
    normed = (w / safe[:, None]).flatten()
    midpoints = (NF4_LEVELS[1:] + NF4_LEVELS[:-1]) / 2
    # a value exactly on a midpoint goes to the lower level: count the midpoints strictly below it
    codes = torch.searchsorted(midpoints, normed, right=False)
    return codes.to(torch.uint8), absmax


def nf4_dequantize(codes, absmax, shape, block_size=64):
    levels = NF4_LEVELS[codes.long()].reshape(absmax.numel(), block_size)
    return (levels * absmax.float()[:, None]).reshape(shape)
''',
    "double_quant": '''
def double_quantize(absmax, block_size=256):
    x = absmax.to(torch.float32)
    offset = x.mean()
    c = x - offset
    n_blocks = (c.numel() + block_size - 1) // block_size
    padded = torch.zeros(n_blocks * block_size)
    padded[:c.numel()] = c
    peaks = padded.view(n_blocks, block_size).abs().amax(1)
    scales = torch.where(peaks > 0, peaks / 127, torch.ones_like(peaks))
    q = torch.round(c / scales.repeat_interleave(block_size)[:c.numel()]).clamp(-127, 127).to(torch.int8)
    return q, scales, offset


def double_dequantize(q, scales, offset, block_size=256):
    idx = torch.arange(q.numel()) // block_size
    return q.to(torch.float32) * scales[idx] + offset


def bits_per_parameter(block_size=64, double=False, block_size2=256):
    scale_bits = 8 + 32 / block_size2 if double else 32
    return 4 + scale_bits / block_size
''',
    "qlora": '''
class QLoRALinear(LoRALinear):
    def __init__(self, base, r=8, alpha=16, block_size=64):
        super().__init__(base, r, alpha)
        self.block_size = block_size
        self.weight_shape = base.weight.shape
        c, a = nf4_quantize(base.weight.data, block_size=block_size)
        self.register_buffer("codes", c)
        self.register_buffer("absmax", a)
        self.bias = None if base.bias is None else base.bias.requires_grad_(False)
        delattr(self, "base")

    def forward(self, x):
        w = nf4_dequantize(self.codes, self.absmax, self.weight_shape, block_size=self.block_size).type(x.dtype)
        lora = (x @ self.lora_A.t()) @ self.lora_B.t()
        out = x @ w.t() + self.scaling * lora
        return out if self.bias is None else out + self.bias
''',
    "checkpoint_peak": '''
def checkpoint_peak(saved, inputs, every):
    if not every >= 1:
        raise ValueError("every must be at least 1")
    kept, worst = 0, 0
    i = 0
    while i < len(saved):
        kept += inputs[i]
        worst = max(worst, sum(saved[i:i + every]))
        i += every
    return kept + worst
''',
}

BLIND = {
    'parameter_memory': (
        'clear',
        'OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # state tensors per trainable parameter\n\n\ndef parameter_memory(model: nn.Module, optimizer: str = "adam") -> dict:\n    """Bytes of {"weights", "gradients", "optimizer"} for training ``model`` with ``optimizer``."""\n    if optimizer not in OPTIMIZER_STATES:\n        raise ValueError(f"unknown optimizer {optimizer!r}: expected one of {sorted(OPTIMIZER_STATES)}")\n    weights = gradients = 0\n    for p in model.parameters():  # a shared parameter is yielded once\n        nbytes = p.numel() * p.element_size()\n        weights += nbytes\n        if p.requires_grad:\n            gradients += nbytes\n    return {"weights": weights, "gradients": gradients, "optimizer": OPTIMIZER_STATES[optimizer] * gradients}'),
    'activation_memory': (
        "clear; checked against saved_activations on 40 random plans; asked whether a ReLU that is not in place must raise (it counts a new tensor; the VGG's are in place, no test uses another)",
        'def activation_memory(model: VGG, input_shape, batch_size: int) -> int:\n    """Bytes autograd saves for backward in one forward pass of ``batch_size`` images through ``model``."""\n\n    def pair(v):\n        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)\n\n    def numel(shape):\n        return math.prod(shape)\n\n    shape = (batch_size, *input_shape)  # (N, C, H, W) of the tensor flowing through the backbone\n    saved = {}                          # tensor id -> bytes: a tensor saved by two layers counts once\n    current, next_id = 0, 1             # id 0: the images (they never require grad)\n    in_graph = False\n    for name, layer in model.backbone.named_children():\n        if isinstance(layer, nn.Conv2d):\n            in_graph = in_graph or any(p.requires_grad for p in layer.parameters())\n            if in_graph:  # a conv saves its input, even when only its bias trains\n                saved[current] = 4 * numel(shape)\n            n, _, h, w = shape\n            k, s, d = pair(layer.kernel_size), pair(layer.stride), pair(layer.dilation)\n            if isinstance(layer.padding, str):\n                p = (0, 0)\n                size = (h, w) if layer.padding == "same" else None\n            else:\n                p, size = pair(layer.padding), None\n            if size is None:\n                size = tuple((x + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, x in enumerate((h, w)))\n            shape = (n, layer.out_channels, *size)\n            current, next_id = next_id, next_id + 1  # the conv\'s output: a new tensor\n        elif isinstance(layer, nn.ReLU):\n            if not layer.inplace:  # an out-of-place ReLU makes a new tensor\n                current, next_id = next_id, next_id + 1\n            if in_graph:  # a ReLU saves its output (in place: its conv\'s output, the next layer\'s input)\n                saved[current] = 4 * numel(shape)\n        elif isinstance(layer, nn.MaxPool2d):\n            n, c, h, w = shape\n            k = pair(layer.kernel_size)\n            s = pair(layer.stride if layer.stride is not None else layer.kernel_size)\n            p, d = pair(layer.padding), pair(layer.dilation)\n            size = []\n            for i, x in enumerate((h, w)):\n                span = x + 2 * p[i] - d[i] * (k[i] - 1) - 1\n                out = (-(-span // s[i]) if layer.ceil_mode else span // s[i]) + 1\n                if layer.ceil_mode and (out - 1) * s[i] >= x + p[i]:\n                    out -= 1\n                size.append(out)\n            out_shape = (n, c, *size)\n            if in_graph:  # its input (float32) and its indices (int64, one per output element)\n                saved[current] = 4 * numel(shape)\n                saved[next_id] = 8 * numel(out_shape)\n                next_id += 1\n            shape = out_shape\n            current, next_id = next_id, next_id + 1\n        else:\n            raise ValueError(f"activation_memory handles Conv2d, ReLU and MaxPool2d in the backbone, "\n                             f"not {name}: {type(layer).__name__}")\n    # the global average pool saves nothing; its output (N, C) is the classifier\'s input\n    classifier = model.classifier\n    if not isinstance(classifier, nn.Linear):\n        raise ValueError(f"the classifier must be an nn.Linear, not {type(classifier).__name__}")\n    if classifier.weight.requires_grad:  # the classifier saves its input only when its weight trains\n        saved[next_id] = 4 * shape[0] * shape[1]\n    return sum(saved.values())'),
    'lean_layers': (
        'clear; returns grad_bias only when the bias needs a gradient',
        'class LeanReLU(torch.autograd.Function):\n    """ReLU that saves a 1-bit mask of where its input was positive, nothing else."""\n\n    @staticmethod\n    def forward(ctx, x):\n        mask = x > 0\n        ctx.save_for_backward(pack_bits(mask))\n        ctx.shape = x.shape\n        return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))  # a new tensor\n\n    @staticmethod\n    def backward(ctx, grad_output):\n        (packed,) = ctx.saved_tensors\n        mask = unpack_bits(packed, ctx.shape)\n        return grad_output.masked_fill(~mask, 0)\n\n\nclass BiasOnlyConv2d(torch.autograd.Function):\n    """conv2d with a frozen weight: saves no activation (the bias gradient needs only the output gradient)."""\n\n    @staticmethod\n    def forward(ctx, x, weight, bias, stride, padding):\n        ctx.save_for_backward(weight)\n        ctx.x_shape = x.shape\n        ctx.stride, ctx.padding = stride, padding\n        return F.conv2d(x, weight, bias, stride, padding)\n\n    @staticmethod\n    def backward(ctx, grad_output):\n        (weight,) = ctx.saved_tensors\n        grad_x = grad_bias = None\n        if ctx.needs_input_grad[0]:\n            grad_x = torch.nn.grad.conv2d_input(ctx.x_shape, weight, grad_output, ctx.stride, ctx.padding)\n        if ctx.needs_input_grad[2]:\n            grad_bias = grad_output.sum((0, 2, 3))\n        return grad_x, None, grad_bias, None, None'),
    'plan_sparse_update': (
        "asked what to do when k = 0 is over budget but a larger k fits (it raised: the literal reading); the reference now does the same and the text says 'whatever a larger k would cost'",
        'def plan_sparse_update(layers: list, memory_of, budget: int) -> list:\n    """The names of the layers (the last k of ``layers``) whose weights train, with every bias, under ``budget``."""\n    layers = list(layers)\n    best = None\n    for k in range(len(layers) + 1):  # every k: memory need not grow with k\n        weights = layers[len(layers) - k:]\n        fits = memory_of(list(weights)) <= budget\n        if k == 0 and not fits:\n            raise ValueError(f"not even bias-only training (k = 0) fits the budget of {budget} bytes")\n        if fits:\n            best = weights\n    return list(best)'),
    'distillation_loss': (
        'clear',
        'def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,\n                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:\n    """alpha * T^2 * KL(teacher\'s softened distribution || student\'s) + (1 - alpha) * cross-entropy with the labels."""\n    classes = student_logits.shape[-1]\n    student = student_logits.reshape(-1, classes)\n    teacher = teacher_logits.detach().reshape(-1, classes)  # no gradient into the teacher\n    log_p_student = F.log_softmax(student / temperature, dim=-1)\n    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)\n    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).mean()  # summed over classes, batch mean\n    ce = F.cross_entropy(student, labels.reshape(-1))\n    return alpha * temperature ** 2 * kl + (1 - alpha) * ce'),
    'lora': (
        'clear; merge() builds the new Linear without drawing random numbers (the text does not ask for it)',
        'class LoRALinear(nn.Module):\n    """``base(x) + (alpha / r) * x A^T B^T``: a frozen Linear plus a trainable rank-``r`` update."""\n\n    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16):\n        super().__init__()\n        base.weight.requires_grad_(False)\n        if base.bias is not None:\n            base.bias.requires_grad_(False)\n        self.base = base\n        self.r, self.alpha = r, alpha\n        self.scaling = alpha / r\n        factory = {"dtype": base.weight.dtype, "device": base.weight.device}\n        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))\n        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as peft does, from torch\'s global generator\n        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return self.base(x) + self.scaling * (x @ self.lora_A.T) @ self.lora_B.T\n\n    @torch.no_grad()\n    def merge(self) -> nn.Linear:\n        base = self.base\n        # skip_init: no random initialisation (the global generator is left alone), the values are copied in\n        merged = torch.nn.utils.skip_init(nn.Linear, base.in_features, base.out_features, bias=base.bias is not None,\n                                          device=base.weight.device, dtype=base.weight.dtype)\n        merged.weight.copy_(base.weight + self.scaling * self.lora_B @ self.lora_A)\n        if base.bias is not None:\n            merged.bias.copy_(base.bias)\n        return merged\n\n\ndef add_lora(model: nn.Module, targets, r: int = 8, alpha: float = 16, layer=LoRALinear) -> int:\n    """Freeze ``model``, wrap each nn.Linear named in ``targets`` in ``layer(linear, r, alpha)``; the trainable count."""\n    targets = {targets} if isinstance(targets, str) else set(targets)\n    model.requires_grad_(False)\n    found = [(name, module) for name, module in model.named_modules()\n             if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in targets]\n    if not found:\n        raise ValueError(f"no nn.Linear of the model is named one of {sorted(targets)}")\n    for name, linear in found:\n        parent_name, _, attribute = name.rpartition(".")\n        parent = model.get_submodule(parent_name) if parent_name else model\n        setattr(parent, attribute, layer(linear, r, alpha))\n    return sum(p.numel() for p in model.parameters() if p.requires_grad)'),
    'nf4': (
        'clear; a value exactly at the float32 midpoint goes to the lower level (searchsorted), as the text says; no test depends on exact midpoints',
        'def nf4_quantize(weight: torch.Tensor, block_size: int = 64) -> tuple:\n    """(codes uint8 (numel,), absmax float32 (numel // block_size,)): blockwise absmax scaling, nearest NF4 level."""\n    flat = weight.detach().reshape(-1).float()\n    if flat.numel() % block_size != 0:\n        raise ValueError(f"{flat.numel()} elements are not a multiple of the block size {block_size}")\n    blocks = flat.view(-1, block_size)\n    absmax = blocks.abs().amax(1)\n    nonzero = absmax > 0\n    scaled = torch.where(nonzero[:, None], blocks / torch.where(nonzero, absmax, 1.0)[:, None], 0.0)\n    levels = NF4_LEVELS.to(device=flat.device, dtype=torch.float32)\n    midpoints = (levels[:-1] + levels[1:]) / 2\n    # the number of midpoints strictly below the value: the nearest level, a tie (value == midpoint) to the lower one\n    codes = torch.searchsorted(midpoints, scaled.reshape(-1).contiguous(), side="left")\n    codes = codes.view(-1, block_size)\n    codes[~nonzero] = 7  # an all-zero block: the level 0.0\n    return codes.reshape(-1).to(torch.uint8), absmax\n\n\ndef nf4_dequantize(codes: torch.Tensor, absmax: torch.Tensor, shape, block_size: int = 64) -> torch.Tensor:\n    """The float32 tensor of ``shape``: NF4_LEVELS[codes] times each block\'s absmax."""\n    levels = NF4_LEVELS.to(device=codes.device, dtype=torch.float32)\n    values = levels[codes.reshape(-1).long()].view(-1, block_size) * absmax.float().reshape(-1, 1)\n    return values.reshape(tuple(shape))'),
    'double_quant': (
        'clear',
        'def double_quantize(absmax: torch.Tensor, block_size: int = 256) -> tuple:\n    """(q int8, scales float32 per block, offset float32 0-d): the absmax values, centred, in int8 per block."""\n    values = absmax.detach().float()\n    flat = values.reshape(-1)\n    n = flat.numel()\n    offset = flat.mean()\n    centred = flat - offset\n    n_blocks = -(-n // block_size)\n    padded = torch.zeros(n_blocks * block_size, dtype=torch.float32, device=flat.device)\n    padded[:n] = centred.abs()\n    largest = padded.view(n_blocks, block_size).amax(1)  # the zero padding cannot raise a block\'s max |value|\n    scales = torch.where(largest > 0, largest / 127, torch.ones_like(largest))\n    per_value = scales.repeat_interleave(block_size)[:n]\n    q = torch.round(centred / per_value).clamp(-127, 127).to(torch.int8)\n    return q.reshape(values.shape), scales, offset\n\n\ndef double_dequantize(q: torch.Tensor, scales: torch.Tensor, offset: torch.Tensor, block_size: int = 256) -> torch.Tensor:\n    flat = q.reshape(-1).float()\n    per_value = scales.float().repeat_interleave(block_size)[:flat.numel()]\n    return (flat * per_value + offset).reshape(q.shape)\n\n\ndef bits_per_parameter(block_size: int = 64, double: bool = False, block_size2: int = 256) -> float:\n    if double:\n        return 4 + 8 / block_size + 32 / (block_size * block_size2)\n    return 4 + 32 / block_size'),
    'qlora': (
        'clear',
        'class QLoRALinear(LoRALinear):\n    """LoRA on a 4-bit NormalFloat base weight, dequantized in every forward pass."""\n\n    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16, block_size: int = 64):\n        super().__init__(base, r, alpha)\n        codes, absmax = nf4_quantize(base.weight, block_size)\n        self.register_buffer("codes", codes)\n        self.register_buffer("absmax", absmax)\n        self.weight_shape = tuple(base.weight.shape)\n        self.block_size = block_size\n        bias = base.bias\n        if bias is not None:\n            bias.requires_grad_(False)\n        self.register_parameter("bias", bias)  # the frozen bias, or None\n        del self.base  # no float copy of the weight remains\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        weight = nf4_dequantize(self.codes, self.absmax, self.weight_shape, self.block_size).to(x.dtype)\n        bias = self.bias.to(x.dtype) if self.bias is not None else None\n        return F.linear(x, weight, bias) + self.scaling * (x @ self.lora_A.T) @ self.lora_B.T'),
    'checkpoint_peak': (
        'clear',
        'def checkpoint_peak(saved: list, inputs: list, every: int) -> int:\n    """Peak bytes of saved activations with segments of ``every`` blocks checkpointed."""\n    if every < 1:\n        raise ValueError(f"every must be at least 1, got {every}")\n    saved, inputs = list(saved), list(inputs)\n    if len(saved) != len(inputs):\n        raise ValueError(f"{len(saved)} saved sizes but {len(inputs)} input sizes")\n    starts = range(0, len(saved), every)\n    kept = sum(inputs[i] for i in starts)                                # each segment\'s first input\n    largest = max((sum(saved[i:i + every]) for i in starts), default=0)  # one segment recomputed at a time\n    return kept + largest'),
}
