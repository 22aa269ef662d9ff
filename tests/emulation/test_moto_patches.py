"""The emulation's patches of moto internals load only on the moto they were written for."""

from __future__ import annotations

import importlib
import importlib.metadata

import pytest


def test_it_refuses_to_patch_a_moto_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulation import moto_patches

    monkeypatch.setattr(importlib.metadata, "version", lambda _name: "9.9.9")
    with pytest.raises(ImportError, match=f"written for moto {moto_patches.MOTO_VERSION}, but moto 9.9.9"):
        importlib.reload(moto_patches)
    monkeypatch.undo()
    importlib.reload(moto_patches)
