"""helpers.supernet and helpers.nas: the design space, weight sharing, MACs, BN calibration, the encoder,
the shipped supernet and table, and the errors a student meets."""

import random
import re

import matplotlib
import pytest
import torch

from helpers.metrics import get_model_macs
from helpers.nas import (
    ArchEncoder,
    add_to_class,
    arch_key,
    calibrate_bn,
    canonical,
    count_macs,
    draw_arch,
    evaluate_subnet,
    kendall_tau,
    load_arch_table,
    load_supernet,
    measure_accuracy,
    nas_images,
    random_arch,
)
from helpers.supernet import N_SLOTS, SubNet, SuperNet, count_subnets, largest_arch, smallest_arch, validate_arch

matplotlib.use("Agg")


def archs(n, seed=0):
    rng = random.Random(seed)
    return [random_arch(rng) for _ in range(n)]


def test_design_space_is_large_and_archs_validate():
    assert count_subnets() >= 1e9
    for arch in archs(20) + [largest_arch(), smallest_arch()]:
        assert validate_arch(arch) is arch


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(peak=1), "unknown ['peak']"),
    (lambda a: a.pop("r"), "missing ['r']"),
    (lambda a: a.update(ks=[3] * (N_SLOTS - 1)), "arch['ks'] must be 12 values"),
    (lambda a: a.update(e=[5] * N_SLOTS), "arch['e'] must be 12 values from (3, 4, 6)"),
    (lambda a: a.update(w=0.6), "arch['w'] must be one of"),
])
def test_bad_architectures_say_what_is_wrong(change, message):
    arch = smallest_arch()
    change(arch)
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_arch(arch)


def test_count_macs_equals_counting_the_whole_subnet():
    for arch in archs(8, seed=1) + [largest_arch(), smallest_arch()]:
        subnet = SubNet(arch)
        whole = get_model_macs(subnet, torch.zeros(1, 1, arch["r"], arch["r"]))
        assert count_macs(arch) == count_macs(subnet) == whole


def test_macs_grow_with_every_dimension():
    base = smallest_arch()
    for key, value in (("w", 1.0), ("r", 32), ("d", [3, 1, 1, 1]), ("ks", [7] * N_SLOTS), ("e", [6] * N_SLOTS)):
        assert count_macs({**base, key: value}) > count_macs(base), key


def test_subnet_extraction_matches_the_supernet():
    torch.manual_seed(0)
    supernet = SuperNet().eval()
    for bn in (m for m in supernet.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(4, 1, 28, 28)
    for arch in archs(4, seed=2) + [largest_arch(), smallest_arch()]:
        subnet = supernet.get_subnet(arch).eval()
        torch.testing.assert_close(subnet(x), supernet(x, arch), rtol=1e-4, atol=1e-5)


def test_calibrate_bn_sets_exact_averages():
    torch.manual_seed(0)
    subnet = SubNet(smallest_arch())
    images = torch.randn(64, 1, 28, 28)
    calibrate_bn(subnet, images, batch_size=16)
    stem_out = subnet.stem[0](torch.nn.functional.interpolate(images, size=16, mode="bilinear", align_corners=False))
    torch.testing.assert_close(subnet.stem[1].running_mean, stem_out.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not subnet.training and subnet.stem[1].momentum == 0.1  # restored


def test_encoder_one_hot_and_depth():
    encoder = ArchEncoder()
    assert encoder.n_dim == 80
    for arch in archs(10, seed=3):
        x = encoder.encode(arch)
        assert x.sum() == 2 * sum(arch["d"]) + 2 and set(x.unique().tolist()) <= {0.0, 1.0}
    a = smallest_arch()
    b = {**a, "ks": [7] * N_SLOTS}  # the first block of every stage now runs a 7x7 kernel
    assert not torch.equal(encoder.encode(a), encoder.encode(b))
    c = {**a, "ks": [3, 7, 7] * 4}  # differs only in unused slots
    assert torch.equal(encoder.encode(a), encoder.encode(c)) and arch_key(a) == arch_key(c)
    assert canonical(c) == a
    assert encoder.encode_batch([a, c]).shape == (2, 80)


def test_kendall_tau():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant pair
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2], [1, 2, 3])


def test_random_arch_is_repeatable():
    assert archs(5, seed=7) == archs(5, seed=7) != archs(5, seed=8)


def test_add_to_class():
    class Thing:
        pass

    @add_to_class(Thing)
    def hello(self):
        return "hi"

    assert Thing().hello() == "hi"


def test_shipped_table_and_supernet():
    table, accuracy, meta = load_arch_table()
    assert len(table) == len(accuracy) >= 2000
    assert len({arch_key(a) for a in table}) == len(table)  # no duplicates
    assert all(validate_arch(a) for a in table)
    assert 80 < min(accuracy) < max(accuracy) < 100
    assert "held out" in meta["split"] and meta["seed"] == 0
    supernet = load_supernet()
    assert supernet.meta["largest_test_accuracy"] > 90 and "train_supernet.py" in supernet.meta["command"]


def test_shipped_supernet_classifies_real_images():
    supernet = load_supernet()
    data = nas_images(subset=True)
    calib, images, labels = data["calib"][:500], data["test_images"], data["test_labels"]
    accuracy = measure_accuracy(supernet, smallest_arch(), calib, images, labels)
    assert accuracy > 85  # 88.6 % on the shipped 1,000 test images
    assert len(data["val_labels"]) == 250  # the subset's last 250 training images: all from 55,234-59,988 (held out)
    with pytest.raises(ValueError, match="images but"):
        evaluate_subnet(SubNet(smallest_arch()), data["test_images"][:10], data["test_labels"][:9])


def test_subnet_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        SubNet(smallest_arch())(torch.zeros(1, 28, 28))


def test_draw_arch():
    ax = draw_arch(largest_arch())
    assert "resolution 32" in ax.get_title()


def test_compare_searches_gives_random_the_same_budget():
    from helpers.nas import compare_searches

    class Stub:  # a searcher whose "architecture" is its own quality
        def __init__(self, quality, seed):
            self.quality, self.seed, self.n_queries, self.asked = quality, seed, 0, None

        def run_search(self, constraint, n_subnets=None):
            self.asked, self.n_queries = n_subnets, 30 + self.seed
            return self.quality + 1.0, {"q": self.quality + 0.1 * self.seed}

    made = []

    def evolution(seed, **search):
        assert search == {"population_size": 10}
        return Stub(2.0, seed)

    def randomly(seed):
        made.append(Stub(1.0, seed))
        return made[-1]

    result = compare_searches(evolution, randomly, {"macs": 4}, 3, measure=lambda arch: arch["q"], population_size=10)
    assert [s.asked for s in made] == [30, 31, 32]  # as many queries as evolution used, seed by seed
    assert result["evolution_minus_random"] == pytest.approx(1.0) and result["evolution_ahead"] == 3
    assert result["evolution_minus_random_predicted"] == pytest.approx(1.0) and result["seeds"] == 3
    assert result["evolution_minus_random_se"] == pytest.approx(0.0, abs=1e-6)
    assert [f["evolution"]["measured"] - f["random"]["measured"] for f in result["found"]] == pytest.approx([1.0] * 3)
    assert result["found"][2]["evolution"] == {"arch": {"q": 2.2}, "predicted": 3.0, "measured": 2.2}
    one_seed = compare_searches(evolution, randomly, {}, 1, lambda a: a["q"], population_size=10)
    assert one_seed["evolution_minus_random_se"] is None
