"""Contract checks run over every assay component: sources, steps and models.

>>> from assay.testing import check_source
"""

from __future__ import annotations

from assay.testing._models import check_model
from assay.testing._sources import check_source
from assay.testing._steps import check_step

__all__ = ["check_model", "check_source", "check_step"]
