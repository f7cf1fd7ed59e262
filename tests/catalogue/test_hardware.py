"""HW-1's measurements: STREAM-like bandwidth is positive and counted as STREAM counts it, the
channel facts say what each source gave, and dmidecode's output is read as documented."""

from __future__ import annotations

import torch

from fixtures.arms.hardware import loader_batch, stream_array_mib, stream_bandwidth
from fixtures.backend_facts import channel_summary, dimm_facts, memory_channel_facts

DMIDECODE = """Handle 0x0040, DMI type 17, 40 bytes
Memory Device
\tSize: 16 GB
\tLocator: DIMM_A2
\tBank Locator: CHANNEL A
Memory Device
\tSize: No Module Installed
\tLocator: DIMM_A1
\tBank Locator: CHANNEL A
Memory Device
\tSize: 16 GB
\tLocator: DIMM_B2
\tBank Locator: CHANNEL B
"""


def test_stream_bandwidth_reports_copy_and_triad():
    out = stream_bandwidth(mib=8, min_run_time=0.01)
    assert out["copy_GBps"] > 0 and out["triad_GBps"] > 0 and out["array_MiB"] == 8
    assert 256 <= stream_array_mib() <= 1024


def test_dimm_facts_count_populated_slots_and_channels():
    facts = dimm_facts(DMIDECODE)
    assert facts == {"dimm_slots": 3, "dimms_populated": 2, "bank_locators": 2, "locators": ["DIMM_A2", "DIMM_B2"]}
    assert "2 of 3 DIMM slots populated" in channel_summary({"dmidecode": facts})


def test_memory_channel_facts_name_every_source():
    found = memory_channel_facts()
    assert set(found) == {"dmidecode", "edac", "lsmem"}
    assert channel_summary(found)


def test_the_loader_pins_only_when_asked():
    rows = torch.randn(4, 8)
    assert not loader_batch(rows, False).is_pinned()
    assert torch.equal(loader_batch(rows, False), rows)
