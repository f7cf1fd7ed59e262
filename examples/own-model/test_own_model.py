"""A user's claim about their own model: a tiny torch MLP on a synthetic task, trained per seed."""

import torch

from instincts import NonInferior, claim


def accuracy(seed: int, hidden: int) -> float:
    """Train a one-hidden-layer MLP on a fixed synthetic task; the seed fixes init and data order."""
    data = torch.Generator().manual_seed(1234)  # the task is the same for every seed
    x = torch.randn(512, 8, generator=data)
    y = (x[:, :4].sum(1) > x[:, 4:].sum(1)).long()
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        for idx in torch.randperm(384, generator=g).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        return (model(x[384:]).argmax(1) == y[384:]).float().mean().item()


@claim("OWN-1", "an MLP with 16 hidden units is no more than 5pp less accurate than one with 64",
       section="My model", question="Can the model be 4x narrower?", method="synthetic 8-d task, 5 epochs SGD")
def test_narrow_model_is_non_inferior(experiment):
    assert experiment.compare(lambda s: accuracy(s, 16), lambda s: accuracy(s, 64), metric="value",
                              expect=NonInferior(margin=0.05))
