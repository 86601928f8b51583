"""The hardware catalog: every Hugging Face Jobs flavor with its CPU, memory, GPU and hourly price.

STUB: the catalog itself is being filled in. The Flavor model and the function names are fixed.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Flavor(BaseModel):
    name: str = Field(description="the Jobs flavor id, e.g. 'a10g-large'")
    pretty_name: str
    cpu: int = Field(description="vCPUs")
    ram_gb: float
    gpu: str | None = Field(default=None, description="GPU model, e.g. 'A100'; None for CPU flavors")
    gpu_count: int = 0
    vram_gb: float = Field(default=0, description="GPU memory in total, over all GPUs")
    price_per_hour: float = Field(description="USD")
    runnable: bool | None = Field(default=None, description="whether the current backend can run it; None if unknown")

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    def cost(self, seconds: float) -> float:
        return self.price_per_hour * seconds / 3600


CATALOG: dict[str, Flavor] = {}


def get_flavor(name: str) -> Flavor:
    """The flavor of that name. Raises InvalidJobSpec(field="flavor") naming the closest names when unknown."""
    raise NotImplementedError
