"""minecs's own images: their build contexts ship inside the package, and minecs builds them on demand.

``contexts/`` holds one directory per image (package data); ``catalog`` lists and reads them, ``recipe``
decides how a context becomes an image and whether the cached one is current (pure), ``supply`` gets
the image a container needs into the local cache (building minecs's own, pulling the rest) for the
control plane, each agent and ``minecs setup``.
"""

from orchestrator.images.catalog import SYSTEM, Catalog
from orchestrator.images.supply import BUSYBOX_FIX, Built, DriverImages, ImageSource, ImageSupply, Status

__all__ = ["BUSYBOX_FIX", "SYSTEM", "Built", "Catalog", "DriverImages", "ImageSource", "ImageSupply", "Status"]
