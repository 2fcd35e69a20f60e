"""TF StyleGAN2 pickle details beyond the reference fixture: kwargs, lone Gs, old versions."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from renderer import CheckpointError
from renderer.models.checkpoints.safe_pickle import restricted_load
from renderer.models.checkpoints.tf_pickle import convert_tf_pickle, is_tf_pickle


@pytest.fixture
def networks(fixtures: Path):
    return restricted_load((fixtures / "tf_base.pkl").read_bytes())


def test_renders_gs_not_g(networks, tmp_path: Path) -> None:
    ckpt = convert_tf_pickle(networks, tmp_path / "x.pkl")
    gs_avg = dict(networks[2].state["variables"])["dlatent_avg"]
    assert (ckpt.state_dict["mapping.w_avg"].numpy() == gs_avg).all()
    g_weights = dict(networks[0].state["components"]["synthesis"].state["variables"])["4x4/Conv/weight"]
    assert not (ckpt.state_dict["synthesis.b4.conv1.weight"].numpy() == g_weights.transpose(3, 2, 0, 1)).all()


def test_lone_gs_is_accepted(networks, tmp_path: Path) -> None:
    assert is_tf_pickle(networks[2])
    alone = convert_tf_pickle(networks[2], tmp_path / "gs.pkl")
    whole = convert_tf_pickle(networks, tmp_path / "all.pkl")
    assert alone.config == whole.config


def test_conv_clamp_from_static_kwargs(networks, tmp_path: Path) -> None:
    """stylegan2-ada's TF code stores conv_clamp=256; it must survive conversion."""
    networks = copy.deepcopy(networks)
    networks[2].state["static_kwargs"]["conv_clamp"] = 256
    assert convert_tf_pickle(networks, tmp_path / "x.pkl").config.conv_clamp == 256.0


def test_resolution_read_from_variables_when_absent(networks, tmp_path: Path) -> None:
    networks = copy.deepcopy(networks)
    for net in (networks[2], networks[2].state["components"]["synthesis"]):
        net.state["static_kwargs"].pop("resolution", None)
    assert convert_tf_pickle(networks, tmp_path / "x.pkl").config.img_resolution == 32


@pytest.mark.parametrize(
    "change,message",
    [
        ({"label_size": 10}, "label_size=10 is not supported"),
        ({"architecture": "resnet"}, "architecture='resnet'"),
        ({"resample_kernel": None}, "resample_kernel=None"),
    ],
)
def test_unsupported_variants_name_the_setting(networks, tmp_path: Path, change: dict, message: str) -> None:
    networks = copy.deepcopy(networks)
    networks[2].state["static_kwargs"].update(change)
    with pytest.raises(CheckpointError, match=message):
        convert_tf_pickle(networks, tmp_path / "x.pkl")


def test_old_version_is_refused(networks, tmp_path: Path) -> None:
    networks = copy.deepcopy(networks)
    networks[2].state["version"] = 3
    with pytest.raises(CheckpointError, match="version 3"):
        convert_tf_pickle(networks, tmp_path / "x.pkl")
