"""Batch Size, measured on the machine: are powers of two faster (BS-2)? How do throughput and peak
memory grow with batch size (BS-3)? The accuracy claims are in ``test_batch_size.py``."""

from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.arms.batch_size import GAP, peak_memory, samples_per_second, throughput_gap
from instincts import Equivalent, Increasing, Predicts, Reference, claim

SECTION = "Batch Size"
BS3 = dict(section=SECTION, question="Must batch size be an even number? (choose it by GPU memory and compute)",
           anchors=["Keskar et al. 2017: large-batch training converges to sharp minima, generalizes worse",
                    "Hoffer et al. 2017: the gap comes from fewer updates, not the batch size itself",
                    "Goyal et al. 2017: linear learning-rate scaling holds batch 8192 on ImageNet"])


# -- BS-2: powers of two are not faster -------------------------------------------------------

TIMING_METHOD = ("Paired interleaved timing (instincts.timing: warm-up, then timed blocks in ABBA order, "
                 "time.perf_counter, torch.cuda.synchronize on CUDA); one seed = one repetition: a fresh model "
                 "and data, 2 warm-up pairs and 5 timed pairs, the per-seed value is the median of its 5 "
                 "per-pair ratios. Metric: throughput ratio - 1, where throughput = samples/s of full training "
                 "steps (forward, backward, SGD step) and the ratio is neighbour / power of two; judged against "
                 "0 (a constant arm) by TOST with margin ±0.10 (±10%).")


@claim(id="BS-2", timing=True,
       statement="Powers of two are not faster than their neighbours: training-step throughput (samples/s) at "
       "2^k-1 and 2^k+1 is within ±10% of 2^k",
       section=SECTION, question="Must batch size be an even number?",
       anchors=["P100 ResNet, 80 epochs: 26 min at both B=128 and B=129 (Raschka 2022)",
                "NVIDIA deep-learning performance guide: dimensions in multiples of 8 for tensor cores"],
       method=TIMING_METHOD + " Model: MLP 256 -> w -> w -> 10 on random data (w = 256 on CPU, 2048 on CUDA), "
       "float32; hypothesis draws k (batch 16..512). Each block holds at least 512 samples.",
       comparisons=2)  # 2^k - 1 and 2^k + 1, each against 2^k
@given(k=st.sampled_from([7, 4, 5, 6, 8, 9]))  # 7 first: the anchor's B=128 vs 129 is the first drawn
def test_bs2_powers_of_two_are_not_faster(experiment, k):
    power = 2 ** k
    width = 2048 if experiment.device.type == "cuda" else 256
    device = str(experiment.device)
    verdicts = [experiment.compare(partial(throughput_gap, batch_a=b, batch_b=power, width_a=width, width_b=width,
                                           n_in=256, device=device),
                                   Reference(0.0, GAP), metric=GAP, expect=Equivalent(margin=0.10),
                                   config={"k": k, "batch": b, "width": width},
                                   labels=(f"b={b}/b={power}", "0 (equal)"))
                for b in (power - 1, power + 1)]
    assert all(verdicts), verdicts


@claim(id="BS-2", timing=True,
       statement="A hidden width of 1023 trains within ±10% of the throughput of 1024 in fp16/bf16 (tensor-core "
       "alignment)",
       section=SECTION, question="Must batch size be an even number?",
       anchors=["NVIDIA deep-learning performance guide: fp16 GEMM dimensions in multiples of 8 use tensor cores"],
       method=TIMING_METHOD + " Model: MLP 1024 -> w -> w -> 10, w = 1023 vs 1024, in the drawn half "
       "precision (parameters and data), on CUDA; hypothesis draws the dtype and the batch (1024 or 4096).")
@given(dtype=st.sampled_from(["float16", "bfloat16"]), batch=st.sampled_from([1024, 4096]))
def test_bs2_unaligned_width_is_not_slower_on_gpu(experiment, dtype, batch):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: width 1023 vs 1024 in fp16/bf16 is about GPU tensor-core alignment "
                    "(multiples of 8); CPU half-precision GEMMs say nothing about it")
    verdict = experiment.compare(partial(throughput_gap, batch_a=batch, batch_b=batch, width_a=1023, width_b=1024,
                                         n_in=1024, dtype=dtype, samples_per_block=4 * batch,
                                         device=str(experiment.device)),
                                 Reference(0.0, GAP), metric=GAP, expect=Equivalent(margin=0.10),
                                 config={"dtype": dtype, "batch": batch}, labels=("w=1023/w=1024", "0 (equal)"))
    assert verdict


@claim(id="BS-3", timing=True,
       statement="Training throughput (samples/s) increases with batch size (8, 32, 128, 512)",
       method="MLP 64-64-10 on sklearn digits, Adam; per seed a fresh model, 3 warm-up steps, then >= 2,048 "
              "samples timed (time.perf_counter, CUDA synchronised); per-seed slope over the levels, one-sided t",
       **BS3)
def test_bs3_throughput_increases_with_batch_size(experiment):
    device = str(experiment.device)
    verdict = experiment.trend({b: partial(samples_per_second, batch=b, device=device) for b in (8, 32, 128, 512)},
                               metric="samples_per_s", expect=Increasing(), unit="")
    assert verdict


@claim("BS-3", "Peak GPU memory of a training step grows linearly with batch size: a line fitted at batches "
       "1k-8k predicts the peak at 16k within 10%, so the largest batch that fits can be chosen from memory",
       method="MLP 1024 -> w -> w -> 10 (w = 4096: about 21M parameters), Adam, one warm-up step then one "
              "measured step per batch (torch.cuda.max_memory_allocated after reset_peak_memory_stats); per "
              "seed a least-squares line over batches 1024, 2048, 4096, 8192 predicts batch 16384; "
              "observed - predicted in log units (a relative error), TOST within ±0.10", **BS3)
def test_bs3_peak_memory_grows_linearly_with_batch(experiment):
    if experiment.device.type != "cuda":
        pytest.skip("needs CUDA: peak memory is read with torch.cuda.max_memory_allocated; on CPU the "
                    "allocator keeps no peak statistics")
    verdict = experiment.predicts(
        partial(peak_memory, batches=(1024, 2048, 4096, 8192), held_out=16384, width=4096,
                device=str(experiment.device)),
        observed="log_peak_mib", predicted="log_linear_prediction", expect=Predicts(tol=0.10), unit="",
        seeds=min(experiment.budget.seeds, 6))
    assert verdict
