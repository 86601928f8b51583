"""The hardware catalog: complete against huggingface_hub, consistent, and read from the Hub's own records."""

from __future__ import annotations

import math
import stat
from pathlib import Path

import pytest
from huggingface_hub import JobHardware, JobHardwareInfo

from trl_jobs_mcp.jobs.core import flavors
from trl_jobs_mcp.jobs.core.flavors import CATALOG, Flavor, all_flavors, from_hub_hardware, get_flavor, local_gpu_count
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobsError


# --- the catalog ---


def test_every_huggingface_hub_flavor_is_in_the_catalog() -> None:
    # Fails loudly when a huggingface_hub upgrade adds a flavor: add its row from the Jobs pricing page.
    missing = {hw.value for hw in JobHardware} - set(CATALOG)
    assert not missing, f"flavors huggingface_hub knows and the catalog lacks: {sorted(missing)}"


def test_the_catalog_names_no_flavor_huggingface_hub_does_not_know() -> None:
    assert set(CATALOG) <= {hw.value for hw in JobHardware}


def test_every_entry_is_consistent() -> None:
    for name, flavor in CATALOG.items():
        assert flavor.name == name
        assert flavor.cpu > 0 and flavor.ram_gb > 0 and flavor.price_per_hour > 0, name
        if flavor.is_gpu:
            assert flavor.gpu and flavor.vram_gb > 0, name
            assert flavor.gpu_count in (1, 2, 4, 8), name
            # The name says how many GPUs: "x4" -> 4, no suffix -> 1.
            suffix = name.rsplit("x", 1)[-1] if name[-2:-1] == "x" else "1"
            assert flavor.gpu_count == int(suffix), name
        else:
            assert flavor.gpu is None and flavor.gpu_count == 0 and flavor.vram_gb == 0, name


def test_a_multi_gpu_flavor_is_its_single_gpu_sibling_times_n() -> None:
    for single, multi, n in [("l40sx1", "l40sx4", 4), ("l40sx1", "l40sx8", 8), ("a10g-large", "a10g-largex2", 2),
                             ("a10g-large", "a10g-largex4", 4), ("a100-large", "a100x4", 4),
                             ("a100-large", "a100x8", 8), ("h200", "h200x8", 8), ("rtx-pro-6000", "rtx-pro-6000x4", 4),
                             ("l4x1", "l4x4", 4)]:
        one, many = CATALOG[single], CATALOG[multi]
        assert many.gpu == one.gpu
        assert many.vram_gb == pytest.approx(one.vram_gb * n)
        assert many.vram_per_gpu_gb == one.vram_gb


def test_known_values_from_the_pricing_page() -> None:
    assert (CATALOG["cpu-basic"].cpu, CATALOG["cpu-basic"].ram_gb, CATALOG["cpu-basic"].price_per_hour) == (2, 16, 0.01)
    assert (CATALOG["t4-small"].vram_gb, CATALOG["t4-small"].price_per_hour) == (16, 0.40)
    assert (CATALOG["a10g-large"].cpu, CATALOG["a10g-large"].ram_gb, CATALOG["a10g-large"].vram_gb) == (12, 46, 24)
    assert (CATALOG["a100-large"].vram_gb, CATALOG["a100-large"].price_per_hour) == (80, 2.50)
    assert (CATALOG["h200"].gpu, CATALOG["h200"].vram_gb) == ("H200", 141)
    assert (CATALOG["h200x8"].vram_gb, CATALOG["h200x8"].price_per_hour) == (1128, 40.00)


def test_all_flavors_lists_cpu_first_then_gpu_by_price() -> None:
    listed = all_flavors()
    assert [f.name for f in listed] == list(CATALOG)
    kinds = [f.is_gpu for f in listed]
    assert kinds == sorted(kinds), "a CPU flavor comes after a GPU one"
    for group in ([f for f in listed if not f.is_gpu], [f for f in listed if f.is_gpu]):
        prices = [f.price_per_hour for f in group]
        assert prices == sorted(prices)


def test_returned_flavors_are_copies() -> None:
    # A backend marks `runnable` on what it gets; that must not leak into the shared catalog.
    mine = get_flavor("t4-small")
    mine.runnable = False
    listed = all_flavors()
    listed[0].runnable = True
    assert CATALOG["t4-small"].runnable is None and CATALOG["cpu-basic"].runnable is None


