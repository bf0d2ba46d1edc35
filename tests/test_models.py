"""helpers.models: the VGG family, checkpoints and the shipped dense model."""

import pytest
import torch

from helpers.models import (
    VGG,
    VGG_FMNIST_CFG,
    load_checkpoint,
    load_folded_vgg,
    load_pretrained_vgg,
    random_vgg,
    save_checkpoint,
    vgg_fmnist,
)


def test_layer_names_follow_the_published_lab():
    model = vgg_fmnist()
    names = [n for n, p in model.named_parameters() if p.dim() > 1]
    assert names == [f"backbone.conv{i}.weight" for i in range(6)] + ["classifier.weight"]
    assert [m for m in model.backbone._modules][:4] == ["conv0", "bn0", "relu0", "conv1"]
    assert all(conv.bias is None for conv in model.modules() if isinstance(conv, torch.nn.Conv2d))


@pytest.mark.parametrize("in_channels, size", [(1, 28), (3, 32), (3, 17)])
def test_forward_shapes(in_channels, size):
    model = VGG((8, "M", 16, "M"), in_channels=in_channels, num_classes=7).eval()
    assert model(torch.randn(2, in_channels, size, size)).shape == (2, 7)


def test_wrong_input_shape_is_a_clear_error():
    model = vgg_fmnist()
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\).*unsqueeze\(0\)"):
        model(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="got \\(2, 3, 28, 28\\)"):
        model(torch.randn(2, 3, 28, 28))


def test_checkpoint_roundtrip(tmp_path):
    model = random_vgg((4, "M", 8), in_channels=3, num_classes=5, seed=2)
    save_checkpoint(model, tmp_path / "m.pt", accuracy=50.0)
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta == {"accuracy": 50.0} and loaded.cfg == model.cfg and not loaded.training
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded(x), model(x))


def test_random_vgg_has_nontrivial_batchnorm():
    bn = random_vgg((8,), seed=0).backbone.bn0
    assert not torch.allclose(bn.running_mean, torch.zeros(8))
    assert not torch.allclose(bn.running_var, torch.ones(8))
    assert torch.equal(random_vgg((8,), seed=0).backbone.conv0.weight, random_vgg((8,), seed=0).backbone.conv0.weight)


def test_shipped_checkpoint():
    model = load_pretrained_vgg()
    assert model.cfg == VGG_FMNIST_CFG and not model.training
    from helpers.assets import fetch

    _, meta = load_checkpoint(fetch("vgg_fmnist"))
    # the training script records how the checkpoint was made
    assert meta["seed"] == 0 and meta["test_accuracy"] >= 93.0 and "command" in meta


def test_folded_vgg_has_no_batchnorm_and_computes_what_the_pretrained_model_does():
    pretrained, folded = load_pretrained_vgg(), load_folded_vgg(reinit_classifier_seed=None)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert all(conv.bias is not None for conv in folded.modules() if isinstance(conv, torch.nn.Conv2d))
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(folded.eval()(x), pretrained(x), rtol=1e-4, atol=1e-4)


def test_folded_vgg_classifier_reinit_is_seeded():
    a, b, c = load_folded_vgg(0), load_folded_vgg(0), load_folded_vgg(1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    assert torch.equal(a.backbone.conv0.weight, c.backbone.conv0.weight)  # only the classifier is redrawn
    trained = load_folded_vgg(None).classifier.weight
    assert not torch.allclose(a.classifier.weight, trained)
    assert a.classifier.weight.abs().max() <= 1 / a.classifier.in_features ** 0.5  # nn.Linear's default range
