"""THE trainer: one loop for every strategy, hook and claim.

``train(make_model, members, train_data, recipe, ...)`` trains one classifier per member (a seed,
or a ``Member`` with its own recipe, dropout seed or label noise) and returns a ``Trained``: per-seed
metrics and training facts, the trained modules and every step's loss. ``fit`` returns the metrics.

Hooks instead of forks: ``loss`` (hard labels by default, ``SoftTargets`` for distillation; label
noise is the member's), ``transform`` (a per-batch augmentation, degradation or resolution change,
drawn from the seed's own generator), the recipe's parameter groups, optimiser switch, schedule, warm-up, step
count and precision, ``tests`` (several evaluation sets), ``early_stopping`` on a validation split with the
recipe's epochs as the cap (the best epoch is restored), ``recalibrate`` (batch-norm statistics
recomputed at an evaluation set's setting, as FixRes does). Evaluation is always in eval mode.
The seed contract lives in ``instincts.trainer.seeds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from instincts.errors import InvalidArgument
from instincts.trainer import seeds as seeding
from instincts.trainer.batchnorm import recalibrated
from instincts.trainer.losses import BatchInfo, Loss, Transform, TransformInfo, cross_entropy
from instincts.trainer.optim import MemberOptimizer, set_lr, torch_optimizer
from instincts.trainer.recipe import EarlyStopping, Member, RangeSchedule, Recipe, Split
from instincts.trainer.stacks import BmmStack, LoopStack, Stack, VmapStack, check_strategy

Data = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Trained:
    """What ``train`` returns: per-member ``metrics`` (with the training facts), the trained ``models``
    (eval mode, best epoch restored), ``step_losses`` (steps x members) and the time the training
    steps took (wall and process CPU seconds; evaluation and set-up excluded)."""

    metrics: list[dict[str, float]]
    models: list[nn.Module]
    step_losses: torch.Tensor
    seconds: float
    cpu_seconds: float


def fit(make_model: Callable[[], nn.Module], members: Sequence[int | Member], train_data: Data,
        recipe: Recipe | None = None, **options) -> list[dict[str, float]]:
    """Per-member metrics of ``train`` (the same arguments)."""
    return train(make_model, members, train_data, recipe, **options).metrics


def train(make_model: Callable[[], nn.Module], members: Sequence[int | Member], train_data: Data,
          recipe: Recipe | None = None, *, tests: Mapping[str, Data] | None = None,
          validation: Data | None = None, split: Split | None = None,
          early_stopping: EarlyStopping | None = None, loss: Loss | None = None,
          transform: Transform | None = None, recalibrate: Mapping[str, torch.Tensor] | None = None,
          device: torch.device | str = "cpu", strategy: str = "auto") -> Trained:
    """Train one classifier per member on ``train_data`` and score it on every evaluation set.

    Metrics per member: ``<name>_accuracy`` and ``<name>_loss`` for each of ``tests`` (and for the
    per-seed ``test`` / ``validation`` parts of ``split``, and a given ``validation``), ``train_loss``
    (mean over the last epoch), and the facts ``epochs_run``, ``train_accuracy``, ``cap_hit`` and, with
    early stopping, ``best_val_accuracy``. ``strategy="auto"`` picks by ``choose_strategy``; naming one
    forces it, and an impossible one is an error, never a silent fallback.
    """
    device = torch.device(device)
    run = _Run.build(make_model, members, train_data, recipe, tests or {}, validation, split, early_stopping,
                     loss or cross_entropy, transform, recalibrate or {}, device)
    resolved = check_strategy(strategy, make_model(), len(run.members), device)
    if run.recipes[0].precision == "fp16" and resolved != "loop":
        # a GradScaler skips the whole step on an overflow: shared by a stack, one seed's overflow would
        # skip its neighbours' steps too, so fp16 trains one seed (and one scaler) at a time
        if strategy != "auto":
            raise InvalidArgument(f"strategy={strategy!r} is not allowed with precision='fp16': loss scaling needs "
                                  "one GradScaler per seed; use 'loop' or 'auto'")
        resolved = "loop"
    groups = [[k] for k in range(len(run.members))] if resolved == "loop" else [list(range(len(run.members)))]
    parts = [run.fit_stack(rows, resolved) for rows in groups]
    return Trained(metrics=[m for p in parts for m in p.metrics], models=[m for p in parts for m in p.models],
                   step_losses=_side_by_side([p.step_losses for p in parts]),
                   seconds=sum(p.seconds for p in parts), cpu_seconds=sum(p.cpu_seconds for p in parts))


def _side_by_side(losses: list[torch.Tensor]) -> torch.Tensor:
    """Steps x members from per-stack losses; seeds trained one at a time may stop at different
    steps (early stopping), so shorter columns are padded with NaN (no step taken)."""
    steps = max(x.shape[0] for x in losses)
    return torch.cat([torch.cat([x, x.new_full((steps - x.shape[0], x.shape[1]), float("nan"))]) for x in losses],
                     dim=1)


@dataclass
class _Run:
    """One call of ``train``, validated: members, data, per-member splits and labels, hooks."""

    make_model: Callable[[], nn.Module]
    members: list[Member]
    recipes: list[Recipe]
    x: torch.Tensor
    labels: torch.Tensor  # members x n: each member's (possibly noisy) training labels
    train_idx: torch.Tensor  # members x n_train
    evals: dict[str, tuple[torch.Tensor, torch.Tensor, bool]]  # name -> (x, y, shared); per-member: idx-based
    early_stopping: EarlyStopping | None
    loss: Loss
    transform: Transform | None
    recalibrate: Mapping[str, torch.Tensor]
    device: torch.device

    @classmethod
    def build(cls, make_model, members, train_data, recipe, tests, validation, split, early_stopping, loss,
              transform, recalibrate, device) -> _Run:
        if not members:
            raise InvalidArgument("members=[] is not allowed: give at least one seed or Member")
        members = [m if isinstance(m, Member) else Member(m) for m in members]
        recipes = [m.recipe or recipe for m in members]
        if any(r is None for r in recipes):
            raise InvalidArgument("recipe=None is not allowed unless every Member carries its own recipe")
        first = recipes[0]
        shared = ("batch_size", "epochs", "steps", "precision", "schedule", "warmup")
        if any(any(getattr(r, f) != getattr(first, f) for f in shared) for r in recipes):
            raise InvalidArgument(f"members of one run must share {', '.join(shared)}; "
                                  "train members that differ there in separate runs")
        x, y = train_data
        if len(x) != len(y) or len(x) == 0:
            raise InvalidArgument(f"train data has {len(x)} inputs and {len(y)} labels: "
                                  "give a non-empty, matching pair")
        x, y = x.to(device), y.to(device)
        evals = {}
        for name, (xt, yt) in tests.items():
            if len(xt) != len(yt) or len(xt) == 0:
                raise InvalidArgument(f"test set {name!r} has {len(xt)} inputs and {len(yt)} labels: give a non-empty, "
                                      "matching pair")
            evals[name] = (xt.to(device), yt.to(device), True)
        split = split or Split()
        if split.test or split.validation:
            parts = [seeding.split_indices(y, (split.test, split.validation),
                                           m.seed if split.seed is None else split.seed) for m in members]
        else:  # nothing to carve: every member trains on all of it
            parts = [[None, None, torch.arange(len(y))]] * len(members)
        train_idx = torch.stack([p[2] for p in parts]).to(device)
        for name, i, frac in (("test", 0, split.test), ("validation", 1, split.validation)):
            if frac > 0:
                if name in evals:
                    raise InvalidArgument(f"an evaluation set is named {name!r} and split={split!r} carves one too: "
                                          "rename the set or drop that fraction")
                idx = torch.stack([p[i] for p in parts]).to(device)
                evals[name] = (idx, y[idx], False)
        if validation is not None:
            if "validation" in evals:
                raise InvalidArgument("validation= and split(validation=...) both give a validation set: choose one")
            evals["validation"] = (validation[0].to(device), validation[1].to(device), True)
        if early_stopping is not None and "validation" not in evals:
            raise InvalidArgument("early_stopping needs a validation set: pass validation=(x, y) or "
                                  "split=Split(validation=0.2)")
        unknown = set(recalibrate) - set(evals)
        if unknown:
            raise InvalidArgument(f"recalibrate names {sorted(unknown)}, not evaluation sets ({sorted(evals)})")
        classes = int(y.max()) + 1
        labels = torch.stack([seeding.noisy_labels(y.cpu(), m.label_noise, m.seed, classes).to(device)
                              for m in members])
        return cls(make_model, members, recipes, x, labels, train_idx, evals, early_stopping, loss, transform,
                   recalibrate, device)

    # -- one stack ---------------------------------------------------------------------------------
    def _stack(self, rows: list[int], strategy: str) -> Stack:
        seeds = [self.members[k].seed for k in rows]
        models = seeding.init_models(self.make_model, seeds, self.device)
        dropout = [seeding.DROPOUT + (self.members[k].dropout_seed if self.members[k].dropout_seed is not None
                                      else self.members[k].seed) for k in rows]
        if strategy == "loop":
            return LoopStack(models[0], dropout[0])
        return BmmStack(models, dropout, self.device) if strategy == "bmm" else VmapStack(models)

    def _optimizer(self, stack: Stack, recipes: list[Recipe], epoch: int):
        if all(r == recipes[0] for r in recipes):
            return torch_optimizer(recipes[0], stack.params, stack.names, epoch)
        return MemberOptimizer(recipes, stack.params)

    def fit_stack(self, rows: list[int], strategy: str = "loop") -> Trained:
        stack = self._stack(rows, strategy)
        if isinstance(stack, LoopStack):
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(stack.dropout_seed)  # nn.Dropout's masks: the seed's own stream
                return self._fit(stack, rows)
        return self._fit(stack, rows)

    def _fit(self, stack: Stack, rows: list[int]) -> Trained:
        recipes = [self.recipes[k] for k in rows]
        recipe = recipes[0]
        seeds = [self.members[k].seed for k in rows]
        n_train = self.train_idx.shape[1]
        steps_per_epoch = -(-n_train // recipe.batch_size)
        max_steps = _max_steps(recipe, steps_per_epoch)
        epochs = -(-max_steps // steps_per_epoch)
        total_steps = max_steps if recipe.steps is not None else epochs * steps_per_epoch
        order = seeding.order_generators(seeds)
        augment = [torch.Generator().manual_seed(seeding.AUGMENT + s) for s in seeds]
        rows_t = torch.tensor(rows, device=self.device)
        local = torch.arange(len(rows), device=self.device)[:, None]
        train_idx, labels = self.train_idx[rows_t], self.labels[rows_t]
        opt = self._optimizer(stack, recipes, 0)
        scaler = torch.amp.GradScaler(self.device.type) if recipe.precision == "fp16" else None
        stopper = _Stopper(self.early_stopping, len(rows)) if self.early_stopping else None
        losses: list[torch.Tensor] = []
        epoch_losses: list[torch.Tensor] = []
        step, epochs_run = 0, 0
        wall, cpu = 0.0, 0.0
        for epoch in range(epochs):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            if recipe.switch is not None and epoch == recipe.switch.epoch and not isinstance(opt, MemberOptimizer):
                opt = torch_optimizer(recipe, stack.params, stack.names, epoch)
            if isinstance(opt, MemberOptimizer):
                opt.set_epoch(epoch)
            perm = seeding.epoch_order(order, n_train).to(self.device)
            epoch_losses = []
            for sl in seeding.batches(n_train, recipe.batch_size):
                if step == max_steps:
                    break
                lr = recipe.lr_at(step, total_steps)
                if isinstance(opt, MemberOptimizer) and isinstance(recipe.schedule, RangeSchedule):
                    opt.set_lr(lr=lr)  # a range test sets every member's lr
                elif isinstance(opt, MemberOptimizer) and recipe.sets_lr(step):
                    opt.set_lr(lr / recipe.lr)  # a schedule or warm-up scales each member's own lr
                elif recipe.sets_lr(step):
                    set_lr(opt, lr)
                idx = train_idx.gather(1, perm[:, sl])  # seeds x batch, indices into the data
                xb = self.x[idx]
                if self.transform is not None:
                    xb = torch.stack([self.transform(xb[k], TransformInfo(idx[k], augment[k], seeds[k], step, epoch))
                                      for k in range(len(rows))])
                with recipe.autocast(self.device):
                    logits = stack.forward(xb)
                per_seed = self.loss(_full(logits), labels[local, idx], BatchInfo(idx, rows_t, step, epoch))
                opt.zero_grad(set_to_none=True)
                if scaler is None:
                    per_seed.sum().backward()
                    opt.step()
                else:
                    scaler.scale(per_seed.sum()).backward()
                    scaler.step(opt)
                    scaler.update()
                epoch_losses.append(per_seed.detach())
                step += 1
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            wall, cpu = wall + time.perf_counter() - start_wall, cpu + time.process_time() - start_cpu
            epochs_run = epoch + 1
            losses += epoch_losses
            if stopper is not None:
                acc = self._accuracy(stack, "validation", rows_t, recipe)
                stopper.update(stack, acc, epochs_run)
                if stopper.all_stopped:
                    break
            if step == max_steps:
                break
        if stopper is not None:
            stopper.restore(stack)
        last = torch.stack(epoch_losses).mean(0) if epoch_losses else torch.full((len(rows),), float("nan"))
        metrics = self._score(stack, rows_t, recipe, last, epochs_run, epochs, stopper)
        step_losses = torch.stack(losses).cpu() if losses else torch.zeros(0, len(rows))
        return Trained(metrics, stack.models(), step_losses, wall, cpu)

    # -- evaluation --------------------------------------------------------------------------------
    def _logits(self, stack: Stack, name: str, rows_t: torch.Tensor, recipe: Recipe
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, shared = self.evals[name]
        if not shared:  # per-member index sets into the training data
            idx = x[rows_t]
            x, y = self.x[idx], y[rows_t]
        with recipe.autocast(self.device):
            logits = _full(stack.evaluate(x, shared))
        y = y.expand(len(rows_t), -1) if shared else y
        return logits, y

    def _accuracy(self, stack: Stack, name: str, rows_t: torch.Tensor, recipe: Recipe) -> torch.Tensor:
        logits, y = self._logits(stack, name, rows_t, recipe)
        return (logits.argmax(-1) == y).float().mean(-1)

    def _score(self, stack, rows_t, recipe, last, epochs_run, cap, stopper) -> list[dict[str, float]]:
        columns: dict[str, torch.Tensor] = {}
        for name in self.evals:
            with recalibrated(stack, self.recalibrate.get(name)):
                logits, y = self._logits(stack, name, rows_t, recipe)
            columns[f"{name}_accuracy"] = (logits.argmax(-1) == y).float().mean(-1)
            columns[f"{name}_loss"] = cross_entropy(logits, y)
        with recipe.autocast(self.device):
            train_logits = _full(stack.evaluate(self.x[self.train_idx[rows_t]], shared=False))
        train_y = self.labels[rows_t].gather(1, self.train_idx[rows_t])  # the labels it trained on (noisy or not)
        columns["train_accuracy"] = (train_logits.argmax(-1) == train_y).float().mean(-1)
        columns["train_loss"] = last.float()
        ran = torch.full((len(rows_t),), float(epochs_run), device=self.device)
        if stopper is not None:
            ran = stopper.epochs.float()
            columns["best_val_accuracy"] = stopper.best
        columns["epochs_run"] = ran
        columns["cap_hit"] = (ran >= cap).float()
        names = list(columns)
        table = torch.stack([columns[n].float().to(self.device) for n in names], dim=1).cpu().tolist()
        return [dict(zip(names, row)) for row in table]


def _max_steps(recipe: Recipe, steps_per_epoch: int) -> int:
    """How many optimizer steps the recipe takes at most: a range test's, the exact ``steps``, or the epoch cap's."""
    if isinstance(recipe.schedule, RangeSchedule):
        return recipe.schedule.steps
    return recipe.steps if recipe.steps is not None else recipe.epochs * steps_per_epoch


def _full(logits: torch.Tensor) -> torch.Tensor:
    """Logits of a half-precision forward (autocast) in float32 for the loss; float64 stays float64."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