def test_cost_is_price_times_time() -> None:
    assert get_flavor("a100-large").cost(1800) == pytest.approx(1.25)
    assert get_flavor("h200x8").cost(3 * 3600) == pytest.approx(120.0)


# --- get_flavor ---


def test_get_flavor_ignores_case_and_spaces_and_takes_the_enum() -> None:
    assert get_flavor("  A10G-Large ").name == "a10g-large"
    assert get_flavor(JobHardware.H200X2).vram_gb == 282


@pytest.mark.parametrize(("wrong", "expected"), [("a10g-larg", "a10g-large"), ("t4small", "t4-small"),
                                                 ("h200-x2", "h200x2"), ("cpu-basik", "cpu-basic")])
def test_an_unknown_flavor_names_the_closest(wrong: str, expected: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        get_flavor(wrong)
    assert info.value.field == "flavor"
    assert repr(wrong) in str(info.value)
    assert repr(expected) in str(info.value)
    assert "list_hardware" in str(info.value)


@pytest.mark.parametrize("wrong", ["", "zzzzzzzz", None, 3])
def test_nonsense_is_refused_with_the_way_to_list_flavors(wrong: object) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        get_flavor(wrong)  # type: ignore[arg-type]
    assert info.value.field == "flavor"
    assert "Did you mean" not in str(info.value)
    assert "list_hardware" in str(info.value)


# --- local_gpu_count: a real child process standing in for nvidia-smi ---


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put an `nvidia-smi` of our making alone on PATH; clear the cached detection before and after."""
    monkeypatch.delenv(flavors.LOCAL_GPUS_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    flavors._detected_gpu_count.cache_clear()

    def install(body: str) -> None:
        script = tmp_path / "nvidia-smi"
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    yield install
    flavors._detected_gpu_count.cache_clear()


def test_counts_the_gpus_nvidia_smi_lists(fake_smi) -> None:
    fake_smi('printf "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)\\n"')
    assert local_gpu_count() == 2


def test_the_answer_is_cached_for_the_process(fake_smi, tmp_path: Path) -> None:
    fake_smi('printf "GPU 0: NVIDIA L4 (UUID: GPU-1)\\n"')
    assert local_gpu_count() == 1
    (tmp_path / "nvidia-smi").unlink()
    assert local_gpu_count() == 1


def test_no_nvidia_smi_means_no_gpu(fake_smi) -> None:
    assert local_gpu_count() == 0


def test_a_failing_nvidia_smi_means_no_gpu(fake_smi) -> None:
    fake_smi('echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." ; exit 9')
    assert local_gpu_count() == 0


def test_a_hanging_nvidia_smi_means_no_gpu(fake_smi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flavors, "NVIDIA_SMI_TIMEOUT_S", 0.5)
    fake_smi("exec sleep 30")
    assert local_gpu_count() == 0


def test_the_env_override_wins(fake_smi, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_smi('printf "GPU 0: NVIDIA L4 (UUID: GPU-1)\\n"')
    monkeypatch.setenv(flavors.LOCAL_GPUS_ENV, "4")
    assert local_gpu_count() == 4
    monkeypatch.setenv(flavors.LOCAL_GPUS_ENV, "0")
    assert local_gpu_count() == 0


@pytest.mark.parametrize("bad", ["two", "-1", "1.5"])
def test_a_bad_env_override_is_an_error_that_says_what_to_set(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(flavors.LOCAL_GPUS_ENV, bad)
    with pytest.raises(JobsError, match=flavors.LOCAL_GPUS_ENV):
        local_gpu_count()


# --- from_hub_hardware: JobHardwareInfo built from the API's own JSON shape ---


def _api(name: str, pretty: str, cpu: str, ram: str, cost_micro: int, *, accelerator: dict | None = None,
         unit: str = "minute") -> JobHardwareInfo:
    payload = {"name": name, "prettyName": pretty, "cpu": cpu, "ram": ram, "ephemeralStorage": "50 GB",
               "accelerator": accelerator, "unitCostMicroUSD": cost_micro, "unitCostUSD": cost_micro / 1e6,
               "unitLabel": unit}
    return JobHardwareInfo(**payload)


def test_a_cpu_flavor_from_the_hub_matches_the_catalog() -> None:
    flavor = from_hub_hardware(_api("cpu-basic", "CPU Basic", "2 vCPU", "16 GB", 167))
    assert flavor == CATALOG["cpu-basic"]


def test_a_gpu_flavor_from_the_hub() -> None:
    acc = {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"}
    flavor = from_hub_hardware(_api("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB", 25000, accelerator=acc))
    assert flavor == CATALOG["a10g-large"]
    assert flavor.is_gpu


def test_a_multi_gpu_flavor_from_the_hub_keeps_the_total_vram() -> None:
    acc = {"type": "gpu", "model": "H200", "quantity": "8", "vram": "1128 GB", "manufacturer": "Nvidia"}
    flavor = from_hub_hardware(_api("h200x8", "8x Nvidia H200", "184 vCPU", "2048 GB", 666667, accelerator=acc))
    assert (flavor.gpu, flavor.gpu_count, flavor.vram_gb, flavor.vram_per_gpu_gb) == ("H200", 8, 1128, 141)
    assert flavor.price_per_hour == pytest.approx(40.0, abs=0.01)


@pytest.mark.parametrize(("cpu", "ram", "vram", "cpus", "ram_gb", "vram_gb"), [
    ("2 vCPU", "16GB", "24GB", 2, 16, 24),
    ("8vCPU", "1.5 TB", "48 GiB", 8, 1500, 48 * 1024**3 / 1e9),
    ("4", "15", "16", 4, 15, 16),
    (" 12 vCPU ", "512 MB", "24 gb", 12, 0.512, 24),
])
def test_sizes_are_read_in_the_forms_they_come_in(cpu, ram, vram, cpus, ram_gb, vram_gb) -> None:
    acc = {"type": "gpu", "model": "L4", "quantity": "1", "vram": vram, "manufacturer": "Nvidia"}
    flavor = from_hub_hardware(_api("l4x1", "1x Nvidia L4", cpu, ram, 13333, accelerator=acc))
    assert (flavor.cpu, flavor.ram_gb, flavor.vram_gb) == (cpus, pytest.approx(ram_gb), pytest.approx(vram_gb))


def test_a_price_per_hour_is_taken_as_it_is() -> None:
    flavor = from_hub_hardware(_api("cpu-upgrade", "CPU Upgrade", "8 vCPU", "32 GB", 30000, unit="hour"))
    assert flavor.price_per_hour == pytest.approx(0.03)


def test_a_flavor_the_catalog_does_not_know_is_still_read() -> None:
    # The Hub can add hardware before huggingface_hub (and this catalog) learn of it: live data must still load.
    acc = {"type": "gpu", "model": "B200", "quantity": "2", "vram": "360 GB", "manufacturer": "Nvidia"}
    flavor = from_hub_hardware(_api("b200x2", "2x Nvidia B200", "60 vCPU", "1000 GB", 200000, accelerator=acc))
    assert flavor.name not in CATALOG
    assert (flavor.gpu_count, flavor.vram_gb, flavor.price_per_hour) == (2, 360, 12.0)
    assert isinstance(flavor, Flavor) and math.isfinite(flavor.cost(60))


@pytest.mark.parametrize(("field", "kwargs"), [("ram", {"ram": "lots"}), ("cpu", {"cpu": "many"}),
                                               ("unit", {"unit": "fortnight"})])
def test_unreadable_hub_records_name_the_flavor_and_field(field: str, kwargs: dict) -> None:
    args = {"cpu": "2 vCPU", "ram": "16 GB", **kwargs}
    with pytest.raises(ValueError, match=rf"'odd-one'.*{field}"):
        from_hub_hardware(_api("odd-one", "Odd", args["cpu"], args["ram"], 167, unit=kwargs.get("unit", "minute")))


def test_billing_is_per_started_minute() -> None:
    from trl_jobs_mcp.jobs.core.flavors import billed_cost

    assert billed_cost(6.0, 60) == pytest.approx(0.10)  # one minute of a 6 $/h flavor
    assert billed_cost(6.0, 61) == pytest.approx(0.20)  # a started minute is billed in full
    assert billed_cost(6.0, 1) == pytest.approx(0.10)
    assert billed_cost(6.0, 1800.0000001) == pytest.approx(3.0)  # float noise is not a 31st minute
    assert billed_cost(6.0, 0) == 0 and billed_cost(0, 3600) == 0
    assert get_flavor("a10g-large").cost(90) == billed_cost(1.5, 120)
