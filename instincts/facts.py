"""Training facts: what a trainer reports per seed beside its metrics, under these names.

They travel in the same per-seed metrics dict (floats, cached with the metrics), so an arm built on
the engine's trainer returns them without extra plumbing; the experiment collects them per arm for
the report and claims.json, and a claim can check them (did the arm train? did it hit the cap?).
"""

TRAINING_FACTS = (
    "epochs_run",  # epochs trained (early stopping may end before the cap)
    "train_loss",  # mean training loss over the last epoch
    "train_accuracy",  # accuracy on the training split at the end, in eval mode
    "best_val_accuracy",  # best validation accuracy (the restored epoch's); absent without a validation split
    "cap_hit",  # 1.0 when training ran to the epoch cap without early stopping, else 0.0
)
