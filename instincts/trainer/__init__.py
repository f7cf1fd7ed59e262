"""THE trainer of the engine: one loop, three strategies (bmm / vmap / loop), hooks, early stopping, facts.

- ``recipe``: how to train (``Recipe``, with its epoch cap or exact ``steps`` and linear ``warmup``;
  ``Switch``, ``Group``, ``Cosine``, ``RangeSchedule``, ``EarlyStopping``, ``Split``, ``Member``);
- ``seeds``: the seed contract (what a seed fixes, from which stream);
- ``losses``: loss hooks (hard labels, ``SoftTargets``) and what a transform hook receives;
- ``stacks``: the strategies and the rule that picks one;
- ``optim``: ``torch.optim`` on stacked parameters, or per-member hyperparameters;
- ``batchnorm``: recalibration at an evaluation setting;
- ``fit``: ``train`` / ``fit``.
"""

from instincts.trainer.batchnorm import recalibrate_batchnorm
from instincts.trainer.fit import Trained, fit, train
from instincts.trainer.losses import BatchInfo, SoftTargets, TransformInfo, cross_entropy
from instincts.trainer.optim import MemberOptimizer
from instincts.trainer.recipe import (
    OPTIMIZERS,
    PRECISIONS,
    Cosine,
    EarlyStopping,
    Group,
    Member,
    RangeSchedule,
    Recipe,
    Split,
    Switch,
)
from instincts.trainer.seeds import batches, init_models, noisy_labels, permutations, seed_streams, split_indices
from instincts.trainer.stacks import STRATEGIES, check_strategy, choose_strategy

__all__ = ["OPTIMIZERS", "PRECISIONS", "STRATEGIES", "BatchInfo", "Cosine", "EarlyStopping", "Group", "Member",
           "MemberOptimizer", "RangeSchedule", "Recipe", "SoftTargets", "Split", "Switch", "Trained",
           "TransformInfo", "batches", "check_strategy", "choose_strategy", "cross_entropy", "fit", "init_models",
           "noisy_labels", "permutations", "recalibrate_batchnorm", "seed_streams", "split_indices", "train"]
