"""Loss terms and the coefficient schedule on hand-computed tensors."""

from __future__ import annotations

import pytest
import torch

from mosr.training import losses


def _states(*vectors: list[float]) -> torch.Tensor:
    """Stack token vectors into ``[layers=1, batch=1, tokens, hidden]``."""
    return torch.tensor([vectors], dtype=torch.float32).unsqueeze(0)


def test_rerouting_identical_states_give_one():
    states = _states([1.0, 2.0, 3.0], [0.5, -1.0, 2.0])
    mask = torch.ones(1, 2)
    value = losses.rerouting_loss_per_sample(states, states.clone(), mask)
    assert value.shape == (1,)
    assert value.item() == pytest.approx(1.0, abs=1e-6)


def test_rerouting_orthogonal_states_give_zero():
    adapted = _states([1.0, 0.0], [0.0, 3.0])
    frozen = _states([0.0, 2.0], [5.0, 0.0])
    value = losses.rerouting_loss_per_sample(adapted, frozen, torch.ones(1, 2))
    assert value.item() == pytest.approx(0.0, abs=1e-6)


def test_rerouting_opposite_states_clipped_to_zero():
    adapted = _states([1.0, 1.0])
    value = losses.rerouting_loss_per_sample(adapted, -adapted, torch.ones(1, 1))
    assert value.item() == pytest.approx(0.0, abs=1e-6)


def test_rerouting_ignores_masked_tokens():
    adapted = _states([1.0, 0.0], [1.0, 0.0])
    frozen = _states([1.0, 0.0], [0.0, 1.0])
    only_first = losses.rerouting_loss_per_sample(adapted, frozen, torch.tensor([[1.0, 0.0]]))
    both = losses.rerouting_loss_per_sample(adapted, frozen, torch.ones(1, 2))
    assert only_first.item() == pytest.approx(1.0)
    assert both.item() == pytest.approx(0.5)


def test_weighted_erasure_divides_by_batch():
    per_sample = torch.tensor([1.0, 0.5])
    weights = torch.tensor([0.4, 1.6])
    assert losses.weighted_erasure_loss(per_sample, weights).item() == pytest.approx((0.4 + 0.8) / 2)
    assert losses.weighted_erasure_loss(per_sample).item() == pytest.approx(0.75)


def test_retain_identical_states_give_zero():
    states = _states([1.0, 2.0], [3.0, 4.0])
    assert losses.retain_loss(states, states.clone(), torch.ones(1, 2)).item() == 0.0


def test_retain_is_mean_l2_distance():
    adapted = _states([3.0, 4.0], [0.0, 0.0])
    frozen = _states([0.0, 0.0], [0.0, 1.0])
    # Distances 5 and 1, averaged over the two tokens.
    assert losses.retain_loss(adapted, frozen, torch.ones(1, 2)).item() == pytest.approx(3.0)
    assert losses.retain_loss(adapted, frozen, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(5.0)


def test_standardised_geometry_removes_massive_dimension():
    # One massive dimension makes the plain cosine near 1 although the other dims flip sign.
    adapted = _states([100.0, 1.0, -1.0])
    frozen = _states([100.0, -1.0, 1.0])
    mask = torch.ones(1, 1)
    plain = losses.rerouting_loss_per_sample(adapted, frozen, mask)
    geometry = losses.ErasureGeometry("standardised", mean=torch.tensor([[100.0, 0.0, 0.0]]), std=torch.ones(1, 3))
    standardised = losses.rerouting_loss_per_sample(adapted, frozen, mask, geometry)
    assert plain.item() > 0.99
    assert standardised.item() == pytest.approx(0.0, abs=1e-6)


def test_masked_geometry_zeroes_dimension():
    adapted = _states([100.0, 1.0])
    frozen = _states([100.0, -1.0])
    geometry = losses.ErasureGeometry("masked", mask=torch.tensor([[0.0, 1.0]]))
    assert losses.rerouting_loss_per_sample(adapted, frozen, torch.ones(1, 1), geometry).item() == pytest.approx(0.0)


def test_random_target_zero_at_target():
    target = torch.tensor([[3.0, 4.0]])
    geometry = losses.ErasureGeometry("random_target", target=target)
    at_target = losses.rerouting_loss_per_sample(_states([3.0, 4.0]), _states([1.0, 0.0]), torch.ones(1, 1), geometry)
    at_origin = losses.rerouting_loss_per_sample(_states([0.0, 0.0]), _states([1.0, 0.0]), torch.ones(1, 1), geometry)
    assert at_target.item() == pytest.approx(0.0)
    assert at_origin.item() == pytest.approx(5.0)


def test_random_target_gradient_nonzero_at_frozen_state():
    adapted = _states([1.0, 2.0]).requires_grad_()
    geometry = losses.ErasureGeometry("random_target", target=torch.tensor([[-2.0, 1.0]]))
    losses.rerouting_loss_per_sample(adapted, adapted.detach(), torch.ones(1, 1), geometry).sum().backward()
    assert adapted.grad.abs().sum() > 0


def test_token_cross_entropy_weights_per_sample():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    rows = torch.tensor([0, 1, 1])
    plain = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    unweighted = losses.token_cross_entropy(logits, labels, rows)
    weighted = losses.token_cross_entropy(logits, labels, rows, torch.tensor([2.0, 0.0]))
    assert unweighted.item() == pytest.approx(plain.mean().item())
    assert weighted.item() == pytest.approx((2 * plain[0]).item() / 3)


def test_token_cross_entropy_empty_is_zero():
    logits = torch.zeros(0, 5, requires_grad=True)
    value = losses.token_cross_entropy(logits, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert value.item() == 0.0


def test_reference_schedule_endpoints():
    assert losses.coefficients(0, 150, 10.0) == (10.0, 0.0)
    c_erasure, c_retain = losses.coefficients(150, 150, 10.0)
    assert c_erasure == pytest.approx(5.0)
    assert c_retain == pytest.approx(5.0)
    middle = losses.coefficients(75, 150, 10.0)
    assert middle == pytest.approx((7.5, 2.5))


def test_constant_schedule_uses_ratio():
    assert losses.coefficients(0, 10, 4.0, "constant", 5.0) == (4.0, 20.0)
    assert losses.coefficients(9, 10, 4.0, "constant", 5.0) == (4.0, 20.0)


def test_schedule_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown schedule"):
        losses.coefficients(0, 10, 1.0, "cosine")


def test_random_target_skips_massive_dimensions():
    from mosr.training.cache import geometry_from_states

    generator = torch.Generator().manual_seed(0)
    retain = [torch.randn(1, 5, 8, generator=generator) for _ in range(3)]
    for state in retain:
        state[:, :, 2] += 100.0
    geometry = geometry_from_states("random_target", retain, [0], masked_dims=1, random_target_scale=1.0, seed=0)
    assert geometry.mask[0, 2].item() == 0.0
    assert geometry.target[0, 2].item() == 0.0
    moved = _states([50.0 if i == 2 else 0.0 for i in range(8)])
    still = _states([0.0] * 8)
    mask = torch.ones(1, 1)
    assert losses.rerouting_loss_per_sample(moved, still, mask, geometry).item() == pytest.approx(
        losses.rerouting_loss_per_sample(still, still, mask, geometry).item()
    )
