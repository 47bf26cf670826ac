"""What a killed attempt at a campaign run leaves to go on from: Ultralytics' results.csv counts each
attempt's seconds from that attempt's start, so the minutes a resumed run reports add the attempts."""

from __future__ import annotations

from pathlib import Path

from fingercount.training.campaign import trained_epochs


def test_the_epochs_and_seconds_of_every_attempt_are_added(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    assert trained_epochs(csv) == (0, 0.0)  # killed before its first epoch: nothing to go on from
    csv.write_text("epoch,time,metrics/mAP50(B)\n")
    assert trained_epochs(csv) == (0, 0.0)
    # Three epochs, killed; resumed from the fourth (its clock from 0 again), killed after the fifth.
    csv.write_text("epoch,time,metrics/mAP50(B)\n1,70,0.1\n2,140,0.2\n3,215,0.3\n4,80,0.35\n5,150,0.4\n")
    assert trained_epochs(csv) == (5, 365.0)