class _Stopper:
    """Per-seed early stopping: each seed stops on its own patience, and its best epoch is restored.

    A stopped seed may keep stepping inside its batch (its neighbours still train), but its result is
    its best epoch up to its own stop, exactly what it would be trained alone.
    """

    def __init__(self, rule: EarlyStopping, k: int):
        self.rule = rule
        self.best = torch.full((k,), -1.0)
        self.stale = torch.zeros(k, dtype=torch.long)
        self.epochs = torch.zeros(k, dtype=torch.long)
        self.stopped = torch.zeros(k, dtype=torch.bool)
        self.states: list[object] = [None] * k

    def update(self, stack: Stack, acc: torch.Tensor, epoch: int) -> None:
        acc = acc.cpu()
        for k in range(len(acc)):
            if self.stopped[k]:
                continue
            self.epochs[k] = epoch
            if acc[k] > self.best[k] + self.rule.min_delta:
                self.best[k], self.stale[k] = acc[k], 0
                self.states[k] = stack.snapshot(k)
            else:
                self.stale[k] += 1
                self.stopped[k] = bool(self.stale[k] >= self.rule.patience)

    @property
    def all_stopped(self) -> bool:
        return bool(self.stopped.all())

    def restore(self, stack: Stack) -> None:
        for k, state in enumerate(self.states):
            if state is not None:
                stack.restore(k, state)
