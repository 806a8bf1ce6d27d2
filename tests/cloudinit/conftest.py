from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent

# The config.yaml of the seed document, exactly as written there (trailing spaces included).
SEED_CONFIG = (HERE / "seed_config.yaml").read_text()


@pytest.fixture
def seed_config() -> str:
    return SEED_CONFIG
