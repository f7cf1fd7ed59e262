"""The Gaussian-mixture generator: shapes, determinism per seed, balance, and a shift that matters."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from fixtures.mixture import Mixture


@pytest.mark.parametrize("n,dim", [(2, 1), (7, 3), (100, 20)])
def test_shapes_and_dtypes(n, dim):
    x, y = Mixture(dim=dim).sample(n, seed=0)
    assert x.shape == (n, dim) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert set(y.unique().tolist()) <= {0, 1}
    xn, yn = Mixture(dim=dim).sample_numpy(n, seed=0)
    assert isinstance(xn, np.ndarray) and xn.shape == (n, dim) and xn.dtype == np.float32
    assert isinstance(yn, np.ndarray) and yn.shape == (n,)


def test_same_seed_same_data_other_seed_other_data():
    world = Mixture()
    x1, y1 = world.sample(500, 3)
    x2, y2 = world.sample(500, 3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, y3 = world.sample(500, 4)
    assert not torch.equal(x1, x3) and not torch.equal(y1, y3)
    xn, yn = world.sample_numpy(500, 3)  # numpy twin: the same values
    np.testing.assert_array_equal(xn, x1.numpy())
    np.testing.assert_array_equal(yn, y1.numpy())


def test_generator_stream_is_deterministic_and_advances():
    """Several sets from one generator: reproducible from its seed, and no two sets alike."""
    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return [Mixture().sample(200, g) for _ in range(3)]

    first, again = draw(11), draw(11)
    for (xa, ya), (xb, yb) in zip(first, again):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(first[0][0], first[1][0])
    assert not torch.equal(first[1][0], first[2][0])


def test_global_torch_seed_does_not_matter():
    torch.manual_seed(0)
    a = Mixture().sample(100, 5)[0]
    torch.manual_seed(123)
    torch.rand(10)
    b = Mixture().sample(100, 5)[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("n", [2, 3, 10, 101, 1000])
def test_labels_balanced_to_within_one(n):
    for seed in range(5):
        y = Mixture().sample(n, seed)[1]
        ones = int(y.sum())
        assert abs(ones - (n - ones)) <= 1


def test_labels_are_shuffled():
    y = Mixture().sample(1000, 0)[1]
    assert not torch.equal(y, torch.arange(1000) % 2)
    runs = int((y[1:] != y[:-1]).sum()) + 1  # a fair shuffle has about n/2 runs
    assert 400 < runs < 600


def test_class_means_and_noise_match_the_parameters():
    world = Mixture(dim=5, separation=0.5, shift=0.2, noise=1.5)
    x, y = world.sample(40_000, 0)
    for c in (0, 1):
        xc = x[y == c].double()
        se = world.noise / math.sqrt(len(xc))
        assert torch.allclose(xc.mean(0), world.means()[c].double(), atol=5 * se)
        assert torch.allclose(xc.std(0), torch.full((5,), 1.5, dtype=torch.float64), rtol=0.03)


def test_rule_accuracy_matches_samples_and_is_the_ceiling():
    world = Mixture()
    x, y = world.sample(50_000, 1)
    empirical = float(((x.sum(1) > 0).long() == y).double().mean())
    assert empirical == pytest.approx(world.rule_accuracy(), abs=0.01)
    # centred: the rule is the Bayes rule, Phi(separation * sqrt(dim) / noise)
    assert world.rule_accuracy() == pytest.approx(stats.norm.cdf(0.25 * math.sqrt(20)), abs=1e-12)
    assert 0.8 < world.rule_accuracy() < 0.95  # a task with room for selection noise, not a trivial one


def test_off_distribution_really_differs():
    world = Mixture()
    off = world.off_distribution()
    assert off != world and off.dim == world.dim and off.separation == world.separation
    x, y = world.sample(5000, 0)
    xo, yo = off.sample(5000, 0)
    # the inputs moved: every feature's mean and spread, each far beyond sampling error (KS test per feature)
    assert (xo.mean(0) - x.mean(0)).min() > 0.2
    assert (xo.std(0) / x.std(0)).min() > 1.4
    p = [stats.ks_2samp(x[:, j].numpy(), xo[:, j].numpy()).pvalue for j in range(world.dim)]
    assert max(p) < 1e-6
    # and it matters: the in-distribution Bayes rule loses accuracy there, exactly and on samples
    assert world.rule_accuracy() - off.rule_accuracy() > 0.1
    emp_in = float(((x.sum(1) > 0).long() == y).double().mean())
    emp_off = float(((xo.sum(1) > 0).long() == yo).double().mean())
    assert emp_in - emp_off > 0.1
    assert emp_off == pytest.approx(off.rule_accuracy(), abs=0.02)


def test_off_distribution_with_no_shift_is_the_same_distribution():
    world = Mixture()
    same = world.off_distribution(shift=0.0, noise=1.0)
    assert same == world
    assert torch.equal(same.sample(100, 2)[0], world.sample(100, 2)[0])


@pytest.mark.parametrize("kwargs", [{"dim": 0}, {"dim": 2.5}, {"noise": 0.0}, {"noise": -1.0},
                                    {"separation": float("nan")}, {"shift": float("inf")}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        Mixture(**kwargs)


@pytest.mark.parametrize("n", [0, 1, 2.0, True])
def test_bad_sizes_are_refused(n):
    with pytest.raises(ValueError, match="n="):
        Mixture().sample(n, 0)


def test_bad_seed_is_refused():
    with pytest.raises(TypeError, match="seed="):
        Mixture().sample(10, "0")


@pytest.mark.parametrize("dim", [1, 20, 160])
def test_with_bayes_error_fixes_the_best_rules_error_in_any_dimension(dim):
    world = Mixture.with_bayes_error(dim, 0.132)
    assert world.bayes_error() == pytest.approx(0.132, abs=1e-9)
    x, y = world.sample(40_000, 5)
    rule_error = float(((x.sum(1) > 0).long() != y).float().mean())
    assert rule_error == pytest.approx(0.132, abs=0.006)  # 4 binomial sd at n=40,000


@pytest.mark.parametrize("dim, error", [(0, 0.1), (20, 0.0), (20, 0.5), (20, True)])
def test_with_bayes_error_names_the_bad_value(dim, error):
    with pytest.raises(ValueError, match="dim=|error="):
        Mixture.with_bayes_error(dim, error)


def test_bayes_error_is_refused_off_distribution():
    with pytest.raises(ValueError, match="shift"):
        Mixture().off_distribution().bayes_error()
    assert Mixture().bayes_error() == pytest.approx(1 - Mixture().rule_accuracy())
